//! The part every proxy handshake stage shares: buffers, the handshake deadline, and pass-through once the
//! tunnel is up.
//!
//! Before the tunnel is established, bytes written from above are held back (the request must not reach the
//! proxy as if it were part of the handshake); once established they flow down unchanged, and every byte from
//! below — including any that arrived in the same read as the end of the handshake — goes up unchanged.

use std::collections::VecDeque;

use bytes::BytesMut;

use crate::error::ErrorKind;
use crate::proxy::error::ProxyError;
use crate::stage::StageEvent;
use crate::time::Instant;

/// Shared state of a proxy handshake stage. `Debug` shows byte counts only: the handshake bytes waiting in
/// `transmit` hold the proxy credentials.
pub(crate) struct Tunnel {
    /// Bytes for the layer below (the handshake, then the upper layer's bytes).
    transmit: BytesMut,
    /// Bytes for the layer above (only after the handshake).
    read: BytesMut,
    /// Bytes written from above before the tunnel was established.
    held: BytesMut,
    events: VecDeque<StageEvent>,
    established: bool,
    /// The handshake must finish by then (the connect deadline: `connect_timeout` covers the proxy handshake).
    deadline: Instant,
    /// The first failure; every later call reports it again.
    failed: Option<ProxyError>,
    /// End-of-stream was reported.
    eof: bool,
}

impl core::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tunnel")
            .field("established", &self.established)
            .field("deadline", &self.deadline)
            .field("failed", &self.failed)
            .field("eof", &self.eof)
            .field("transmit_len", &self.transmit.len())
            .field("read_len", &self.read.len())
            .field("held_len", &self.held.len())
            .finish()
    }
}

impl Tunnel {
    pub(crate) fn new(deadline: Instant) -> Tunnel {
        Tunnel {
            transmit: BytesMut::new(),
            read: BytesMut::new(),
            held: BytesMut::new(),
            events: VecDeque::new(),
            established: false,
            deadline,
            failed: None,
            eof: false,
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        self.established
    }

    /// The first failure, as the stage's error (calls after a failure keep failing the same way).
    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        match self.failed {
            Some(e) => Err(ErrorKind::Proxy(e)),
            None => Ok(()),
        }
    }

    /// Record a handshake failure and return it as the stage's error.
    pub(crate) fn fail(&mut self, e: ProxyError) -> Result<(), ErrorKind> {
        self.failed.get_or_insert(e);
        self.check()
    }

    /// Queue handshake bytes for the proxy.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.transmit.extend_from_slice(bytes);
    }

    /// The handshake is done: release the held bytes, pass `rest` (bytes after the handshake in the same read)
    /// up, and report `Established`.
    pub(crate) fn establish(&mut self, rest: &[u8]) {
        self.established = true;
        let held = self.held.split();
        self.transmit.extend_from_slice(&held);
        self.read.extend_from_slice(rest);
        self.events
            .push_back(StageEvent::Established { alpn: None });
    }

    /// Bytes from below after the handshake: all of them belong to the tunnel.
    pub(crate) fn pass_up(&mut self, data: &[u8]) {
        self.read.extend_from_slice(data);
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        self.check()?;
        if self.established {
            self.transmit.extend_from_slice(data);
        } else {
            self.held.extend_from_slice(data);
        }
        Ok(())
    }

    /// End of stream from below: during the handshake the proxy gave up on us; after it, the tunnel ended. A
    /// tunnel has no closing protocol of its own, so its end is as clean as the transport's (a TLS stage above
    /// decides whether the stream inside ended properly).
    pub(crate) fn handle_eof(&mut self) -> Result<(), ErrorKind> {
        self.check()?;
        if !self.established {
            return self.fail(ProxyError::ClosedDuringHandshake);
        }
        if !self.eof {
            self.eof = true;
            self.events.push_back(StageEvent::Eof { clean: true });
        }
        Ok(())
    }

    pub(crate) fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        let n = self.transmit.len();
        out.extend_from_slice(&self.transmit);
        self.transmit.clear();
        n
    }

    pub(crate) fn poll_read(&mut self, out: &mut BytesMut) -> usize {
        let n = self.read.len();
        out.extend_from_slice(&self.read);
        self.read.clear();
        n
    }

    pub(crate) fn poll_event(&mut self) -> Option<StageEvent> {
        self.events.pop_front()
    }

    /// The deadline matters only while the handshake runs.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        (!self.established && self.failed.is_none()).then_some(self.deadline)
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), ErrorKind> {
        self.check()?;
        if !self.established && now >= self.deadline {
            return self.fail(ProxyError::HandshakeTimeout);
        }
        Ok(())
    }
}
