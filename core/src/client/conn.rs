//! One connection's state as the machine sees it: connecting or open, the codec, and the write progress of
//! every request sent on it — so that when it dies we know, per request, whether any byte of it left.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::io::RequestId;
use super::stack::{Stack, StackNews};
use crate::error::{ErrorKind, TlsReason};
use crate::h1::{H1Connection, Limits, Via};
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
    /// The stages between the socket and the codec (TLS, a proxy handshake); `None` for plain `http://`, which
    /// then costs one pointer-sized field and a branch, and no copy.
    stack: Option<Box<Stack>>,
    /// The TCP connection is up (a connection with a stack stays `Connecting` until every stage is
    /// established).
    pub tcp_up: bool,
    /// Socket bytes produced by the stack and not yet handed to the driver; plaintext for the codec.
    wire: BytesMut,
    plain: BytesMut,
    /// Encode buffer, reused: each request is encoded here and split off as `Bytes` for the driver, so the
    /// allocation is reclaimed once the driver drops the previous transmit.
    out: BytesMut,
    /// Socket bytes handed to the driver so far (ciphertext when there is a stack), and bytes it acknowledged as
    /// written.
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
    pub fn new(
        key: PoolKey,
        role: Role,
        phase: Phase,
        limits: Limits,
        stack: Option<Box<Stack>>,
        now: Instant,
    ) -> Conn {
        Conn {
            key,
            role,
            phase,
            codec: H1Connection::new(limits),
            stack,
            tcp_up: false,
            wire: BytesMut::new(),
            plain: BytesMut::new(),
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

    /// Encode `req` and return the bytes to transmit. With a stack, the request goes through it and the bytes
    /// are its output; the request's start offset is the socket bytes queued before them, so that
    /// [`Conn::any_byte_written`] is true exactly once a byte carrying it was written.
    pub fn send(&mut self, tag: Tag, req: &Request, user_agent: &str, now: Instant) -> Bytes {
        // The invariant the simulation checks: no request byte before every stage's handshake completed.
        debug_assert!(
            self.is_established(),
            "request written before the handshake completed"
        );
        let start = self.queued;
        let via = self.key.hop.as_ref().map_or(Via::Direct, |hop| hop.via());
        self.codec
            .send_via(tag, req, user_agent, via, &mut self.out);
        let data = match &mut self.stack {
            None => self.out.split().freeze(),
            Some(stack) => {
                // A stage refusing a write has failed; the error comes back on the next input, the bytes
                // written so far stay counted, and the connection is lost there.
                let _ = stack.write(now, &self.out, &mut self.plain, &mut self.wire);
                self.out.clear();
                self.wire.split().freeze()
            }
        };
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

    /// `true` when the connection has a stack (TLS, proxy).
    pub fn has_stack(&self) -> bool {
        self.stack.is_some()
    }

    /// `true` once every stage is established (always, without a stack).
    pub fn is_established(&self) -> bool {
        self.stack.as_ref().is_none_or(|s| s.is_established())
    }

    /// Socket bytes the stack produced (the handshake's flights, alerts), counted as queued; `None` when none.
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        if self.wire.is_empty() {
            return None;
        }
        let data = self.wire.split().freeze();
        self.queued += data.len() as u64;
        Some(data)
    }

    /// After TCP connected: let the stack produce its first flight (take it with [`Conn::take_transmit`]).
    pub fn start(&mut self, now: Instant) -> Result<StackNews, ErrorKind> {
        self.tcp_up = true;
        match &mut self.stack {
            None => Ok(StackNews::default()),
            Some(stack) => stack.flush(now, &mut self.plain, &mut self.wire),
        }
    }

    /// Bytes read from the socket: through the stack (if any) into the codec. Socket bytes the stack wants to
    /// send are left for [`Conn::take_transmit`].
    /// Marks the front request's response as started once plaintext for it arrived (TLS session tickets are
    /// not a response).
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) -> Result<StackNews, ErrorKind> {
        let Some(stack) = &mut self.stack else {
            if !self.sent.is_empty() {
                self.front_bytes = true;
            }
            self.codec.handle_data(data);
            return Ok(StackNews::default());
        };
        let news = stack.input(now, data, &mut self.plain, &mut self.wire)?;
        if !self.plain.is_empty() {
            if !self.sent.is_empty() {
                self.front_bytes = true;
            }
            self.codec.handle_data(&self.plain);
            self.plain.clear();
        }
        Ok(news)
    }

    /// The socket reached end-of-stream. Without a stack the codec sees it at once; with one, the top stage
    /// says whether the end was clean: a body delimited by the close that ends uncleanly (no TLS
    /// `close_notify`) is a truncation error, never a short body taken as whole.
    pub fn handle_eof(&mut self, now: Instant) -> Result<StackNews, ErrorKind> {
        let Some(stack) = &mut self.stack else {
            self.codec.handle_eof();
            return Ok(StackNews::default());
        };
        let news = stack.eof(now, &mut self.plain, &mut self.wire)?;
        if !self.plain.is_empty() {
            self.codec.handle_data(&self.plain);
            self.plain.clear();
        }
        match news.eof {
            Some(false) => self.codec.handle_eof_unclean(ErrorKind::Tls {
                host: self.key.host.to_string(),
                reason: TlsReason::Truncated,
            }),
            _ => self.codec.handle_eof(),
        }
        Ok(news)
    }

    /// The earliest stage deadline.
    pub fn stack_timeout(&self) -> Option<Instant> {
        self.stack.as_ref().and_then(|s| s.poll_timeout())
    }

    /// A stage deadline passed.
    pub fn handle_stack_timeout(&mut self, now: Instant) -> Result<StackNews, ErrorKind> {
        match &mut self.stack {
            None => Ok(StackNews::default()),
            Some(stack) => stack.handle_timeout(now, &mut self.plain, &mut self.wire),
        }
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
