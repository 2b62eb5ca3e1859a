//! What happens on a pooled connection: connect results, bytes in and out, codec events, and its end.
//!
//! When a connection dies, each request on it is judged on its own (see `flow_lost`): one whose response head
//! the owner already has fails; one of which not a byte was written, or that sat behind a response saying
//! `Connection: close`, provably never reached the server; any other may have.

use core::net::SocketAddr;

use bytes::Bytes;

use super::conn::{Phase as ConnPhase, Role, Tag};
use super::flow::State;
use super::io::{ConnId, Event, Output};
use super::machine::ClientMachine;
use super::options::{MAX_DRAIN, MAX_UNDELIVERED};
use super::policy::Outcome;
use super::redirect;
use crate::error::{ErrorKind, Limit, NetError, Phase, Violation};
use crate::h1::ConnEvent;
use crate::pool::PoolKey;
use crate::response::ResponseHead;
use crate::time::Instant;

/// Statuses retried for requests (DESIGN.md).
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// `true` when the response ends the connection after it (`Connection: close`, or HTTP/1.0 without keep-alive).
pub(crate) fn says_close(head: &ResponseHead) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for v in head.headers.get_all(http::header::CONNECTION) {
        for tok in v.to_str().unwrap_or("").split(',') {
            let tok = tok.trim();
            close |= tok.eq_ignore_ascii_case("close");
            keep_alive |= tok.eq_ignore_ascii_case("keep-alive");
        }
    }
    close || (head.version == http::Version::HTTP_10 && !keep_alive)
}

impl ClientMachine {
    pub(super) fn on_connected(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if !conn.is_connecting() {
            return;
        }
        if conn.has_stack() {
            // TLS (or a proxy handshake) first; `on_open` once every stage is established.
            self.start_handshake(now, c);
            return;
        }
        self.on_open(now, c);
    }

    /// Connection `c` is ready for HTTP: TCP connected and every stage established.
    pub(super) fn on_open(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let ConnPhase::Connecting { for_flow, .. } = conn.phase else {
            return;
        };
        conn.phase = ConnPhase::Open;
        conn.last_activity = now;
        // A stream whose consumer is behind paused its new connection already: it reads once under the limit.
        // A connection with a stack has been reading since TCP connected.
        if !conn.paused {
            if !conn.has_stack() {
                self.out.push_back(Output::Read(c));
            }
        } else if conn.has_stack() {
            self.out.push_back(Output::PauseRead(c));
        }
        if let Role::Stream(sid) = conn.role {
            self.stream_connected(now, sid, c);
            return;
        }
        let key = conn.key.clone();
        self.host_up(&key);
        match for_flow {
            Some(id)
                if self
                    .flows
                    .get(&id)
                    .is_some_and(|f| f.state == State::Connecting(c)) =>
            {
                self.assign(now, id, c);
            }
            _ => self.make_idle(now, c),
        }
    }

    /// A connect failed (`timed_out`: its `connect_timeout` passed).
    pub(super) fn on_connect_failed(
        &mut self,
        now: Instant,
        c: ConnId,
        cause: NetError,
        timed_out: bool,
    ) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        let ConnPhase::Connecting { for_flow, .. } = conn.phase else {
            // Not connecting any more: treat as a failure of an open connection.
            self.on_net_failed(now, c, cause);
            return;
        };
        let (role, key) = (conn.role, conn.key.clone());
        self.close_quietly(c);
        self.dns.connect_failed(&key.host, key.port);
        if let Role::Stream(sid) = role {
            self.stream_lost(now, sid, crate::sse::ReconnectCause::Network(cause));
            return;
        }
        tracing::debug!(conn = c.0, host = %key.host, port = key.port, %cause, timed_out, "connect failed");
        let failures = self.hosts.get(&key).map_or(0, |h| h.failures) + 1;
        let probe_delay = self.retry.delay(failures, &mut self.rng);
        self.host_down(&key, cause, now + probe_delay);
        if let Some(id) = for_flow {
            if self
                .flows
                .get(&id)
                .is_some_and(|f| f.state == State::Connecting(c))
            {
                let outcome = if timed_out {
                    Outcome::Timeout(Phase::Connect)
                } else {
                    Outcome::ConnectFailed(cause)
                };
                self.attempt_failed(now, id, outcome, false);
                // The next probe waits for this request's own backoff, so the two agree.
                if let Some(State::Backoff(t)) = self.flows.get(&id).map(|f| f.state) {
                    if let Some(h) = self.hosts.get_mut(&key) {
                        h.retry_at = t;
                    }
                }
            }
        }
    }

    pub(super) fn on_data(&mut self, now: Instant, c: ConnId, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if conn.is_connecting() {
            self.handshake_data(now, c, data);
            return;
        }
        if let Role::Stream(sid) = conn.role {
            self.stream_data(now, sid, c, data);
            return;
        }
        conn.last_activity = now;
        if let Err(kind) = conn.handle_data(now, data) {
            // A TLS alert or a corrupted record: the connection is dead and never reused.
            self.conn_lost(now, c, kind, NetError::Closed, None);
            return;
        }
        self.push_transmit(c);
        self.drain_codec(now, c, NetError::Closed);
    }

    pub(super) fn on_eof(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if conn.is_connecting() {
            // The peer closed during the handshake (a server that does not speak TLS, or refused us).
            self.on_connect_failed(now, c, NetError::Closed, false);
            return;
        }
        if let Role::Stream(sid) = conn.role {
            self.stream_eof(now, sid, c);
            return;
        }
        if let Err(kind) = conn.handle_eof(now) {
            self.conn_lost(now, c, kind, NetError::Closed, None);
            return;
        }
        self.drain_codec(now, c, NetError::Closed);
        // Whatever the codec made of it, a connection the peer closed is finished.
        if self.conns.contains_key(&c) {
            self.conn_closed(now, c);
        }
    }

    pub(super) fn on_net_failed(&mut self, now: Instant, c: ConnId, cause: NetError) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if conn.is_connecting() {
            self.on_connect_failed(now, c, cause, false);
            return;
        }
        if let Role::Stream(sid) = conn.role {
            self.close_quietly(c);
            self.stream_lost(now, sid, crate::sse::ReconnectCause::Network(cause));
            return;
        }
        self.conn_lost(now, c, ErrorKind::ConnectionFailed { cause }, cause, None);
    }

    pub(super) fn on_resolved(
        &mut self,
        now: Instant,
        host: &str,
        port: u16,
        result: Result<Vec<SocketAddr>, NetError>,
    ) {
        let host = host.to_ascii_lowercase();
        if let Err(cause) = self.dns.resolved(&host, port, result, now) {
            tracing::debug!(%host, port, %cause, "resolve failed");
            let victims: Vec<_> = self
                .waiting
                .iter()
                .copied()
                .filter(|id| {
                    self.flows
                        .get(id)
                        .is_some_and(|f| *f.key.host == *host && f.key.port == port)
                })
                .collect();
            for id in victims {
                self.waiting.remove(&id);
                self.attempt_failed(now, id, Outcome::ConnectFailed(cause), false);
            }
            self.streams_resolved(now, &host, port, Some(cause));
        } else {
            self.streams_resolved(now, &host, port, None);
        }
    }

    /// Handle every event the codec has for pooled connection `c`.
    pub(super) fn drain_codec(&mut self, now: Instant, c: ConnId, cause: NetError) {
        loop {
            let Some(conn) = self.conns.get_mut(&c) else {
                return;
            };
            let Some(ev) = conn.codec.poll_event() else {
                return;
            };
            match ev {
                ConnEvent::Head(tag, head) => self.on_head(now, c, tag, head),
                ConnEvent::Body(tag, data) => self.on_body(now, c, tag, data),
                ConnEvent::Done(tag) => self.on_done(now, c, tag),
                ConnEvent::Failed { error, .. } => {
                    self.conn_lost(now, c, error, cause, None);
                    return;
                }
            }
        }
    }

    fn on_head(&mut self, now: Instant, c: ConnId, tag: Tag, head: ResponseHead) {
        if says_close(&head) {
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.close_announced = true;
            }
        }
        let Some(flow) = self.flows.get_mut(&tag.id) else {
            return;
        };
        if !flow.is_current(tag) {
            return;
        }
        let status = head.status.as_u16();
        if flow.limits.max_redirects > 0 {
            if let Some(next) = redirect::next_request(&flow.req, &head) {
                match next {
                    Err(kind) => {
                        self.fail(now, tag.id, kind);
                    }
                    Ok(_) if flow.redirects >= flow.limits.max_redirects => {
                        let max = flow.limits.max_redirects;
                        self.fail(now, tag.id, ErrorKind::TooManyRedirects { max });
                    }
                    Ok(req) => {
                        tracing::debug!(
                            id = tag.id.0,
                            status,
                            to = %req.url().redacted(),
                            "following redirect"
                        );
                        flow.redirects += 1;
                        // A redirected batch member continues alone: the batch keeps its connection.
                        flow.batch = None;
                        flow.key = PoolKey::of(req.url());
                        flow.req = req;
                        flow.state = State::Waiting;
                        self.waiting.insert(tag.id);
                    }
                }
                return;
            }
        }
        if retryable_status(status) {
            let ra = crate::retry::retry_after(&head, self.options.max_retry_delay);
            if self.schedule_retry(now, tag.id, Outcome::Status(status, ra)) {
                return;
            }
        }
        let Some(flow) = self.flows.get_mut(&tag.id) else {
            return;
        };
        let max_body = self.options.max_body_size;
        if flow.req.options().collect_body {
            let head_request = flow.req.method() == http::Method::HEAD;
            if crate::h1::declared_length(head_request, &head).is_some_and(|n| n > max_body) {
                // Refused from the head: buffering `max_body_size` bytes first would only fail later.
                let kind = ErrorKind::TooLarge {
                    limit: Limit::BodySize,
                    max: max_body,
                };
                self.fail(now, tag.id, kind);
                self.conn_closed(now, c);
                return;
            }
        }
        flow.state = State::OnConn {
            conn: c,
            head: true,
        };
        flow.status = Some(status);
        self.out
            .push_back(Output::Event(Event::Head { id: tag.id, head }));
    }

    fn on_body(&mut self, now: Instant, c: ConnId, tag: Tag, data: Bytes) {
        let max_body = self.options.max_body_size;
        let live = self.flows.get_mut(&tag.id).filter(|f| f.is_current(tag));
        let Some(flow) = live else {
            let Some(conn) = self.conns.get_mut(&c) else {
                return;
            };
            conn.drained += data.len();
            if conn.drained > MAX_DRAIN {
                self.conn_closed(now, c);
            }
            return;
        };
        flow.body_len += data.len() as u64;
        if flow.body_len > max_body {
            self.fail(
                now,
                tag.id,
                ErrorKind::TooLarge {
                    limit: Limit::BodySize,
                    max: max_body,
                },
            );
            self.conn_closed(now, c);
            return;
        }
        flow.undelivered += data.len();
        let pause = flow.undelivered > MAX_UNDELIVERED;
        self.out
            .push_back(Output::Event(Event::Body { id: tag.id, data }));
        if pause {
            if let Some(conn) = self.conns.get_mut(&c) {
                if !conn.paused {
                    conn.paused = true;
                    self.out.push_back(Output::PauseRead(c));
                }
            }
        }
    }

    fn on_done(&mut self, now: Instant, c: ConnId, tag: Tag) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        conn.pop_front();
        if self.flows.get(&tag.id).is_some_and(|f| f.is_current(tag)) {
            self.finish_ok(now, tag.id);
        }
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if conn.close_announced {
            // Anything still queued behind this response was never processed: it is replayed.
            self.conn_closed(now, c);
        } else {
            self.maybe_resume(now, c);
            self.make_idle(now, c);
        }
    }

    /// A connection with no request left: back to the pool, or closed.
    pub(super) fn make_idle(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if conn.batch.is_some() {
            self.pump_batch(now, c);
        }
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if !conn.sent.is_empty() {
            return;
        }
        if conn.close_announced || !conn.codec.is_reusable() {
            self.close_quietly(c);
            return;
        }
        if conn.paused {
            conn.paused = false;
            self.out.push_back(Output::Read(c));
        }
        let ka = conn.codec.keep_alive_timeout();
        let key = conn.key.clone();
        self.pool.checkin(&key, c, now, ka);
    }

    /// Resume reading once every live request on `c` is under the undelivered limit.
    pub(super) fn maybe_resume(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if !conn.paused {
            return;
        }
        let over = conn.sent.iter().any(|s| {
            self.flows
                .get(&s.tag.id)
                .is_some_and(|f| f.is_current(s.tag) && f.undelivered > MAX_UNDELIVERED)
        });
        if !over {
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.paused = false;
                conn.last_activity = now;
                self.out.push_back(Output::Read(c));
            }
        }
    }

    pub(super) fn on_read_timeout(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        let Some(front) = conn.sent.front().map(|s| s.tag) else {
            return;
        };
        let phase = match self.flows.get(&front.id) {
            Some(f)
                if f.is_current(front) && matches!(f.state, State::OnConn { head: true, .. }) =>
            {
                Phase::BodyIdle
            }
            _ => Phase::ResponseHead,
        };
        tracing::debug!(conn = c.0, ?phase, "read timeout");
        self.conn_lost(
            now,
            c,
            ErrorKind::Timeout { phase },
            NetError::Closed,
            Some((front, phase)),
        );
    }

    /// [`ClientMachine::conn_lost`] for a connection that is closed with no timeout involved (the peer closed
    /// it, or the machine drops it): a request mid-response fails with `ConnectionFailed { Closed }`.
    pub(super) fn conn_closed(&mut self, now: Instant, c: ConnId) {
        let error = ErrorKind::ConnectionFailed {
            cause: NetError::Closed,
        };
        self.conn_lost(now, c, error, NetError::Closed, None);
    }

    /// Close pooled connection `c` and judge every request still on it. `responding_error` is the error of a
    /// request whose head the owner already has; `front_timeout` marks the front request as timed out.
    pub(super) fn conn_lost(
        &mut self,
        now: Instant,
        c: ConnId,
        responding_error: ErrorKind,
        cause: NetError,
        front_timeout: Option<(Tag, Phase)>,
    ) {
        let Some(conn) = self.conns.remove(&c) else {
            return;
        };
        self.pool.closed(&conn.key, c);
        self.out.push_back(Output::Close(c));
        let batch = conn.batch;
        for (i, s) in conn.sent.iter().enumerate() {
            let Some(flow) = self.flows.get(&s.tag.id) else {
                continue;
            };
            if !flow.is_current(s.tag) {
                continue;
            }
            let id = s.tag.id;
            let head_seen = matches!(flow.state, State::OnConn { head: true, .. });
            if head_seen {
                let kind = match (front_timeout, &responding_error) {
                    (Some((t, phase)), _) if t == s.tag => ErrorKind::Timeout { phase },
                    // The owner has the head: the connection worked, the body was cut off.
                    (_, ErrorKind::ConnectionFailed { cause }) => {
                        ErrorKind::BodyInterrupted { cause: *cause }
                    }
                    _ => responding_error.clone(),
                };
                self.fail(now, id, kind);
                continue;
            }
            if let Some((t, phase)) = front_timeout {
                if t == s.tag {
                    self.attempt_failed(now, id, Outcome::Timeout(phase), false);
                    continue;
                }
            }
            let response_started = i == 0 && conn.front_bytes;
            if response_started && is_malformed(&responding_error) {
                // The server answered with something broken: repeating the request would not help.
                self.fail(now, id, responding_error.clone());
                continue;
            }
            let outcome = if conn.close_announced || !conn.any_byte_written(s) {
                Outcome::NotSent(cause)
            } else {
                Outcome::MaybeSent(cause)
            };
            let free = flow.reused && !response_started;
            self.attempt_failed(now, id, outcome, free);
        }
        if let Some(b) = batch {
            if let Some(batch) = self.batches.get_mut(&b) {
                batch.conn = None;
            }
            self.batch_refresh(now, b);
        }
    }
}

/// `true` for errors that say the server's response was broken (as opposed to the connection just ending).
fn is_malformed(e: &ErrorKind) -> bool {
    match e {
        ErrorKind::InvalidResponse { violation } => !matches!(
            violation,
            Violation::IncompleteHead | Violation::IncompleteBody
        ),
        ErrorKind::TooLarge { .. } => true,
        _ => false,
    }
}
