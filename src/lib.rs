//! # plue-http
//!
//! An HTTP/1.1 + Server-Sent-Events client for OpenCode servers, built as a sans-IO core
//! ([`core`], the crate `plue-http-core`) with thin runtime adapters chosen by additive features:
//!
//! | feature | module | runtime |
//! |---|---|---|
//! | `tokio` (default) | [`tokio`](crate) | tokio |
//! | `smol` | `smol` | smol / async-io |
//! | `mio` | `mio` | a blocking client driven by a mio event loop on its own thread |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use plue_http_core as core;
pub use plue_http_core::{
    ApiError, Body, Error, ErrorKind, Method, Request, RequestBuilder, Response, StatusCode, Url,
};

/// The tokio runtime adapter.
#[cfg(feature = "tokio")]
pub use plue_http_tokio as tokio;

/// The smol runtime adapter.
#[cfg(feature = "smol")]
pub use plue_http_smol as smol;

/// The mio runtime adapter (blocking API).
#[cfg(feature = "mio")]
pub use plue_http_mio as mio;
