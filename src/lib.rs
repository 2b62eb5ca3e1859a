//! # plue-http
//!
//! An HTTP/1.1 + Server-Sent-Events client for OpenCode servers, built as a sans-IO core
//! ([`core`], the crate `plue-http-core`), one async driver over a `Runtime` seam ([`driver`],
//! `plue-http-driver`), the OpenCode layer ([`opencode`], `plue-opencode`) and thin runtime adapters chosen by
//! additive features:
//!
//! | feature | module | runtime | API |
//! |---|---|---|---|
//! | `tokio` (**default**) | `plue_http::tokio` | tokio (the current runtime, or a small shared one) | async |
//! | `smol` | `plue_http::smol` | smol / async-io (global executor) | async |
//! | `mio` | `plue_http::mio` | a mio event loop on its own thread | blocking |
//!
//! Every module offers the same `Client` shape: `Client::new(Options)`, `request`, `get`/`post`/`put`/
//! `patch`/`delete`/`head`, `send(RequestBuilder)`, `request_json`, `json`, `batch` (pipelined),
//! `request_streaming` (a body reader with backpressure), `events` (server-sent events that reconnect by
//! themselves: an async `Stream` on tokio and smol, an iterator with `next_timeout` on mio), `stream_sse`
//! (callback form), and abort handles on every request and stream. Every protocol decision is made by the
//! same core state machine, so the behaviour is the same whichever runtime you pick.
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn demo() -> Result<(), plue_http::Error> {
//! let client = plue_http::tokio::Client::new(plue_http::Options {
//!     base_url: Some("http://127.0.0.1:4096".into()),
//!     ..Default::default()
//! })?;
//! let health = client.get("/global/health").await?;
//! println!("{} {}", health.status(), health.text());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use plue_http_core as core;
pub use plue_http_core::client::{MemoryPressure, Options};
pub use plue_http_core::sse::{SseEvent, StreamEvent};
pub use plue_http_core::{
    ApiError, Body, Error, ErrorKind, Method, Request, RequestBuilder, Response, StatusCode, Url,
};
pub use plue_http_driver as driver;
pub use plue_opencode as opencode;

/// The tokio runtime adapter (async).
#[cfg(feature = "tokio")]
pub use plue_http_tokio as tokio;

/// The smol runtime adapter (async).
#[cfg(feature = "smol")]
pub use plue_http_smol as smol;

/// The mio runtime adapter (blocking API).
#[cfg(feature = "mio")]
pub use plue_http_mio as mio;
