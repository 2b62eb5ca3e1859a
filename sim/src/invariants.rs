//! The invariant checker: what must hold on every simulated run, whatever the faults.
//!
//! It watches the owner's side (every event the machine emits, every abort), the wire (every open
//! connection, after every step) and the servers' records (what was executed), and keeps the first violation.

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;

use super::net::{ConnKind, LinkView};
use super::server::{ReceivedRequest, SrvConn, TAG_HEADER};
use super::workload::{body_for, ReqSpec};
use plue_http_core::client::{Event, Options, RequestId};
use plue_http_core::error::ErrorKind;
use plue_http_core::sse::StreamEvent;
use plue_http_core::time::Instant;

/// Slack allowed past a deadline (the machine fires its own timers; only its rounding is forgiven).
pub const SLACK: Duration = Duration::from_millis(1);

/// Which rule broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// Every request ends exactly once (one `Done` or `Failed`), and nothing comes after its end.
    ExactlyOnce,
    /// Every request ends by its whole-request deadline (plus [`SLACK`]); an abort ends it at once.
    Deadline,
    /// The server never executed twice a request that is not idempotent and carries no key or opt-in.
    NoDuplicateExecution,
    /// Per-host and total connection caps hold after every step.
    PoolCap,
    /// No connection is left open at the end.
    NoLeak,
    /// An event stream never holds two connections.
    StreamSingleConnection,
    /// Connections are used as DESIGN.md says: pipelining only in batches, never behind a non-idempotent
    /// request, never before the connection completed a response; an event stream's connection is never reused.
    ConnectionUse,
    /// Events are in order and each response belongs to its request (tag, body, stream data).
    Response,
    /// The machine used a connection in a way a driver cannot honour (after close, before connect).
    DriverContract,
    /// The run could not make progress (stuck or livelocked).
    Progress,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which.
    pub invariant: Invariant,
    /// When (virtual time).
    pub at: Instant,
    /// What exactly.
    pub detail: String,
    /// The tags of the requests or streams concerned, separated by spaces, when there are any (the traced
    /// replay follows their history).
    pub subject: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} broken at t={:.3}s: {}",
            self.invariant,
            self.at.as_nanos() as f64 / 1e9,
            self.detail
        )
    }
}

#[derive(Debug)]
struct Tracked {
    tag: String,
    host: usize,
    stream: bool,
    issued: Instant,
    deadline: Option<Instant>,
    aborted_at: Option<Instant>,
    status: Option<u16>,
    content_length: Option<usize>,
    body: Vec<u8>,
    ended: Option<(Instant, Result<(), ErrorKind>)>,
}

/// Counters of what a run did, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests and streams issued.
    pub issued: usize,
    /// Requests that ended with a complete response.
    pub done: usize,
    /// Requests and streams that ended with an error.
    pub failed: usize,
    /// Of those, aborted.
    pub aborted: usize,
    /// SSE events received.
    pub sse_events: usize,
    /// Requests that ended with `MaybeProcessed` (not replayed because the server may have executed them).
    pub maybe_processed: usize,
    /// Requests that ended with a timeout of any phase.
    pub timeouts: usize,
    /// Event-stream reconnects announced.
    pub reconnects: usize,
    /// Requests the servers received pipelined (before the previous reply on their connection was finished).
    pub pipelined: usize,
}

impl core::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.issued += o.issued;
        self.done += o.done;
        self.failed += o.failed;
        self.aborted += o.aborted;
        self.sse_events += o.sse_events;
        self.maybe_processed += o.maybe_processed;
        self.timeouts += o.timeouts;
        self.reconnects += o.reconnects;
        self.pipelined += o.pipelined;
    }
}

/// Checks the invariants. See the module docs.
#[derive(Debug)]
pub struct Checker {
    pool_size: usize,
    max_connections: usize,
    timeout: Option<Duration>,
    tracked: BTreeMap<RequestId, Tracked>,
    violation: Option<Violation>,
    stats: Stats,
    shutting_down: bool,
    /// Executions counted per tag of requests that must not repeat.
    executed: BTreeMap<String, u32>,
}

impl Checker {
    /// A checker for a client with these options.
    pub fn new(options: &Options) -> Checker {
        Checker {
            pool_size: options.pool_size,
            max_connections: options.max_connections,
            timeout: options.timeout,
            tracked: BTreeMap::new(),
            violation: None,
            stats: Stats::default(),
            shutting_down: false,
            executed: BTreeMap::new(),
        }
    }

    /// The first violation, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// What the run did.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Record a violation (the first one is kept).
    pub fn fail(&mut self, at: Instant, invariant: Invariant, detail: String) {
        self.fail_about(at, invariant, None, detail);
    }

    /// Record a violation concerning the request or stream tagged `subject`.
    pub fn fail_about(
        &mut self,
        at: Instant,
        invariant: Invariant,
        subject: Option<&str>,
        detail: String,
    ) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                invariant,
                at,
                detail,
                subject: subject.map(str::to_string),
            });
        }
    }

    /// The owner started a request (`stream: false`) or an event stream.
    pub fn issued(&mut self, now: Instant, id: RequestId, spec: &ReqSpec, stream: bool) {
        self.stats.issued += 1;
        let deadline = if stream {
            None
        } else {
            self.timeout.map(|t| now + t + SLACK)
        };
        let old = self.tracked.insert(
            id,
            Tracked {
                tag: spec.tag.clone(),
                host: spec.host,
                stream,
                issued: now,
                deadline,
                aborted_at: None,
                status: None,
                content_length: None,
                body: Vec::new(),
                ended: None,
            },
        );
        if old.is_some() {
            self.fail(
                now,
                Invariant::ExactlyOnce,
                format!("{id:?} handed out twice"),
            );
        }
    }

    /// The owner aborted `id`.
    pub fn aborted(&mut self, now: Instant, id: RequestId) {
        if let Some(t) = self.tracked.get_mut(&id) {
            if t.ended.is_none() && t.aborted_at.is_none() {
                t.aborted_at = Some(now);
            }
        }
    }

    /// The owner is shutting the client down: pending requests may now end with `Shutdown`.
    pub fn shutting_down(&mut self) {
        self.shutting_down = true;
    }

    /// `true` when every request and stream has ended.
    pub fn all_ended(&self) -> bool {
        self.tracked.values().all(|t| t.ended.is_some())
    }

    /// Streams that have not ended.
    pub fn live_streams(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.tracked
            .values()
            .filter(|t| t.stream && t.ended.is_none())
            .map(|t| (t.tag.as_str(), t.host))
    }

    /// The machine emitted `ev`.
    pub fn event(&mut self, now: Instant, ev: &Event) {
        let id = ev.id();
        let Some(t) = self.tracked.get_mut(&id) else {
            return self.fail(
                now,
                Invariant::ExactlyOnce,
                format!("event for unknown {id:?}: {ev:?}"),
            );
        };
        if let Some((at, _)) = &t.ended {
            let detail = format!(
                "{} ({id:?}) got {} after it ended at {at:?}",
                t.tag,
                short(ev)
            );
            let tag = t.tag.clone();
            return self.fail_about(now, Invariant::ExactlyOnce, Some(&tag), detail);
        }
        let mut problem: Option<(Invariant, String)> = None;
        match ev {
            Event::Head { head, .. } => {
                if t.stream {
                    problem = Some((Invariant::Response, format!("stream {} got a Head", t.tag)));
                } else if t.status.is_some() {
                    problem = Some((Invariant::Response, format!("{} got two heads", t.tag)));
                } else {
                    t.status = Some(head.status.as_u16());
                    t.content_length = head.header("content-length").and_then(|v| v.parse().ok());
                    match head.header(TAG_HEADER) {
                        Some(tag) if tag == t.tag => {}
                        other => {
                            problem = Some((
                                Invariant::Response,
                                format!(
                                    "{} got the response of {:?} (status {})",
                                    t.tag, other, head.status
                                ),
                            ))
                        }
                    }
                }
            }
            Event::Body { data, .. } => {
                if t.status.is_none() {
                    problem = Some((
                        Invariant::Response,
                        format!("{} got body before head", t.tag),
                    ));
                } else {
                    t.body.extend_from_slice(data);
                }
            }
            Event::Done { .. } => {
                self.stats.done += 1;
                if t.stream {
                    problem = Some((
                        Invariant::Response,
                        format!("stream {} ended with Done", t.tag),
                    ));
                } else if t.status.is_none() {
                    problem = Some((
                        Invariant::Response,
                        format!("{} done without a head", t.tag),
                    ));
                } else if t.status == Some(200) {
                    if t.body[..] != body_for(&t.tag, t.body.len())[..] {
                        problem = Some((
                            Invariant::Response,
                            format!("{} body is not its own", t.tag),
                        ));
                    } else if t.content_length.is_some_and(|n| n != t.body.len()) {
                        problem = Some((
                            Invariant::Response,
                            format!(
                                "{} body has {} bytes, content-length said {:?}",
                                t.tag,
                                t.body.len(),
                                t.content_length
                            ),
                        ));
                    }
                }
                t.ended = Some((now, Ok(())));
            }
            Event::Failed { error, .. } => {
                self.stats.failed += 1;
                let kind = error.kind().clone();
                match kind {
                    ErrorKind::MaybeProcessed { .. } => self.stats.maybe_processed += 1,
                    ErrorKind::Timeout { .. } => self.stats.timeouts += 1,
                    _ => {}
                }
                if kind == ErrorKind::Aborted {
                    self.stats.aborted += 1;
                    if t.aborted_at.is_none() {
                        problem = Some((
                            Invariant::Response,
                            format!("{} failed Aborted but was never aborted", t.tag),
                        ));
                    }
                }
                if kind == ErrorKind::Shutdown && !self.shutting_down {
                    problem = Some((
                        Invariant::Response,
                        format!("{} failed Shutdown before shutdown", t.tag),
                    ));
                }
                t.ended = Some((now, Err(kind)));
            }
            Event::Stream { event, .. } => {
                if !t.stream {
                    problem = Some((
                        Invariant::Response,
                        format!("request {} got a stream event", t.tag),
                    ));
                } else if let StreamEvent::Reconnecting { .. } = event {
                    self.stats.reconnects += 1;
                } else if let StreamEvent::Event(e) = event {
                    self.stats.sse_events += 1;
                    if !e.data.starts_with(&format!("{}:", t.tag)) {
                        problem = Some((
                            Invariant::Response,
                            format!("stream {} got event data {:?}", t.tag, e.data),
                        ));
                    }
                }
            }
        }
        if let Some((at, _)) = t.ended {
            if let Some(d) = t.deadline {
                if at > d {
                    let late = at - d + SLACK;
                    problem = problem.or(Some((
                        Invariant::Deadline,
                        format!(
                            "{} ended {:?} after its whole-request deadline",
                            t.tag, late
                        ),
                    )));
                }
            }
            if let Some(a) = t.aborted_at {
                if at > a + SLACK {
                    problem = problem.or(Some((
                        Invariant::Deadline,
                        format!("{} ended {:?} after it was aborted", t.tag, at - a),
                    )));
                }
            }
        }
        if let Some((inv, detail)) = problem {
            let tag = t.tag.clone();
            self.fail_about(now, inv, Some(&tag), detail);
        }
    }

    /// Check connection caps and stream connections against the connections the client holds now.
    pub fn connections(&mut self, now: Instant, links: impl Iterator<Item = LinkView>) {
        // Streams with a connection identified by its first request.
        let mut stream_conns: BTreeMap<String, usize> = BTreeMap::new();
        let mut pool_per_host: BTreeMap<usize, usize> = BTreeMap::new();
        let mut unknown_per_host: BTreeMap<usize, usize> = BTreeMap::new();
        for l in links {
            match &l.kind {
                ConnKind::Tagged(Some(tag)) if tag.starts_with('s') => {
                    *stream_conns.entry(tag.clone()).or_default() += 1;
                }
                ConnKind::Unknown => *unknown_per_host.entry(l.host).or_default() += 1,
                ConnKind::Tagged(_) => *pool_per_host.entry(l.host).or_default() += 1,
            }
        }
        for (tag, n) in &stream_conns {
            if *n > 1 {
                return self.fail(
                    now,
                    Invariant::StreamSingleConnection,
                    format!("stream {tag} holds {n} connections"),
                );
            }
        }
        // A live stream that has no identified connection may own one of the unknown (not yet written) ones.
        let mut spare: BTreeMap<usize, usize> = BTreeMap::new();
        for (tag, host) in self.live_streams() {
            if !stream_conns.contains_key(tag) {
                *spare.entry(host).or_default() += 1;
            }
        }
        let mut hosts: Vec<usize> = pool_per_host
            .keys()
            .chain(unknown_per_host.keys())
            .copied()
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        let mut distinct = 0;
        for h in hosts {
            let pool = pool_per_host.get(&h).copied().unwrap_or(0);
            let unknown = unknown_per_host.get(&h).copied().unwrap_or(0);
            let count = pool + unknown.saturating_sub(spare.get(&h).copied().unwrap_or(0));
            if count > self.pool_size {
                return self.fail(
                    now,
                    Invariant::PoolCap,
                    format!(
                        "host {h} has {count} pool connections open, pool_size is {}",
                        self.pool_size
                    ),
                );
            }
            distinct += count;
        }
        if distinct > self.max_connections {
            self.fail(
                now,
                Invariant::PoolCap,
                format!(
                    "{distinct} pool connections open across hosts, max_connections is {}",
                    self.max_connections
                ),
            );
        }
    }

    /// Check newly received requests from the servers' records: no request that must not repeat may be executed
    /// twice. Call with each record entry once (the runner feeds new entries after every step).
    pub fn executions<'a>(
        &mut self,
        now: Instant,
        must_not_repeat: &BTreeMap<String, ReqSpec>,
        received: impl Iterator<Item = &'a ReceivedRequest>,
    ) {
        for r in received {
            let Some(tag) = r.tag() else { continue };
            let Some(spec) = must_not_repeat.get(tag) else {
                continue;
            };
            if r.executed && r.method == spec.method {
                let n = self.executed.entry(tag.to_string()).or_default();
                *n += 1;
                if *n > 1 {
                    let detail = format!(
                        "{} {} (tag {tag}, no Idempotency-Key, no opt-in) was executed {n} times by the server",
                        spec.method, r.target
                    );
                    return self.fail_about(
                        now,
                        Invariant::NoDuplicateExecution,
                        Some(tag),
                        detail,
                    );
                }
            }
        }
    }

    /// Check how connections were used, from one server's record (`host` names it in reports).
    pub fn connection_use(&mut self, now: Instant, host: usize, log: &[ReceivedRequest]) {
        let mut by_conn: BTreeMap<SrvConn, Vec<&ReceivedRequest>> = BTreeMap::new();
        for r in log {
            by_conn.entry(r.conn).or_default().push(r);
        }
        for list in by_conn.values() {
            let first = list[0];
            for pair in list.windows(2) {
                let (prev, r) = (pair[0], pair[1]);
                let tag = r.tag().unwrap_or("?");
                let prev_tag = prev.tag().unwrap_or("?");
                if prev_tag.starts_with('s') {
                    let detail = format!(
                        "host {host}: {tag} was sent on the connection of event stream {prev_tag}"
                    );
                    return self.fail(now, Invariant::ConnectionUse, detail);
                }
                // Arrived before the previous reply was finished: the client did not wait for it.
                let pipelined = prev.answered_at.is_none_or(|t| r.at < t);
                if !pipelined {
                    continue;
                }
                self.stats.pipelined += 1;
                let problem = if !tag.starts_with('b') {
                    Some("a request that is not part of a batch was pipelined")
                } else if !plue_http_core::request::is_idempotent(&prev.method) {
                    Some("pipelined behind a non-idempotent request")
                } else if first.answered_at.is_none_or(|t| r.at < t) {
                    Some("pipelined before the connection completed a response")
                } else {
                    None
                };
                if let Some(p) = problem {
                    let detail = format!(
                        "host {host}: {p}: {} {tag} arrived at {:?} on server connection {} while {} {prev_tag} \
                         was unanswered (answered at {:?})",
                        r.method, r.at, r.conn.0, prev.method, prev.answered_at
                    );
                    let subject = format!("{tag} {prev_tag}");
                    return self.fail_about(now, Invariant::ConnectionUse, Some(&subject), detail);
                }
            }
        }
    }

    /// At the end of the workload: every request and stream must have ended.
    pub fn finish(&mut self, now: Instant) {
        let pending: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.ended.is_none())
            .map(|(id, t)| {
                format!(
                    "{} ({id:?}, issued at {:.3}s{})",
                    t.tag,
                    t.issued.as_nanos() as f64 / 1e9,
                    if t.aborted_at.is_some() {
                        ", aborted"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        if !pending.is_empty() {
            self.fail(
                now,
                Invariant::ExactlyOnce,
                format!("never ended: {}", pending.join(", ")),
            );
        }
    }

    /// After cleanup or shutdown: nothing may be left open, on the wire or in the machine.
    pub fn no_leak(&mut self, now: Instant, when: &str, wire_open: usize, machine_open: usize) {
        if wire_open > 0 || machine_open > 0 {
            self.fail(
                now,
                Invariant::NoLeak,
                format!("{when}: {wire_open} connections open on the wire, machine reports {machine_open}"),
            );
        }
    }
}

fn short(ev: &Event) -> String {
    match ev {
        Event::Head { head, .. } => format!("Head({})", head.status),
        Event::Body { data, .. } => format!("Body({} bytes)", data.len()),
        Event::Done { .. } => "Done".into(),
        Event::Failed { error, .. } => format!("Failed({:?})", error.kind()),
        Event::Stream { event, .. } => format!("Stream({event:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Method};
    use plue_http_core::error::Error;

    fn spec(tag: &str, method: Method) -> ReqSpec {
        ReqSpec {
            tag: tag.into(),
            host: 0,
            method,
            url: format!("http://10.0.0.1:8080/r/{tag}"),
            idempotency_key: false,
            opt_in: false,
            body: None,
        }
    }

    fn received(tag: &str, method: Method, executed: bool) -> ReceivedRequest {
        let mut headers = HeaderMap::new();
        headers.insert(TAG_HEADER, tag.parse().unwrap());
        ReceivedRequest {
            conn: SrvConn(1),
            index_on_conn: 0,
            at: Instant::ZERO,
            method,
            target: format!("/r/{tag}"),
            headers,
            body: bytes::Bytes::new(),
            status: Some(200),
            executed,
            answered_at: Some(Instant::ZERO),
        }
    }

    #[test]
    fn sim_checker_catches_synthetic_double_execution() {
        let mut c = Checker::new(&Options::default());
        let mut unsafe_reqs = BTreeMap::new();
        unsafe_reqs.insert("r1".to_string(), spec("r1", Method::POST));
        // One execution plus a non-executed attempt (a 503) is fine, and so are idempotent repeats.
        let ok = [
            received("r1", Method::POST, true),
            received("r1", Method::POST, false),
            received("r2", Method::PUT, true),
            received("r2", Method::PUT, true),
        ];
        c.executions(Instant::ZERO, &unsafe_reqs, ok.iter());
        assert!(c.violation().is_none());
        // The same POST executed again, reported later, is caught, naming the invariant.
        let again = [received("r1", Method::POST, true)];
        c.executions(Instant::ZERO, &unsafe_reqs, again.iter());
        let v = c.violation().expect("a double execution must be caught");
        assert_eq!(v.invariant, Invariant::NoDuplicateExecution);
        assert!(v.detail.contains("r1"));
    }

    #[test]
    fn sim_checker_catches_double_end_late_end_and_caps() {
        let opts = Options {
            timeout: Some(Duration::from_secs(1)),
            pool_size: 1,
            ..Options::default()
        };
        let mut c = Checker::new(&opts);
        let id = RequestId(1);
        c.issued(Instant::ZERO, id, &spec("r1", Method::GET), false);
        let failed = Event::Failed {
            id,
            error: Error::new(ErrorKind::Timeout {
                phase: plue_http_core::error::Phase::Request,
            }),
        };
        c.event(Instant::from_millis(1_000), &failed);
        assert!(c.violation().is_none());
        c.event(Instant::from_millis(1_000), &failed);
        assert_eq!(c.violation().unwrap().invariant, Invariant::ExactlyOnce);

        let mut c = Checker::new(&opts);
        c.issued(Instant::ZERO, id, &spec("r1", Method::GET), false);
        c.event(Instant::from_millis(2_000), &failed);
        assert_eq!(c.violation().unwrap().invariant, Invariant::Deadline);

        let mut c = Checker::new(&opts);
        let links = (0..2).map(|i| LinkView {
            conn: plue_http_core::client::ConnId(i),
            host: 0,
            kind: ConnKind::Tagged(Some(format!("r{i}"))),
        });
        c.connections(Instant::ZERO, links);
        assert_eq!(c.violation().unwrap().invariant, Invariant::PoolCap);

        let mut c = Checker::new(&opts);
        c.issued(Instant::ZERO, RequestId(9), &spec("s9", Method::GET), true);
        let links = (0..2).map(|i| LinkView {
            conn: plue_http_core::client::ConnId(i),
            host: 0,
            kind: ConnKind::Tagged(Some("s9".into())),
        });
        c.connections(Instant::ZERO, links);
        assert_eq!(
            c.violation().unwrap().invariant,
            Invariant::StreamSingleConnection
        );
        c.finish(Instant::ZERO);
    }
}
