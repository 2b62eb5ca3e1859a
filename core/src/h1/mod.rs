//! HTTP/1.1 wire format (RFC 9112): request encoder, response decoder, chunked coding, pipelined connection codec.
