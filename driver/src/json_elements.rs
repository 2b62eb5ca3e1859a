//! Streaming JSON over a [`BodyReader`]: the elements of the array at a JSON pointer are decoded one by one as
//! the (already content-decoded) body arrives, so a 6.5 MB provider list never sits in memory whole; the rest of
//! the document decodes normally at the end.

use serde::de::DeserializeOwned;

use crate::handles::BodyReader;
use plue_http_core::body::{JsonArraySplitter, JsonStreamError};
use plue_http_core::error::{Error, ErrorKind, JsonOp, Limit};
use plue_http_core::response::decode_json;

/// Bounds of one streamed JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStreamLimits {
    /// Largest single element.
    pub max_element: usize,
    /// Largest document outside the array.
    pub max_rest: usize,
}

impl Default for JsonStreamLimits {
    /// 64 MiB each: the body limit.
    fn default() -> Self {
        JsonStreamLimits {
            max_element: 64 << 20,
            max_rest: 64 << 20,
        }
    }
}

fn stream_error(e: JsonStreamError) -> Error {
    let kind = match e {
        JsonStreamError::ElementTooLarge { max } | JsonStreamError::RestTooLarge { max } => {
            ErrorKind::TooLarge {
                limit: Limit::BodySize,
                max: max as u64,
            }
        }
        other => ErrorKind::Json {
            op: JsonOp::Decode,
            message: other.to_string(),
            excerpt: String::new(),
        },
    };
    Error::new(kind)
}

impl BodyReader {
    /// Decode the array at `pointer` (`""` for a root array, `"/all"` for `GET /provider`) element by element,
    /// handing each to `each` as soon as its last byte arrives, then decode the rest of the document (with that
    /// array empty) as `R`. Backpressure holds: the next bytes are read only as elements are taken.
    pub async fn json_elements<T, R, F>(
        &mut self,
        pointer: &str,
        limits: JsonStreamLimits,
        mut each: F,
    ) -> Result<R, Error>
    where
        T: DeserializeOwned,
        R: DeserializeOwned,
        F: FnMut(T),
    {
        let mut splitter = JsonArraySplitter::new(pointer, limits.max_element, limits.max_rest);
        let mut elements = Vec::new();
        while let Some(piece) = self.chunk().await? {
            if let Err(e) = splitter.feed(&piece, &mut elements) {
                // A corrupt coded body yields garbage before its check fails (gzip's CRC comes last): when the
                // body itself failed, that is the cause to report, not the JSON it could not be.
                return Err(self.chunk().await.err().unwrap_or_else(|| stream_error(e)));
            }
            for e in elements.drain(..) {
                each(decode_json::<T>(&e).map_err(Error::new)?);
            }
        }
        let rest = splitter.finish().map_err(stream_error)?;
        decode_json::<R>(&rest).map_err(Error::new)
    }
}
