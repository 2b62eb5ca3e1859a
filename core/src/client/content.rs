//! Content decoding on the per-request path: which requests offer `Accept-Encoding`, and which responses get a
//! decoder. The decoding itself is [`crate::body`]; it sits above the HTTP/1.1 codec, after de-chunking.

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderValue, Method};

use super::options::Options;
use crate::body::{codings, ContentDecoder, DecodeLimits};
use crate::error::{DecodeProblem, ErrorKind};
use crate::request::Request;
use crate::response::ResponseHead;

/// `true` when the client decodes this request's response.
fn decodes(req: &Request, options: &Options) -> bool {
    options.accept_encoding && !req.options().raw_body
}

/// Offer every coding this client decodes, unless the caller chose its own `Accept-Encoding`.
pub(super) fn offer(req: &mut Request, options: &Options) {
    if decodes(req, options) && !req.headers().contains_key(ACCEPT_ENCODING) {
        req.headers_mut().insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static(crate::body::ACCEPT_ENCODING),
        );
    }
}

/// Event streams ask for no coding at all (each event must arrive as soon as it is sent); one that is encoded
/// anyway is still decoded.
pub(super) fn offer_identity(req: &mut Request) {
    if !req.headers().contains_key(ACCEPT_ENCODING) {
        req.headers_mut()
            .insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
}

/// The limits of one decoded body.
pub(super) fn limits(options: &Options) -> DecodeLimits {
    DecodeLimits {
        max_decoded_size: options.max_decoded_size,
        max_ratio: options.max_decompression_ratio,
    }
}

/// A decoder for a response to `req` whose body is content-coded, or `None`. A decoded response loses its
/// `Content-Encoding` and `Content-Length` (they describe the bytes on the wire, not what the owner gets).
/// HEAD, 204 and 304 answers have no body, so a coding on them means nothing and is left alone.
pub(super) fn decoder_for(
    method: &Method,
    decode: bool,
    options: &Options,
    head: &mut ResponseHead,
) -> Result<Option<Box<ContentDecoder>>, ErrorKind> {
    let status = head.status.as_u16();
    if !decode || *method == Method::HEAD || matches!(status, 204 | 304) || status < 200 {
        return Ok(None);
    }
    let list = codings(&head.headers).map_err(|coding| ErrorKind::ContentDecoding {
        coding,
        problem: DecodeProblem::Unknown,
    })?;
    if list.is_empty() {
        return Ok(None);
    }
    let d = ContentDecoder::new(&list, limits(options)).map_err(ErrorKind::from)?;
    head.headers.remove(CONTENT_ENCODING);
    head.headers.remove(CONTENT_LENGTH);
    Ok(Some(Box::new(d)))
}

/// `true` when the client decodes this request's response (for streams and flows alike).
pub(super) fn wants_decoding(req: &Request, options: &Options) -> bool {
    decodes(req, options)
}
