//! Request encoder.

use bytes::BytesMut;

use crate::request::Request;

/// Encode `req` (head and whole body) onto the end of `out`.
pub fn encode_request(req: &Request, user_agent: &str, out: &mut BytesMut) {
    let _ = (req, user_agent, out);
}

/// Encode one chunk of a chunked request body. An empty `data` writes nothing.
pub fn encode_chunk(data: &[u8], out: &mut BytesMut) {
    let _ = (data, out);
}

/// Encode the last chunk (`0\r\n\r\n`) that ends a chunked request body.
pub fn encode_last_chunk(out: &mut BytesMut) {
    out.extend_from_slice(b"0\r\n\r\n");
}
