//! HTTP/1.1 wire format (RFC 9112): request encoder, response decoder, chunked coding, pipelined connection codec.

mod conn;
mod decode;
mod encode;
mod limits;

pub use conn::{ConnEvent, H1Connection};
pub use decode::{Decoded, ResponseDecoder};
pub use encode::{encode_chunk, encode_last_chunk, encode_request};
pub use limits::Limits;
