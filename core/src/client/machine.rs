//! The client machine's facade: commands in, [`Output`]s out, time passed in.
//!
//! ```text
//! request/batch/subscribe ─► Flow (Waiting) ─► dispatch: idle conn (LIFO) │ new conn (caps, DNS, host health)
//!                                               │
//!      Connected/Data/Written/Eof/Failed ─► Conn ─► codec events ─► Head/Body/Done │ retry │ redirect
//!                                               │
//! poll_output: timers (deadlines, backoff, idle expiry) ─► queued outputs ─► Wait(next deadline)
//! ```
//!
//! Invariants kept here and checked by the simulation: exactly one terminal event per [`RequestId`]; exactly one
//! [`Output::Close`] per [`ConnId`] handed out with [`Output::Connect`] (also after `ConnectFailed`); pool caps
//! (`pool_size` per origin, `max_connections` in total, event streams excluded); an event stream never holds two
//! connections.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::batch::{Batch, Health};
use super::conn::{Conn, Phase as ConnPhase, Role};
use super::deadline::Limits;
use super::dns::{DnsCache, Lookup};
use super::flow::{Flow, State};
use super::io::{ConnId, Event, Input, Output, RequestId};
use super::last_success::LastSuccess;
use super::local_addrs::LocalAddrs;
use super::options::{Options, StreamOptions};
use super::stack::Stack;
use super::stream_flow::StreamFlow;
use crate::error::{Context, Error, ErrorKind, Limit, TlsReason};
use crate::h1;
use crate::pool::{HostStats, Pool, PoolKey};
use crate::request::Request;
use crate::retry::RetryPolicy;
use crate::rng::Rng;
use crate::time::{earliest, Instant};
use crate::url::{Scheme, Url};

/// The sans-IO HTTP/1.1 client: pool, queue, per-request flows (retry, redirect, timeouts), batches and event
/// streams. Feed it commands and [`Input`]s, then drain [`ClientMachine::poll_output`] until [`Output::Wait`].
///
/// What a driver can rely on:
/// - every [`RequestId`] gets exactly one terminal event (`Done` or `Failed`); retries and redirects happen
///   inside, the owner sees only the final attempt's response;
/// - every [`ConnId`] handed out with [`Output::Connect`] gets exactly one [`Output::Close`], also after
///   [`Input::ConnectFailed`] and after the peer closed it; input for a closed connection is ignored;
/// - writes are acknowledged in order with [`Input::Written`]: that is how the machine knows whether any byte of
///   a request left, which decides whether it may be replayed;
/// - reads are granted with [`Output::Read`] (also on idle connections, so a server-side close is seen) and
///   paused with [`Output::PauseRead`] once [`MAX_UNDELIVERED`](super::MAX_UNDELIVERED) body bytes of a request (or event bytes of a
///   stream) await [`ClientMachine::consumed`].
///
/// Decisions: a request on a reused connection that died before any response byte is replayed once at once on a
/// fresh connection without spending a retry (the replay rules still apply); connect failures, resets and
/// retryable statuses (408, 429, 502, 503, 504) spend one of `max_retries` each with backoff; a body larger than
/// `max_body_size` fails the request with `TooLarge { BodySize }`.
#[derive(Debug)]
pub struct ClientMachine {
    pub(super) options: Options,
    base_url: Option<Url>,
    pub(super) limits: h1::Limits,
    pub(super) rng: Rng,
    pub(super) retry: RetryPolicy,
    next_id: u64,
    next_conn: u64,
    pub(super) next_batch: u64,
    pub(super) flows: BTreeMap<RequestId, Flow>,
    /// Requests waiting for a connection, oldest first (ids grow with time, so id order is FIFO order, and a
    /// retried request goes back to its original place).
    pub(super) waiting: BTreeSet<RequestId>,
    pub(super) batches: BTreeMap<u64, Batch>,
    pub(super) conns: BTreeMap<ConnId, Conn>,
    pub(super) pool: Pool,
    pub(super) dns: DnsCache,
    pub(super) hosts: HashMap<PoolKey, Health>,
    pub(super) streams: BTreeMap<RequestId, StreamFlow>,
    pub(super) out: VecDeque<Output>,
    pub(super) last_success: Option<LastSuccess>,
    /// The rustls configuration every TLS connection shares (so its session cache serves pool refills and
    /// event-stream reconnects); `None` without `Options::tls`.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Local addresses of connections, for network changes (see `lifecycle.rs`).
    pub(super) local_addrs: LocalAddrs,
    /// Scratch list for `dispatch`, kept so a dispatch allocates nothing in steady state.
    pub(super) dispatch_ids: Vec<RequestId>,
    shut: bool,
}

impl ClientMachine {
    /// A machine with `options`; `seed` seeds the jitter RNG. Fails when `base_url` is invalid, or the TLS
    /// settings are (a malformed pin or client identity).
    pub fn new(options: Options, seed: u64) -> Result<ClientMachine, ErrorKind> {
        let base_url = match options.base_url.as_deref() {
            Some(s) => Some(Url::parse(s)?),
            None => None,
        };
        let tls = match &options.tls {
            Some(t) => Some(t.client_config(
                &options.pinned_public_keys,
                options.client_identity.as_ref(),
            )?),
            None => None,
        };
        Ok(ClientMachine {
            tls,
            retry: RetryPolicy::from_options(&options),
            pool: Pool::new(
                options.pool_size,
                options.max_connections,
                options.pool_idle_timeout,
            ),
            dns: DnsCache::new(options.dns_ttl).with_resolve_timeout(options.connect_timeout),
            options,
            base_url,
            limits: h1::Limits::default(),
            rng: Rng::new(seed),
            next_id: 0,
            next_conn: 0,
            next_batch: 0,
            flows: BTreeMap::new(),
            waiting: BTreeSet::new(),
            batches: BTreeMap::new(),
            conns: BTreeMap::new(),
            hosts: HashMap::new(),
            streams: BTreeMap::new(),
            out: VecDeque::new(),
            last_success: None,
            local_addrs: LocalAddrs::default(),
            dispatch_ids: Vec::new(),
            shut: false,
        })
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The parsed `base_url`, to build requests against.
    pub fn base_url(&self) -> Option<&Url> {
        self.base_url.as_ref()
    }

    pub(super) fn new_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    /// The stages a new connection to `key` needs: none for `http`, TLS for `https`.
    /// The stages of a new connection for `key`, lowest first: the proxy handshake (`CONNECT` or SOCKS5) below
    /// TLS. `origin_addr` is the origin's resolved address when a `socks5://` proxy needs it; `deadline` bounds
    /// the proxy handshake (the connect deadline).
    pub(super) fn new_stack(
        &self,
        key: &PoolKey,
        origin_addr: Option<core::net::SocketAddr>,
        deadline: Instant,
    ) -> Result<Option<Box<Stack>>, ErrorKind> {
        let mut stages: Vec<Box<dyn crate::stage::Stage>> = Vec::new();
        if let Some(hop) = &key.hop {
            let ua = &self.options.user_agent;
            if let Some(stage) = hop.stage(&key.host, key.port, origin_addr, ua, deadline)? {
                stages.push(stage);
            }
        }
        if key.scheme == Scheme::Https {
            let Some(config) = &self.tls else {
                return Err(ErrorKind::Tls {
                    host: key.host.to_string(),
                    reason: TlsReason::NotConfigured,
                });
            };
            stages.push(Box::new(crate::tls::TlsStage::new(
                config.clone(),
                &key.host,
            )?));
        }
        Ok((!stages.is_empty()).then(|| Box::new(Stack::new(stages))))
    }

    /// Where to connect for `key` now: the proxy's (or origin's) address, and the origin's address when a
    /// `socks5://` proxy needs it. `Err(())`: a resolution is pending or was just asked for (the caller waits).
    pub(super) fn connect_addrs(
        &mut self,
        key: &PoolKey,
        now: Instant,
    ) -> Result<(core::net::SocketAddr, Option<core::net::SocketAddr>), ()> {
        let mut lookup = |host: &str, port: u16| match self.dns.lookup(host, port, now) {
            Lookup::Ready(a) => Some(a),
            Lookup::Pending => None,
            Lookup::Resolve => {
                self.out.push_back(Output::Resolve {
                    host: host.to_string(),
                    port,
                });
                None
            }
        };
        let (host, port) = key.connect_target();
        let addr = lookup(host, port);
        let origin = if key.resolves_origin_for_proxy() {
            Some(lookup(&key.host, key.port).ok_or(())?)
        } else {
            None
        };
        Ok((addr.ok_or(())?, origin))
    }

    pub(super) fn new_conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// Start a request. Its events (`Head`, `Body`*, `Done`, or one `Failed`) come out of
    /// [`ClientMachine::poll_output`]. Never pipelined.
    pub fn request(&mut self, now: Instant, req: Request) -> RequestId {
        let id = self.new_id();
        self.start_flow(now, id, req, None, true);
        self.dispatch(now);
        id
    }

    /// Start several requests pipelined on one connection, responses matched in order. The first goes alone on
    /// a fresh connection; the rest follow once the connection has completed a response, and never behind a
    /// non-idempotent request (the batch waits there for that response). Requests to another origin than the
    /// first one run as single requests.
    pub fn batch(&mut self, now: Instant, reqs: Vec<Request>) -> Vec<RequestId> {
        let mut ids = Vec::with_capacity(reqs.len());
        let mut batch: Option<(u64, PoolKey)> = None;
        for req in reqs {
            let id = self.new_id();
            ids.push(id);
            let key = PoolKey::routed(req.url(), &self.options.proxy);
            match &batch {
                None => {
                    self.next_batch += 1;
                    let b = self.next_batch;
                    self.batches.insert(b, Batch::default());
                    batch = Some((b, key));
                    if self.start_flow(now, id, req, Some(b), true) {
                        self.batch_push(b, id);
                    }
                }
                Some((b, k)) if *k == key => {
                    let b = *b;
                    if self.start_flow(now, id, req, Some(b), false) {
                        self.batch_push(b, id);
                    }
                }
                Some(_) => {
                    self.start_flow(now, id, req, None, true);
                }
            }
        }
        if let Some((b, _)) = batch {
            self.batch_refresh(now, b);
        }
        self.dispatch(now);
        ids
    }

    /// Register a flow; `false` when it failed at once (shutdown, full queue of an unreachable host).
    fn start_flow(
        &mut self,
        now: Instant,
        id: RequestId,
        req: Request,
        batch: Option<u64>,
        wait: bool,
    ) -> bool {
        let mut req = req;
        super::content::offer(&mut req, &self.options);
        let limits = Limits::of(&self.options, &req);
        let body_len = req.body().len() as u64;
        let mut flow = Flow::new(id, req, limits, batch, now);
        flow.key = PoolKey::routed(flow.req.url(), &self.options.proxy);
        let refused = if self.shut {
            Some(ErrorKind::Shutdown)
        } else if body_len > self.options.max_body_size {
            // Refused before a byte is sent: the limit on bodies held in memory applies to requests too.
            Some(ErrorKind::TooLarge {
                limit: Limit::RequestBodySize,
                max: self.options.max_body_size,
            })
        } else if let Some(kind) = self.insecure_credentials(&flow.req) {
            Some(kind)
        } else {
            self.degraded_admission(&flow.key)
        };
        if let Some(kind) = refused {
            let err = self.context_error(now, &flow, kind);
            self.out
                .push_back(Output::Event(Event::Failed { id, error: err }));
            return false;
        }
        if !wait {
            flow.state = State::Held;
        }
        self.flows.insert(id, flow);
        if wait {
            self.waiting.insert(id);
        }
        true
    }

    /// The plaintext policy (the App Transport Security analogue): credentials (`Authorization`, which a URL's
    /// userinfo becomes) never go over plain `http://` to a host that is not loopback, unless
    /// `allow_insecure_credentials` is set.
    pub(super) fn insecure_credentials(&self, req: &Request) -> Option<ErrorKind> {
        let url = req.url();
        let exposed = url.scheme() == Scheme::Http
            && !url.is_loopback()
            && req.headers().contains_key(http::header::AUTHORIZATION)
            && !self.options.allow_insecure_credentials;
        exposed.then(|| ErrorKind::InsecureCredentials {
            host: url.host().to_string(),
        })
    }

    /// Graceful degradation: while the host is unreachable, requests wait in a bounded queue.
    fn degraded_admission(&self, key: &PoolKey) -> Option<ErrorKind> {
        let h = self.hosts.get(key).filter(|h| h.down)?;
        let max = self.options.max_queued_requests;
        if max == 0 {
            return Some(ErrorKind::ConnectionFailed {
                cause: h.last_error,
            });
        }
        let queued = self
            .flows
            .values()
            .filter(|f| f.key == *key && !matches!(f.state, State::OnConn { .. }))
            .count();
        (queued >= max).then_some(ErrorKind::TooLarge {
            limit: Limit::QueueLength,
            max: max as u64,
        })
    }

    /// Open an event stream: reconnects on its own (a new connection each time, never two at once), sends
    /// `Last-Event-ID`, and reports [`Event::Stream`] until it ends with one [`Event::Failed`].
    pub fn subscribe(&mut self, now: Instant, req: Request, opts: StreamOptions) -> RequestId {
        let id = self.new_id();
        let refused = if self.shut {
            Some(ErrorKind::Shutdown)
        } else {
            self.insecure_credentials(&req)
        };
        if let Some(kind) = refused {
            let err = Error::new(kind).with_context(Context {
                method: req.method().clone(),
                url: req.url().redacted(),
                attempt: 1,
                last_success: self.last_success.as_ref().map(|l| l.describe(now)),
            });
            self.out
                .push_back(Output::Event(Event::Failed { id, error: err }));
            return id;
        }
        let seed = self.rng.next_u64();
        let stream = StreamFlow::new(id, req, &self.options, opts, seed);
        self.streams.insert(id, stream);
        self.pump_stream(now, id);
        id
    }

    /// Abort a request or event stream: `Event::Failed { Aborted }` at once, its connection closed if it was
    /// mid-exchange, and no later connect for it. Unknown or finished ids are ignored.
    pub fn abort(&mut self, now: Instant, id: RequestId) {
        if self.flows.contains_key(&id) {
            self.fail_active(now, id, ErrorKind::Aborted);
        } else if self.streams.contains_key(&id) {
            self.abort_stream(now, id);
        }
        self.dispatch(now);
    }

    /// The owner took `n` body bytes of request `id`, or `n` bytes ([`StreamEvent::wire_size`]) of event
    /// stream `id`'s events: reading resumes once fewer than [`MAX_UNDELIVERED`](super::MAX_UNDELIVERED) wait.
    ///
    /// [`StreamEvent::wire_size`]: crate::sse::StreamEvent::wire_size
    pub fn consumed(&mut self, now: Instant, id: RequestId, n: usize) {
        let Some(flow) = self.flows.get_mut(&id) else {
            if self.streams.contains_key(&id) {
                self.stream_consumed(now, id, n);
            }
            return;
        };
        flow.undelivered = flow.undelivered.saturating_sub(n);
        if let Some(c) = flow.conn() {
            self.maybe_resume(now, c);
        }
    }

    /// Something happened in the world.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Connected(c) => self.on_connected(now, c),
            Input::ConnectFailed(c, e) => self.on_connect_failed(now, c, e, false),
            Input::Data(c, data) => self.on_data(now, c, data),
            Input::Written(c, n) => {
                if let Some(conn) = self.conns.get_mut(&c) {
                    conn.written(n, now);
                }
            }
            Input::Eof(c) => self.on_eof(now, c),
            Input::Failed(c, e) => self.on_net_failed(now, c, e),
            Input::Resolved { host, port, result } => self.on_resolved(now, &host, port, result),
            Input::Timeout => self.on_timers(now),
        }
        self.dispatch(now);
    }

    /// The next thing to do. Call until it returns [`Output::Wait`]; expired deadlines are handled here too, so
    /// calling with a later `now` is as good as [`Input::Timeout`].
    pub fn poll_output(&mut self, now: Instant) -> Output {
        if self.out.is_empty() {
            self.on_timers(now);
        }
        match self.out.pop_front() {
            Some(o) => o,
            None => Output::Wait(self.next_deadline(now)),
        }
    }

    /// Close idle connections whose lifetime is over.
    pub fn cleanup(&mut self, now: Instant) {
        for c in self.pool.expired(now) {
            self.close_quietly(c);
        }
    }

    /// Close every idle connection (memory pressure). Busy connections and event streams are kept.
    pub fn release_idle(&mut self) {
        for c in self.pool.all_idle() {
            self.close_quietly(c);
        }
    }

    /// Fail everything pending with `Shutdown` and close every connection. Later requests fail at once.
    pub fn shutdown(&mut self, now: Instant) {
        self.shut = true;
        let ids: Vec<RequestId> = self.flows.keys().copied().collect();
        for id in ids {
            self.fail_active(now, id, ErrorKind::Shutdown);
        }
        let sids: Vec<RequestId> = self.streams.keys().copied().collect();
        for id in sids {
            self.close_stream(now, id, ErrorKind::Shutdown);
        }
        let cs: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in cs {
            self.close_quietly(c);
        }
    }

    /// Open connections: connecting, busy, idle and event streams.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Requests and event streams that have not ended yet.
    pub fn in_flight(&self) -> usize {
        self.flows.len() + self.streams.len()
    }

    /// Per-origin pooled connection counts (event streams excluded), for invariant checks and metrics.
    pub fn pool_stats(&self) -> Vec<HostStats> {
        self.pool.stats()
    }

    /// Connections held by event stream `id` (0 or 1).
    pub fn stream_connections(&self, id: RequestId) -> usize {
        self.conns
            .values()
            .filter(|c| c.role == Role::Stream(id))
            .count()
    }

    /// Run every deadline due at `now`.
    pub(super) fn on_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut ready = Vec::new();
        for (id, f) in &self.flows {
            if f.deadline.is_some_and(|d| d <= now) {
                expired.push(*id);
            } else if let State::Backoff(t) = f.state {
                if t <= now {
                    ready.push(*id);
                }
            }
        }
        for id in expired {
            self.fail_active(
                now,
                id,
                ErrorKind::Timeout {
                    phase: crate::error::Phase::Request,
                },
            );
        }
        for id in ready {
            if let Some(f) = self.flows.get_mut(&id) {
                f.state = State::Waiting;
                self.waiting.insert(id);
            }
        }
        // Stage deadlines first: a proxy handshake that ran out of time is the proxy's typed failure (and not
        // retried), not a connect timeout; its deadline is the connect deadline.
        self.stack_timers(now);
        let mut connect_due = Vec::new();
        let mut read_due = Vec::new();
        for (c, conn) in &self.conns {
            match conn.phase {
                ConnPhase::Connecting { deadline, .. } if deadline <= now => connect_due.push(*c),
                ConnPhase::Open
                    if conn.role == Role::Pooled
                        && self.read_deadline(conn).is_some_and(|d| d <= now) =>
                {
                    read_due.push(*c);
                }
                _ => {}
            }
        }
        for c in connect_due {
            self.on_connect_failed(now, c, crate::error::NetError::Other, true);
        }
        for c in read_due {
            self.on_read_timeout(now, c);
        }
        self.cleanup(now);
        self.resolve_timers(now);
        let due: Vec<RequestId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.stream_timeout(now, id);
        }
        self.dispatch(now);
    }

    /// The read deadline of an open pooled connection, `None` when idle, paused or unlimited.
    pub(super) fn read_deadline(&self, conn: &Conn) -> Option<Instant> {
        if conn.paused || !matches!(conn.phase, ConnPhase::Open) {
            return None;
        }
        let front = conn.sent.front()?;
        let limit = match self.flows.get(&front.tag.id) {
            Some(f) if f.is_current(front.tag) => f.limits.read,
            _ => self.options.read_timeout,
        }?;
        Some(conn.last_activity + limit)
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut next = earliest(self.pool.next_expiry(), self.dns.next_deadline());
        for f in self.flows.values() {
            next = earliest(next, f.deadline);
            if let State::Backoff(t) = f.state {
                next = earliest(next, Some(t));
            }
        }
        for conn in self.conns.values() {
            next = earliest(next, conn.stack_timeout());
            match conn.phase {
                // A stream's connect is bounded by the stream machine's own idle timeout.
                _ if conn.role != Role::Pooled => {}
                ConnPhase::Connecting { deadline, .. } => next = earliest(next, Some(deadline)),
                ConnPhase::Open => next = earliest(next, self.read_deadline(conn)),
            }
        }
        for h in self.hosts.values() {
            if h.down && h.retry_at > now {
                next = earliest(next, Some(h.retry_at));
            }
        }
        for s in self.streams.values() {
            next = earliest(next, s.timeout());
        }
        next
    }

    /// An error with the request's context: method, URL without credentials, attempt, last success.
    pub(super) fn context_error(&self, now: Instant, flow: &Flow, kind: ErrorKind) -> Error {
        Error::new(kind).with_context(Context {
            method: flow.req.method().clone(),
            url: flow.req.url().redacted(),
            attempt: flow.attempt,
            last_success: self.last_success.as_ref().map(|l| l.describe(now)),
        })
    }

    /// Close a connection nobody is waiting on (idle, or orphaned), emitting its one `Close`.
    pub(super) fn close_quietly(&mut self, c: ConnId) {
        if let Some(conn) = self.conns.remove(&c) {
            if conn.role == Role::Pooled {
                self.pool.closed(&conn.key, c);
            }
            if let Some(b) = conn.batch {
                if let Some(batch) = self.batches.get_mut(&b) {
                    batch.conn = None;
                }
            }
            self.out.push_back(Output::Close(c));
        }
    }
}
