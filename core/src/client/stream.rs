//! Event streams: glue between the connection layer and the [`EventStream`] machine, which makes every
//! decision (when to connect, what a head means, idle timeout, backoff, when to give up).
//!
//! Each (re)connect opens a NEW connection, never a pooled one, and the old one is always closed first, so a
//! stream never holds two connections. Stream connections are not counted against `pool_size` or
//! `max_connections` and never return to the pool. The stream's idle timeout also bounds connecting and waiting
//! for the head; `timeout` and `read_timeout` do not apply.

use http::header::{HeaderValue, ACCEPT, CACHE_CONTROL};

use super::conn::{Conn, Phase as ConnPhase, Role, Tag};
use super::dns::Lookup;
use super::io::{ConnId, Event, Output, RequestId};
use super::machine::ClientMachine;
use super::options::MAX_UNDELIVERED;
use super::redirect;
use crate::error::{Context, Error, ErrorKind, NetError};
use crate::h1::ConnEvent;
use crate::pool::PoolKey;
use crate::sse::{ReconnectCause, StreamEvent, StreamOutput};
use crate::time::Instant;

impl ClientMachine {
    /// The owner took `n` bytes of stream `id`'s events: reading resumes once under [`MAX_UNDELIVERED`].
    pub(super) fn stream_consumed(&mut self, now: Instant, id: RequestId, n: usize) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.undelivered = s.undelivered.saturating_sub(n);
            self.stream_flow_control(now, id);
        }
    }

    /// Pause or resume the stream's connection to match its undelivered bytes, and tell the stream machine,
    /// whose idle clock must not run while the silence is ours.
    fn stream_flow_control(&mut self, now: Instant, id: RequestId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let pause = s.undelivered > MAX_UNDELIVERED;
        if let Some(conn) = s
            .conn
            .and_then(|c| self.conns.get_mut(&c).map(|conn| (c, conn)))
        {
            let (c, conn) = conn;
            if conn.paused != pause {
                conn.paused = pause;
                conn.last_activity = now;
                self.out.push_back(if pause {
                    Output::PauseRead(c)
                } else {
                    Output::Read(c)
                });
            }
        }
        if pause && !s.es.is_paused() {
            s.es.on_paused(now);
        } else if !pause && s.es.is_paused() {
            s.es.on_resumed(now);
        }
    }

    /// Carry out everything stream `id` asks for.
    pub(super) fn pump_stream(&mut self, now: Instant, id: RequestId) {
        loop {
            let Some(s) = self.streams.get_mut(&id) else {
                return;
            };
            let Some(out) = s.es.poll_output(now) else {
                self.stream_flow_control(now, id);
                return;
            };
            match out {
                StreamOutput::Connect => self.stream_connect(now, id),
                StreamOutput::CloseConnection => {
                    // A connect still waiting for DNS is void too.
                    s.want_connect = false;
                    if let Some(c) = s.conn.take() {
                        self.close_quietly(c);
                    }
                }
                StreamOutput::Redirect(url) => {
                    tracing::debug!(id = id.0, to = %url.redacted(), "event stream redirected");
                    s.req = redirect::retarget(&s.req, url);
                    s.key = PoolKey::of(s.req.url());
                }
                StreamOutput::Event(event) => {
                    if let StreamEvent::Reconnecting {
                        attempt,
                        max,
                        delay,
                        cause,
                    } = &event
                    {
                        match max {
                            Some(m) => tracing::debug!(
                                id = id.0,
                                ?cause,
                                delay_ms = delay.as_millis() as u64,
                                "Connection lost. Reconnecting... (attempt {attempt}/{m})"
                            ),
                            None => tracing::debug!(
                                id = id.0,
                                ?cause,
                                delay_ms = delay.as_millis() as u64,
                                "Connection lost. Reconnecting... (attempt {attempt})"
                            ),
                        }
                    }
                    s.undelivered += event.wire_size();
                    self.out
                        .push_back(Output::Event(Event::Stream { id, event }));
                }
                StreamOutput::Closed(kind) => {
                    self.close_stream(now, id, kind);
                    return;
                }
            }
        }
    }

    fn stream_connect(&mut self, now: Instant, id: RequestId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if let Some(old) = s.conn.take() {
            // Never two connections: the machine only asks after the old one is gone, but be certain.
            self.close_quietly(old);
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let key = s.key.clone();
        let addr = match self.dns.lookup(&key.host, key.port, now) {
            Lookup::Ready(a) => a,
            Lookup::Pending => {
                s.want_connect = true;
                return;
            }
            Lookup::Resolve => {
                s.want_connect = true;
                self.out.push_back(Output::Resolve {
                    host: key.host.to_string(),
                    port: key.port,
                });
                return;
            }
        };
        let stack = match self.new_stack(&key) {
            Ok(stack) => stack,
            Err(kind) => {
                self.close_stream(now, id, kind);
                return;
            }
        };
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        s.want_connect = false;
        s.connects += 1;
        let c = self.new_conn_id();
        let conn = Conn::new(
            key,
            Role::Stream(id),
            // The stream's own idle timeout bounds the connect.
            ConnPhase::Connecting {
                deadline: Instant::from_nanos(u64::MAX),
                for_flow: None,
            },
            self.limits,
            stack,
            now,
        );
        self.conns.insert(c, conn);
        if let Some(s) = self.streams.get_mut(&id) {
            s.conn = Some(c);
        }
        self.out.push_back(Output::Connect { conn: c, addr });
    }

    /// DNS answered for `host:port`: connect the streams waiting for it, or tell them it failed.
    pub(super) fn streams_resolved(
        &mut self,
        now: Instant,
        host: &str,
        port: u16,
        err: Option<NetError>,
    ) {
        let ids: Vec<RequestId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.want_connect && *s.key.host == *host && s.key.port == port)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            match err {
                Some(cause) => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.want_connect = false;
                        s.es.on_disconnect(now, ReconnectCause::Network(cause));
                    }
                }
                None => self.stream_connect(now, id),
            }
            self.pump_stream(now, id);
        }
    }

    pub(super) fn stream_connected(&mut self, now: Instant, id: RequestId, c: ConnId) {
        let Some(s) = self.streams.get_mut(&id) else {
            self.close_quietly(c);
            return;
        };
        s.es.on_connected(now);
        let mut req = s.req.clone();
        let h = req.headers_mut();
        if !h.contains_key(ACCEPT) {
            h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        if !h.contains_key(CACHE_CONTROL) {
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        h.remove("last-event-id");
        if let Some(last) = s.es.last_event_id() {
            // An id the server sent is visible ASCII or it would not round-trip; skip one that is not.
            if let Ok(v) = HeaderValue::from_str(last) {
                h.insert("last-event-id", v);
            }
        }
        let tag = Tag {
            id,
            seq: s.connects,
        };
        let ua = self.options.user_agent.clone();
        if let Some(conn) = self.conns.get_mut(&c) {
            let data = conn.send(tag, &req, &ua, now);
            self.out.push_back(Output::Transmit { conn: c, data });
        }
        self.pump_stream(now, id);
    }

    pub(super) fn stream_data(&mut self, now: Instant, id: RequestId, c: ConnId, data: &[u8]) {
        if let Some(conn) = self.conns.get_mut(&c) {
            if let Err(kind) = conn.handle_data(now, data) {
                tracing::debug!(conn = c.0, error = %kind, "event stream connection failed");
                self.close_quietly(c);
                self.stream_lost(now, id, ReconnectCause::InvalidResponse);
                return;
            }
        }
        self.push_transmit(c);
        self.stream_drain(now, id, c);
    }

    pub(super) fn stream_eof(&mut self, now: Instant, id: RequestId, c: ConnId) {
        if let Some(conn) = self.conns.get_mut(&c) {
            if let Err(kind) = conn.handle_eof(now) {
                tracing::debug!(conn = c.0, error = %kind, "event stream connection failed");
                self.close_quietly(c);
                self.stream_lost(now, id, ReconnectCause::InvalidResponse);
                return;
            }
        }
        self.stream_drain(now, id, c);
        if self.conns.contains_key(&c) {
            self.close_quietly(c);
            self.stream_lost(now, id, ReconnectCause::Eof);
        }
    }

    /// Feed the codec's events for stream connection `c` to the stream machine.
    fn stream_drain(&mut self, now: Instant, id: RequestId, c: ConnId) {
        while let Some(ev) = self
            .conns
            .get_mut(&c)
            .and_then(|conn| conn.codec.poll_event())
        {
            let Some(s) = self.streams.get_mut(&id) else {
                self.close_quietly(c);
                return;
            };
            match ev {
                ConnEvent::Head(_, head) => s.es.on_head(now, &head),
                ConnEvent::Body(_, data) => s.es.on_body(now, &data),
                ConnEvent::Done(_) => {
                    self.close_quietly(c);
                    self.stream_lost(now, id, ReconnectCause::Eof);
                    return;
                }
                ConnEvent::Failed { error, .. } => {
                    let cause = match error {
                        ErrorKind::ConnectionFailed { cause } => ReconnectCause::Network(cause),
                        ErrorKind::InvalidResponse {
                            violation: crate::error::Violation::IncompleteBody,
                        } => ReconnectCause::Eof,
                        _ => ReconnectCause::InvalidResponse,
                    };
                    self.close_quietly(c);
                    self.stream_lost(now, id, cause);
                    return;
                }
            }
        }
        self.pump_stream(now, id);
    }

    /// The stream's connection is gone (the caller closed it).
    pub(super) fn stream_lost(&mut self, now: Instant, id: RequestId, cause: ReconnectCause) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.conn = None;
            s.es.on_disconnect(now, cause);
        }
        self.pump_stream(now, id);
    }

    pub(super) fn stream_timeout(&mut self, now: Instant, id: RequestId) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.es.handle_timeout(now);
        }
        self.pump_stream(now, id);
    }

    pub(super) fn abort_stream(&mut self, now: Instant, id: RequestId) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.es.abort(now);
        }
        self.pump_stream(now, id);
        // The machine always ends with `Closed` after an abort; if it had already ended, make sure.
        if self.streams.contains_key(&id) {
            self.close_stream(now, id, ErrorKind::Aborted);
        }
    }

    /// End stream `id` with its one terminal `Failed`, closing its connection.
    pub(super) fn close_stream(&mut self, now: Instant, id: RequestId, kind: ErrorKind) {
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        if let Some(c) = s.conn {
            self.close_quietly(c);
        }
        let error = Error::new(kind).with_context(Context {
            method: s.req.method().clone(),
            url: s.req.url().redacted(),
            attempt: s.connects.max(1),
            last_success: self.last_success.as_ref().map(|l| l.describe(now)),
        });
        tracing::info!(
            path = s.req.url().path(),
            connects = s.connects,
            max_attempts = ?s.max_attempts,
            %error,
            "event stream ended"
        );
        self.out
            .push_back(Output::Event(Event::Failed { id, error }));
    }
}
