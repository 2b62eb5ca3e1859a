//! # plue-http-driver
//!
//! The one async driver of plue-http, generic over a [`Runtime`].
//!
//! A driver task owns the [`ClientMachine`](plue_http_core::client::ClientMachine): it feeds it [`Input`](plue_http_core::client::Input)s,
//! drains [`Output`](plue_http_core::client::Output)s until `Wait`, performs them through the runtime (connect, read, write,
//! sleep) and routes each [`Event`](plue_http_core::client::Event) to the handle that owns the request. It makes no HTTP
//! decision of its own and does no I/O itself: every socket, timer and task comes from the [`Runtime`].
//!
//! ```text
//!  Client handles ──Msg──▶ driver task (owns ClientMachine) ──Event──▶ per-request channels
//!                              ▲           │ Transmit / Read / Close
//!        Data/Written/Eof/Failed│           ▼
//!                        per-connection reader + writer tasks (Runtime::connect)
//! ```
//!
//! The runtime crates (`plue-http-tokio`, `plue-http-smol`) implement [`Runtime`] in a couple of hundred lines
//! and re-export [`Client`] with their runtime filled in. A driver that owns the machine itself (the mio event
//! loop) uses the same handles through [`Front::new`] and serves the [`Router`] it returns.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
mod chan;
mod client;
mod conn;
mod handles;
mod json_elements;
mod os;
pub mod proxy;
mod router;
mod runtime;
mod task;
pub mod tls;
mod turns;

pub use block::block_on_timeout;
pub use client::{Client, Front};
pub use conn::{connect_error, net_error, resolve_blocking};
pub use handles::{
    AbortHandle, BodyReader, EventStream, RequestFuture, RequestOutcome, ResponseFuture,
    StreamingFuture, StreamingResponse,
};
pub use json_elements::JsonStreamLimits;
pub use os::apply_os_event;
pub use router::{Applied, IdBuildHasher, IdHasher, Router, Wake};
pub use runtime::{os_entropy, ChildProcess, ConnRead, ConnWrite, Runtime};
pub use turns::{SharedLoop, Turns};
