//! # plue-http-core
//!
//! The sans-IO protocol core of plue-http: every HTTP/1.1 and Server-Sent-Events decision, and none of the I/O.
//!
//! The core never touches the world: no sockets, clocks, sleeps, threads, files or global randomness. Time is
//! an argument ([`time::Instant`]), randomness comes from a seeded [`rng::Rng`], and a driver moves bytes in and
//! out. That is what lets one deterministic test suite drive the same machine through a simulated network and
//! through the tokio, smol and mio runtimes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod abort;
pub mod client;
#[cfg(feature = "async")]
pub mod driver;
pub mod error;
pub mod h1;
pub mod opencode;
pub mod pool;
pub mod request;
pub mod response;
pub mod retry;
pub mod rng;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sse;
pub mod time;
pub mod url;

pub use bytes::Bytes;
pub use error::{ApiError, Error, ErrorKind, Limit, NetError, Phase, Violation};
pub use http::{HeaderMap, Method, StatusCode};
pub use request::{Body, Request, RequestBuilder};
pub use response::{Response, ResponseHead};
pub use url::Url;
