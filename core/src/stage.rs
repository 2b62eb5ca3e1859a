//! The stage seam: one shape for every layer of a connection's byte stack.
//!
//! ```text
//!  socket (driver)        core: one connection
//!  TCP bytes ⇄ [proxy handshake: CONNECT | SOCKS5] ⇄ [TLS] ⇄ [h1 codec | h2 connection] ⇄ requests
//!            lower side ─────────────── a Stage ─────────────── upper side
//! ```
//!
//! A stage sits between a **lower side** (toward the socket) and an **upper side** (toward HTTP). It is sans-IO
//! like everything in the core: bytes from below are fed in with [`Stage::handle_input`], bytes from above with
//! [`Stage::write`]; the owner drains [`Stage::poll_transmit`] (bytes for the layer below),
//! [`Stage::poll_read`] (bytes for the layer above) and [`Stage::poll_event`] until each is empty, and wakes
//! the stage at [`Stage::poll_timeout`]. Time is an argument, as everywhere in the core.
//!
//! A connection with no stage (plain `http://`, no proxy) has no stack at all: the codec talks to the socket
//! directly, so an unused stage costs nothing.
//!
//! ## How the connection drives a stack
//!
//! The client machine's connection (`client::conn`) holds its stages lowest first (`[proxy?, tls?]`). After
//! TCP connects it drains every stage's `poll_transmit` (a TLS ClientHello, a CONNECT request) down to the
//! socket; a stage buffers what comes from above until it is itself established (a TLS hello written into a
//! CONNECT stage waits for the proxy's `200`). The connection counts as open for HTTP, and the first request
//! byte goes into the top stage, only once **every** stage reported [`StageEvent::Established`]; until then the
//! connect deadline (`connect_timeout`) covers the whole stack. An error from any stage is fatal for the
//! connection: during the handshake it fails the request (TLS errors are not retried: a certificate does not
//! get better by asking again), after it the connection is lost and each request on it follows the replay rules.
//!
//! Write progress is counted in socket bytes: a request's start offset is the number of socket bytes queued
//! before its first ciphertext, so "any byte written" stays exact with a stage in between.
//!
//! End of stream: the lowest stage gets [`Stage::handle_eof`]; each stage's [`StageEvent::Eof`] is passed to the
//! stage above as `handle_eof`, and the top stage's `clean` flag decides whether a body delimited by the close
//! is complete (`clean`) or truncated (a typed TLS truncation error).

use bytes::BytesMut;

use crate::error::ErrorKind;
use crate::time::Instant;

/// What a stage reports to the connection above it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageEvent {
    /// The stage's handshake completed; bytes written from above flow from now on. `alpn` is the application
    /// protocol the peer chose, when the stage negotiates one (TLS).
    Established {
        /// The negotiated ALPN protocol id (`b"h2"`, `b"http/1.1"`), if any.
        alpn: Option<Vec<u8>>,
    },
    /// The lower side ended. `clean` tells whether the stage saw an orderly end first (TLS `close_notify`);
    /// a body framed by end-of-stream is only complete after a clean end.
    Eof {
        /// The peer ended the stage's own protocol properly before the transport closed.
        clean: bool,
    },
}

/// One sans-IO layer of a connection (see the module docs for the drain rule).
pub trait Stage: core::fmt::Debug + Send {
    /// Bytes arrived from below. An error is fatal for the connection.
    fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), ErrorKind>;

    /// The lower side reached end-of-stream; the stage reports [`StageEvent::Eof`].
    fn handle_eof(&mut self, now: Instant) -> Result<(), ErrorKind>;

    /// Bytes from above to send down. Before [`StageEvent::Established`] they are buffered.
    fn write(&mut self, data: &[u8]) -> Result<(), ErrorKind>;

    /// Append the bytes to send down to `out`; returns how many were appended (0: nothing to send).
    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize;

    /// Append the bytes for the layer above to `out`; returns how many were appended (0: nothing yet).
    fn poll_read(&mut self, out: &mut BytesMut) -> usize;

    /// The next event, or `None`.
    fn poll_event(&mut self) -> Option<StageEvent>;

    /// When the stage must be woken with [`Stage::handle_timeout`] (e.g. a handshake step's deadline).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The deadline from [`Stage::poll_timeout`] passed. An error is fatal for the connection.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), ErrorKind> {
        let _ = now;
        Ok(())
    }
}
