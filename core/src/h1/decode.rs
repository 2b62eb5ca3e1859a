//! One response.

use bytes::{Bytes, BytesMut};
use http::Method;

use super::Limits;
use crate::error::ErrorKind;
use crate::response::ResponseHead;

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The final response head (interim 1xx heads are skipped).
    Head(ResponseHead),
    /// Body bytes, delivered as soon as they are decoded.
    Body(Bytes),
    /// The response ended; `keep_alive` says whether the connection may carry another request.
    End {
        /// The connection may be reused.
        keep_alive: bool,
    },
}

/// Decodes one response.
#[derive(Debug)]
pub struct ResponseDecoder {
    head_request: bool,
    limits: Limits,
}

impl ResponseDecoder {
    /// A decoder for the response to a `method` request.
    pub fn new(method: &Method, limits: &Limits) -> Self {
        ResponseDecoder {
            head_request: *method == Method::HEAD,
            limits: *limits,
        }
    }

    /// Decode from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ErrorKind> {
        let _ = (buf, self.head_request, self.limits);
        Ok(None)
    }

    /// Decode at end of stream.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ErrorKind> {
        self.decode(buf)
    }
}
