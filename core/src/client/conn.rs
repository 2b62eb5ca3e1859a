//! One connection's state as the machine sees it: connecting or open, the codec, and the write progress of
//! every request sent on it — so that when it dies we know, per request, whether any byte of it left.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::io::RequestId;
use crate::h1::{H1Connection, Limits};
use crate::pool::PoolKey;
use crate::request::Request;
use crate::time::Instant;

/// The codec tag of one attempt: a request id plus the attempt's sequence number. Events for an older sequence
/// (a retried or redirected attempt whose response is being drained) are recognised as stale and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tag {
    pub id: RequestId,
    pub seq: u32,
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A pooled connection for requests and batches.
    Pooled,
    /// The one connection of an event stream: never pooled, never reused.
    Stream(RequestId),
}

/// Connecting or open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for `Input::Connected`; fails at `deadline`. `for_flow` is the request it was opened for.
    Connecting {
        deadline: Instant,
        for_flow: Option<RequestId>,
    },
    /// Open.
    Open,
}

/// A request written (or being written) on a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub tag: Tag,
    /// Offsets of the request's bytes in the connection's output stream.
    pub start: u64,
    /// Pipelining may continue behind it (RFC 9112 §9.3.2).
    pub idempotent: bool,
}

/// A connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub key: PoolKey,
    pub role: Role,
    pub phase: Phase,
    pub codec: H1Connection<Tag>,
    /// Encode buffer, reused: each request is encoded here and split off as `Bytes` for the driver, so the
    /// allocation is reclaimed once the driver drops the previous transmit.
    out: BytesMut,
    /// Bytes handed to the driver so far, and bytes it acknowledged as written.
    queued: u64,
    written: u64,
    /// Requests whose responses are pending, oldest first (responses arrive in this order).
    pub sent: VecDeque<Sent>,
    /// Responses completed on this connection: > 0 means it is a reused connection and may pipeline.
    pub completed: u32,
    /// Some byte of the front request's response has arrived.
    pub front_bytes: bool,
    /// A response said `Connection: close`: requests behind it were never processed by the server.
    pub close_announced: bool,
    /// Last byte in or out, for the read deadline.
    pub last_activity: Instant,
    /// Reads are paused for backpressure.
    pub paused: bool,
    /// Bytes of stale responses (retried or redirected attempts) discarded so far.
    pub drained: usize,
    /// The batch this connection is serving, if any.
    pub batch: Option<u64>,
}

impl Conn {
    pub fn new(key: PoolKey, role: Role, phase: Phase, limits: Limits, now: Instant) -> Conn {
        Conn {
            key,
            role,
            phase,
            codec: H1Connection::new(limits),
            out: BytesMut::with_capacity(1024),
            queued: 0,
            written: 0,
            sent: VecDeque::new(),
            completed: 0,
            front_bytes: false,
            close_announced: false,
            last_activity: now,
            paused: false,
            drained: 0,
            batch: None,
        }
    }

    /// Encode `req` and return the bytes to transmit.
    pub fn send(&mut self, tag: Tag, req: &Request, user_agent: &str, now: Instant) -> Bytes {
        let start = self.queued;
        self.codec.send(tag, req, user_agent, &mut self.out);
        let data = self.out.split().freeze();
        self.queued += data.len() as u64;
        self.sent.push_back(Sent {
            tag,
            start,
            idempotent: req.is_idempotent_method(),
        });
        if self.sent.len() == 1 {
            self.front_bytes = false;
        }
        self.last_activity = now;
        data
    }

    /// The driver wrote `n` more bytes.
    pub fn written(&mut self, n: usize, now: Instant) {
        self.written = (self.written + n as u64).min(self.queued);
        self.last_activity = now;
    }

    /// `true` when at least one byte of this request reached the socket.
    pub fn any_byte_written(&self, s: &Sent) -> bool {
        self.written > s.start
    }

    /// The response to the front request completed.
    pub fn pop_front(&mut self) -> Option<Sent> {
        let s = self.sent.pop_front();
        self.completed += 1;
        self.front_bytes = false;
        self.drained = 0;
        s
    }

    /// Buffer capacity held (encode buffer and the codec's read buffer), for memory-pressure accounting.
    pub fn buffer_bytes(&self) -> usize {
        self.out.capacity() + self.codec.buffered_capacity()
    }

    /// Give back buffer capacity holding no pending byte (memory pressure); returns the bytes freed. The
    /// buffers grow again on the next request.
    pub fn shrink_buffers(&mut self) -> usize {
        let mut freed = self.codec.shrink();
        if self.out.is_empty() {
            freed += self.out.capacity();
            self.out = BytesMut::new();
        }
        freed
    }

    /// `true` while connecting.
    pub fn is_connecting(&self) -> bool {
        matches!(self.phase, Phase::Connecting { .. })
    }
}
