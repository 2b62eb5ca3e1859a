//! Response bodies above the HTTP/1.1 codec, per request: content decoding (`gzip`, `deflate`, `br`, `zstd`,
//! stacked), bounded in size and ratio; and streaming JSON ([`JsonArraySplitter`]).
//!
//! # Why these crates
//!
//! Measured on this project's 2-core machine, decoding the real OpenCode `GET /provider` body (6,528,311 bytes
//! of JSON; 385,747 bytes gzip as the server sends it, 272,978 br at quality 5, 386,008 zstd at level 3), best
//! of 5, release build (`/tmp` throwaway harness; numbers in MB/s of decoded output):
//!
//! | coding | crate | MB/s | build |
//! |---|---|---|---|
//! | gzip / deflate | flate2 + miniz_oxide (pure Rust, flate2's default) | 745 | small, no C |
//! | gzip / deflate | flate2 + zlib-rs | 645 | one more large crate |
//! | br | brotli-decompressor (decoder only, pure Rust) | 392 | the `brotli` crate adds an encoder we do not need |
//! | zstd | zstd (libzstd, C) | 1,699 | compiles C once (cc) |
//! | zstd | ruzstd (pure Rust) | 203 | small |
//!
//! So: flate2 with its default miniz_oxide backend (the fastest here and pure Rust), brotli-decompressor, and the
//! `zstd` crate, whose C decoder is 8× faster than ruzstd and has a push API (`ZSTD_decompressStream`) that
//! fits a sans-IO stage exactly; its window is capped at 8 MiB (RFC 9659). Every decoder here is push-based:
//! bytes in, bytes out, no reader, no socket, no clock.
//!
//! # Bounds
//!
//! Output comes in pieces of at most [`PIECE`] bytes and both limits are checked after every piece, at every
//! stage of a stack: `max_decoded_size` (default 64 MiB, the body limit) and `max_decompression_ratio` (default
//! 100, applied once [`RATIO_GRACE`] is decoded). A gzip bomb therefore stops within one piece of a limit,
//! whatever it claims to expand to.

mod coding;
mod decoder;
mod json_stream;
mod stage;

#[cfg(test)]
mod json_stream_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use coding::{codings, Coding, ACCEPT_ENCODING, MAX_STACKED};
pub use decoder::{ContentDecoder, DecodeError, DecodeLimits, PIECE, RATIO_GRACE};
pub use json_stream::{JsonArraySplitter, JsonStreamError};
