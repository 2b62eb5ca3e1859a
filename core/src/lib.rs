//! # plue-http-core
//!
//! The sans-IO protocol core of plue-http: every HTTP/1.1 and Server-Sent-Events decision, and none of the I/O.
//!
//! The core never touches the world: no sockets, clocks, sleeps, threads, files or global randomness. Time is
//! an argument ([`time::Instant`]), randomness comes from a seeded [`rng::Rng`], and a driver moves bytes in and
//! out. That is what lets one deterministic test suite drive the same machine through a simulated network and
//! through the tokio, smol and mio runtimes.
//!
//! ## In scope
//!
//! - HTTP/1.1 over plain TCP ([`h1`]): request encoding, strict response framing (RFC 9112 §6), chunked coding,
//!   keep-alive, pipelining for batches, bounded buffering with a typed error for every limit.
//! - The client machine ([`client::ClientMachine`]): pool ([`pool`]), per-phase timeouts, safe retries with
//!   backoff and jitter ([`retry`]), redirects, graceful degradation while a host is down, backpressure, abort.
//! - Server-Sent Events ([`sse`]): the WHATWG decoder and a reconnecting stream with Last-Event-ID.
//!
//! The layers above live in their own crates: `plue-http-driver` (the one async driver over a `Runtime`),
//! `plue-opencode` (OpenCode's typed API, health and server manager), `plue-http-sim` (the deterministic
//! simulation), and the runtime adapters `plue-http-tokio`, `plue-http-smol`, `plue-http-mio`.
//!
//! ## Out of scope (for now)
//!
//! HTTP/2, proxies, compression, cookies, streamed request bodies. (TLS is in: [`tls`], a [`stage::Stage`].)
//!
//! ## Lifecycle
//!
//! Commands and inputs in, outputs drained until [`client::Output::Wait`]: the single-mutation rule.
//!
//! ```
//! use plue_http_core::client::{ClientMachine, ConnId, Event, Input, Options, Output};
//! use plue_http_core::{time::Instant, Request};
//!
//! let mut client = ClientMachine::new(Options::default(), 7).unwrap();
//! let now = Instant::ZERO;
//! let id = client.request(now, Request::get("http://127.0.0.1:4096/global/health").unwrap());
//!
//! // Drain: the machine asks for a connection (the address is an IP literal, so no DNS).
//! let mut conn = None;
//! while let Some(out) = next(&mut client, now) {
//!     if let Output::Connect { conn: c, addr } = out {
//!         assert_eq!(addr.to_string(), "127.0.0.1:4096");
//!         conn = Some(c);
//!     }
//! }
//! let conn: ConnId = conn.unwrap();
//!
//! // The driver connected: the machine hands over the request bytes.
//! client.handle_input(now, Input::Connected(conn));
//! let mut sent = Vec::new();
//! while let Some(out) = next(&mut client, now) {
//!     if let Output::Transmit { data, .. } = out {
//!         sent.extend_from_slice(&data);
//!     }
//! }
//! assert!(sent.starts_with(b"GET /global/health HTTP/1.1\r\n"));
//! client.handle_input(now, Input::Written(conn, sent.len()));
//!
//! // The server answers; the machine reports head, body and completion.
//! let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"healthy\":true}";
//! client.handle_input(now, Input::Data(conn, reply));
//! let mut events = Vec::new();
//! while let Some(out) = next(&mut client, now) {
//!     if let Output::Event(ev) = out {
//!         events.push(ev);
//!     }
//! }
//! assert!(matches!(&events[0], Event::Head { id: i, head } if *i == id && head.status == 200));
//! assert!(matches!(&events[1], Event::Body { data, .. } if &data[..] == b"{\"healthy\":true}"));
//! assert_eq!(events[2], Event::Done { id });
//! // The connection went back to the pool, idle and still readable.
//! assert_eq!(client.open_connections(), 1);
//!
//! /// One output, or `None` once the machine says `Wait`.
//! fn next(client: &mut ClientMachine, now: Instant) -> Option<Output> {
//!     match client.poll_output(now) {
//!         Output::Wait(_) => None,
//!         out => Some(out),
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod abort;
pub mod client;
pub mod error;
pub mod h1;
pub mod pool;
pub mod request;
pub mod response;
pub mod retry;
pub mod rng;
pub mod sse;
pub mod stage;
pub mod time;
pub mod tls;
pub mod url;

pub use bytes::Bytes;
pub use error::{ApiError, Error, ErrorKind, Limit, NetError, Phase, TlsReason, Violation};
pub use http::{HeaderMap, Method, StatusCode};
pub use request::{Body, Request, RequestBuilder};
pub use response::{Response, ResponseHead};
pub use url::Url;
