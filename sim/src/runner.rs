//! The runner: one seed → one workload, driven through the client machine and the simulated network on a
//! virtual clock, with every invariant checked as it goes.
//!
//! The loop is the driver loop of any runtime, with the world replaced: drain the machine until `Wait`, hand its
//! outputs to the network, feed the network's inputs back, and jump the clock to the next thing that can happen.
//! A failing seed is run a second time with tracing on (runs are deterministic, so the trace is the failing
//! run's) and reported with its replay command.

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use super::clock::{Agenda, SimClock};
use super::invariants::{Checker, Invariant, Stats, Violation};
use super::net::{NetInput, SimHost, SimNet};
use super::server::{ScriptedServer, TAG_HEADER};
use super::workload::{OpKind, ReqSpec, Workload};
use plue_http_core::client::{ClientMachine, Event, Input, Output, RequestId, StreamOptions};
use plue_http_core::request::Request;
use plue_http_core::time::{earliest, Instant};

/// Machine steps (outputs drained plus inputs fed) before a run is declared livelocked.
const MAX_STEPS: u64 = 2_000_000;
/// Virtual time after which a run that has not finished is declared stuck.
const MAX_VIRTUAL: Duration = Duration::from_secs(600);
/// Lines of trace kept for a failure report.
const TRACE_LINES: usize = 60;

/// What a passing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Operations in the workload.
    pub ops: usize,
    /// Requests and streams issued, completed, failed.
    pub stats: Stats,
    /// Requests the servers received (attempts included).
    pub server_requests: usize,
    /// Machine steps taken.
    pub steps: u64,
    /// What the network did (faults exercised).
    pub net: super::net::NetStats,
    /// Virtual time the run covered.
    pub virtual_time: Duration,
    /// The last lines of the trace when the run was traced, else empty.
    pub trace: Vec<String>,
    /// The followed subject's history when the run was traced with one (see [`run_traced`]).
    pub history: Vec<String>,
}

/// A failing run: the seed, the broken invariant, and the end of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed; [`run_seed`] with it replays the run exactly.
    pub seed: u64,
    /// What broke.
    pub violation: Violation,
    /// The last lines of the run's trace (inputs, outputs, owner actions, server receipts).
    pub trace: Vec<String>,
    /// Every traced line about the violation's subject (its tag and request ids), from the start of the run.
    pub history: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation seed {} failed: {}",
            self.seed, self.violation
        )?;
        let features = if cfg!(feature = "fault-replay-written") {
            " --features fault"
        } else {
            ""
        };
        writeln!(
            f,
            "replay: PLUE_SIM_SEED={} cargo test -p plue-http-tests{features} --test sim sim_replay_seed -- --nocapture",
            self.seed
        )?;
        if let Some(subject) = &self.violation.subject {
            writeln!(f, "history of {subject} ({} lines):", self.history.len())?;
            for line in &self.history {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "trace tail ({} lines):", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Run the workload of `seed` and check every invariant. On failure the run is repeated with tracing to fill
/// [`Failure::trace`].
pub fn run_seed(seed: u64) -> Result<RunReport, Failure> {
    match run_workload(seed, Workload::generate(seed), false) {
        Ok(r) => Ok(r),
        Err(mut f) => {
            let focus = f.violation.subject.clone();
            if let Err(traced) = run_traced(seed, Workload::generate(seed), focus) {
                f.trace = traced.trace;
                f.history = traced.history;
            }
            Err(f)
        }
    }
}

/// Run with tracing, keeping also the whole history of the request or stream tagged `focus`.
pub fn run_traced(
    seed: u64,
    workload: Workload,
    focus: Option<String>,
) -> Result<RunReport, Failure> {
    run_inner(seed, workload, true, focus)
}

/// Run a given workload (scenario tests build their own) with the machine seeded by `seed`.
pub fn run_workload(seed: u64, workload: Workload, trace: bool) -> Result<RunReport, Failure> {
    run_inner(seed, workload, trace, None)
}

fn run_inner(
    seed: u64,
    workload: Workload,
    trace: bool,
    focus: Option<String>,
) -> Result<RunReport, Failure> {
    let mut sim = Sim::new(seed, workload, trace)?;
    sim.focus = focus.map(|subject| Focus {
        tags: subject.split(' ').map(str::to_string).collect(),
        ids: Vec::new(),
        lines: Vec::new(),
    });
    sim.run();
    match sim.checker.violation() {
        None => Ok(RunReport {
            seed,
            ops: sim.ops.len(),
            stats: sim.checker.stats(),
            server_requests: sim
                .net
                .hosts()
                .iter()
                .map(|h| h.server.requests().len())
                .sum(),
            steps: sim.steps,
            net: sim.net.stats(),
            virtual_time: sim.clock.now() - Instant::ZERO,
            trace: sim.trace.map(Vec::from).unwrap_or_default(),
            history: sim.focus.map(|f| f.lines).unwrap_or_default(),
        }),
        Some(v) => Err(Failure {
            seed,
            violation: v.clone(),
            trace: sim.trace.map(Vec::from).unwrap_or_default(),
            history: sim.focus.map(|f| f.lines).unwrap_or_default(),
        }),
    }
}

/// The request or stream a traced replay follows from the start.
struct Focus {
    tags: Vec<String>,
    /// `RequestId(n)` spellings of the ids it was given and `ConnId(n)` of the connections that carried it.
    ids: Vec<String>,
    lines: Vec<String>,
}

/// `true` when `line` names `tag` as a whole word (`r1` is not in `r13`).
fn contains_tag(line: &str, tag: &str) -> bool {
    line.match_indices(tag).any(|(i, _)| {
        let after = line[i + tag.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
    })
}

impl Focus {
    fn matches(&self, line: &str) -> bool {
        self.tags.iter().any(|t| contains_tag(line, t))
            || self.ids.iter().any(|id| line.contains(id.as_str()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Start(usize),
    AbortStream(usize),
    /// A network change, wake-up or memory-pressure event (see `lifecycle.rs`).
    Life(super::lifecycle::LifeEvent),
}

struct Sim {
    clock: SimClock,
    client: ClientMachine,
    net: SimNet,
    checker: Checker,
    ops: Vec<super::workload::Op>,
    actions: Agenda<Action>,
    ids: Vec<Vec<RequestId>>,
    must_not_repeat: BTreeMap<String, ReqSpec>,
    client_deadline: Option<Instant>,
    /// The connection, reads and bytes of the trace's last line when it is a folded run of reads.
    last_data: Option<(plue_http_core::client::ConnId, usize, usize)>,
    /// Per host: server record entries already checked for executions.
    seen: Vec<usize>,
    steps: u64,
    idle_timeout: Duration,
    trace: Option<VecDeque<String>>,
    focus: Option<Focus>,
}

impl Sim {
    fn new(seed: u64, w: Workload, trace: bool) -> Result<Sim, Failure> {
        let checker = Checker::new(&w.options);
        let idle_timeout = w.options.pool_idle_timeout;
        let client = ClientMachine::new(w.options, seed).map_err(|e| Failure {
            seed,
            violation: Violation {
                invariant: Invariant::Progress,
                at: Instant::ZERO,
                detail: format!("the machine refused the options: {e}"),
                subject: None,
            },
            trace: Vec::new(),
            history: Vec::new(),
        })?;
        let hosts_len = w.hosts.len();
        let hosts = w
            .hosts
            .into_iter()
            .map(|h| {
                let server = ScriptedServer::with_handler(Box::new(h.script), h.config);
                SimHost::new(h.addr, h.name.as_deref(), server)
            })
            .collect();
        let net = SimNet::new(hosts, w.faults, seed);
        let mut actions = Agenda::new();
        let mut must_not_repeat = BTreeMap::new();
        let end = w.ops.last().map_or(Instant::ZERO, |o| o.at);
        for (at, ev) in super::lifecycle::schedule(seed, end) {
            actions.push(at, Action::Life(ev));
        }
        for (i, op) in w.ops.iter().enumerate() {
            actions.push(op.at, Action::Start(i));
            let specs: Vec<&ReqSpec> = match &op.kind {
                OpKind::Request(s) => vec![s],
                OpKind::Batch(v) => v.iter().collect(),
                _ => Vec::new(),
            };
            for s in specs.into_iter().filter(|s| s.must_not_repeat()) {
                must_not_repeat.insert(s.tag.clone(), s.clone());
            }
        }
        Ok(Sim {
            clock: SimClock::new(),
            client,
            net,
            checker,
            ids: vec![Vec::new(); w.ops.len()],
            ops: w.ops,
            actions,
            must_not_repeat,
            client_deadline: None,
            seen: vec![0; hosts_len],
            last_data: None,
            steps: 0,
            idle_timeout,
            trace: trace.then(VecDeque::new),
            focus: None,
        })
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        self.last_data = None;
        if let Some(t) = &mut self.trace {
            let what = what();
            // Runs of one-byte writes and reads would fill the tail: fold repeats of the same step into a count.
            if let Some(last) = t.back_mut() {
                if let Some((body, count)) = last.split_once(" ×") {
                    if body.ends_with(what.as_str()) {
                        let n: u64 = count.parse().unwrap_or(1);
                        *last = format!("{body} ×{}", n + 1);
                        return;
                    }
                } else if last.ends_with(what.as_str()) && !what.starts_with("owner") {
                    last.push_str(" ×2");
                    return;
                }
            }
            let now = self.clock.now().as_nanos() as f64 / 1e9;
            let mut line = format!("{now:>10.6}s {what}");
            if let Some(f) = &mut self.focus {
                if f.matches(&what) && f.lines.len() < 400 {
                    f.lines.push(line.clone());
                    // Follow the connections that carried the subject, so their reads and failures show too.
                    if let Some(rest) = what.strip_prefix("out Transmit(") {
                        if let Some(conn) = rest.split(',').next() {
                            if !f.ids.iter().any(|i| i == conn) {
                                f.ids.push(conn.to_string());
                            }
                        }
                    }
                }
            }
            if line.len() > 240 {
                let mut cut = 240;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            if t.len() == TRACE_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }

    fn broken(&self) -> bool {
        self.checker.violation().is_some()
    }

    fn run(&mut self) {
        self.workload_phase();
        if self.broken() {
            return;
        }
        let now = self.clock.now();
        self.checker.finish(now);
        self.check_connection_use();
        if self.broken() {
            return;
        }
        // Let every idle connection outlive its lifetime, then ask the pool to evict: nothing may stay open.
        let end = now + self.idle_timeout + Duration::from_secs(1);
        self.advance_until(end);
        self.clock.advance_to(end);
        let now = self.clock.now();
        self.note(|| "owner: cleanup".into());
        self.client.cleanup(now);
        self.drain();
        self.settle();
        let (wire, machine) = (self.net.open_connections(), self.client.open_connections());
        self.checker
            .no_leak(now, "after cleanup past pool_idle_timeout", wire, machine);
        self.checker.shutting_down();
        self.note(|| "owner: shutdown".into());
        self.client.shutdown(now);
        self.drain();
        self.settle();
        let (wire, machine) = (self.net.open_connections(), self.client.open_connections());
        self.checker.no_leak(now, "after shutdown", wire, machine);
        if self.client.in_flight() > 0 {
            let n = self.client.in_flight();
            self.checker.fail(
                now,
                Invariant::NoLeak,
                format!("{n} requests in flight after shutdown"),
            );
        }
        self.check_new_executions();
    }

    /// Feed the servers' new record entries to the execution check.
    fn check_new_executions(&mut self) {
        let now = self.clock.now();
        for (i, h) in self.net.hosts().iter().enumerate() {
            let log = h.server.requests();
            if log.len() > self.seen[i] {
                let new = &log[self.seen[i]..];
                if let Some(t) = &mut self.trace {
                    for r in new {
                        let line = format!(
                            "{:>10.6}s server {i} received {} {} (tag {}, server conn {}, request #{} on it)",
                            now.as_nanos() as f64 / 1e9,
                            r.method,
                            r.target,
                            r.tag().unwrap_or("-"),
                            r.conn.0,
                            r.index_on_conn + 1
                        );
                        if let Some(f) = &mut self.focus {
                            if f.matches(&line) {
                                f.lines.push(line.clone());
                            }
                        }
                        t.push_back(line);
                        if t.len() > TRACE_LINES {
                            t.pop_front();
                        }
                    }
                }
                self.checker
                    .executions(now, &self.must_not_repeat, new.iter());
                self.seen[i] = log.len();
            }
        }
    }

    fn check_connection_use(&mut self) {
        let now = self.clock.now();
        for (i, h) in self.net.hosts().iter().enumerate() {
            self.checker.connection_use(now, i, h.server.requests());
        }
    }

    /// Run until every operation is started and every request and stream has ended.
    fn workload_phase(&mut self) {
        loop {
            self.settle();
            if self.broken() || (self.actions.is_empty() && self.checker.all_ended()) {
                return;
            }
            let Some(next) = self.next_time() else {
                let now = self.clock.now();
                self.checker.fail(
                    now,
                    Invariant::Progress,
                    "nothing is scheduled but requests are still pending".into(),
                );
                return;
            };
            if next - Instant::ZERO > MAX_VIRTUAL {
                let now = self.clock.now();
                self.checker.fail(
                    now,
                    Invariant::Progress,
                    format!("still running after {MAX_VIRTUAL:?} of virtual time"),
                );
                return;
            }
            self.clock.advance_to(next);
        }
    }

    /// Process everything up to `end` (no owner actions remain).
    fn advance_until(&mut self, end: Instant) {
        loop {
            self.settle();
            if self.broken() {
                return;
            }
            match self.next_time() {
                Some(t) if t <= end => self.clock.advance_to(t),
                _ => return,
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        earliest(
            earliest(self.actions.next_at(), self.client_deadline),
            self.net.next_deadline(),
        )
        .map(|t| t.max(self.clock.now()))
    }

    /// Do everything due at the current instant.
    fn settle(&mut self) {
        let now = self.clock.now();
        while let Some((_, a)) = self.actions.pop_due(now) {
            self.act(now, a);
            self.drain();
        }
        if self.client_deadline.is_some_and(|d| d <= now) {
            self.client_deadline = None;
            self.note(|| "in  Timeout".into());
            self.client.handle_input(now, Input::Timeout);
            self.drain();
        }
        while let Some(input) = self.net.poll_input(now) {
            if self.broken() {
                return;
            }
            self.note_input(&input);
            if let NetInput::Connected(c) = input {
                self.client
                    .set_local_addr(c, super::lifecycle::local_addr(c));
            }
            self.client.handle_input(now, input.as_input());
            self.drain();
            self.check_new_executions();
        }
    }

    fn act(&mut self, now: Instant, a: Action) {
        match a {
            Action::Start(i) => match self.ops[i].kind.clone() {
                OpKind::Request(spec) => {
                    let Some(req) = self.build(&spec) else { return };
                    let id = self.client.request(now, req);
                    self.note(|| {
                        format!(
                            "owner: request {} {} {} -> {id:?}",
                            spec.tag, spec.method, spec.url
                        )
                    });
                    self.checker.issued(now, id, &spec, false);
                    self.follow(&spec.tag, id);
                    self.ids[i] = vec![id];
                }
                OpKind::Batch(specs) => {
                    let reqs: Option<Vec<Request>> = specs.iter().map(|s| self.build(s)).collect();
                    let Some(reqs) = reqs else { return };
                    let ids = self.client.batch(now, reqs);
                    self.note(|| {
                        let tags: Vec<String> = specs
                            .iter()
                            .map(|s| format!("{} {}", s.tag, s.method))
                            .collect();
                        format!("owner: batch [{}] -> {ids:?}", tags.join(", "))
                    });
                    for (id, spec) in ids.iter().zip(&specs) {
                        self.checker.issued(now, *id, spec, false);
                        self.follow(&spec.tag, *id);
                    }
                    if ids.len() != specs.len() {
                        self.checker.fail(
                            now,
                            Invariant::ExactlyOnce,
                            "batch returned the wrong number of ids".into(),
                        );
                    }
                    self.ids[i] = ids;
                }
                OpKind::Stream { spec, abort_after } => {
                    let Some(req) = self.build(&spec) else { return };
                    let id = self.client.subscribe(now, req, StreamOptions::default());
                    self.note(|| format!("owner: subscribe {} {} -> {id:?}", spec.tag, spec.url));
                    self.checker.issued(now, id, &spec, true);
                    self.follow(&spec.tag, id);
                    self.ids[i] = vec![id];
                    self.actions.push(now + abort_after, Action::AbortStream(i));
                }
                OpKind::Abort { target } => self.abort(now, target),
            },
            Action::AbortStream(i) => self.abort(now, i),
            Action::Life(ev) => {
                self.note(|| format!("owner: {ev:?}"));
                super::lifecycle::apply(&mut self.client, now, ev);
            }
        }
    }

    /// Trace an input; consecutive reads on one connection fold into one line (one-byte splits are common).
    fn note_input(&mut self, input: &NetInput) {
        let Some(t) = &mut self.trace else { return };
        if let NetInput::Data(c, b) = input {
            if let (Some((lc, reads, bytes)), Some(last)) = (&mut self.last_data, t.back_mut()) {
                if lc == c {
                    *reads += 1;
                    *bytes += b.len();
                    if let Some(i) = last.find(" bytes in ") {
                        let start = last[..i].rfind(' ').map_or(0, |k| k + 1);
                        let tail = last[i..]
                            .split_once(" reads")
                            .map_or("", |x| x.1)
                            .to_string();
                        *last = format!(
                            "{}{} bytes in {} reads{}",
                            &last[..start],
                            bytes,
                            reads,
                            tail
                        );
                    }
                    return;
                }
            }
            let preview = String::from_utf8_lossy(&b[..b.len().min(48)]).replace("\r\n", "⏎");
            let line = format!(
                "in  Data({c:?}) {} bytes in 1 reads, first: {preview}",
                b.len()
            );
            self.note(|| line);
            self.last_data = Some((*c, 1, b.len()));
            return;
        }
        self.note(|| format!("in  {input:?}"));
    }

    /// Remember the id the followed tag was given, so lines naming only the id are kept too.
    fn follow(&mut self, tag: &str, id: RequestId) {
        if let Some(f) = &mut self.focus {
            if f.tags.iter().any(|t| t == tag) {
                f.ids.push(format!("{id:?}"));
            }
        }
    }

    fn abort(&mut self, now: Instant, op: usize) {
        for id in self.ids[op].clone() {
            self.note(|| format!("owner: abort {id:?}"));
            self.checker.aborted(now, id);
            self.client.abort(now, id);
        }
    }

    fn build(&mut self, spec: &ReqSpec) -> Option<Request> {
        let mut b =
            Request::builder(spec.method.clone(), spec.url.clone()).header(TAG_HEADER, &spec.tag);
        if spec.idempotency_key {
            b = b.header("idempotency-key", format!("key-{}", spec.tag));
        }
        if spec.opt_in {
            b = b.retry_non_idempotent(true);
        }
        if let Some(body) = &spec.body {
            b = b.body(body.clone());
        }
        match b.build() {
            Ok(r) => Some(r),
            Err(e) => {
                let now = self.clock.now();
                self.checker.fail(
                    now,
                    Invariant::Progress,
                    format!("workload request {} invalid: {e}", spec.tag),
                );
                None
            }
        }
    }

    /// Drain the machine until `Wait`, carrying out its outputs.
    fn drain(&mut self) {
        loop {
            let now = self.clock.now();
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.checker.fail(
                    now,
                    Invariant::Progress,
                    format!("more than {MAX_STEPS} steps: livelock"),
                );
                return;
            }
            let out = self.client.poll_output(now);
            // Waits are left out of the trace: every read moves a deadline, and `in Timeout` shows when one fired.
            if !matches!(out, Output::Wait(_)) {
                self.note(|| format!("out {}", describe(&out)));
            }
            match out {
                Output::Wait(d) => {
                    self.client_deadline = d;
                    return;
                }
                Output::Event(ev) => {
                    self.checker.event(now, &ev);
                    match &ev {
                        Event::Body { id, data } => self.client.consumed(now, *id, data.len()),
                        Event::Stream { id, event } => {
                            self.client.consumed(now, *id, event.wire_size())
                        }
                        _ => {}
                    }
                }
                other => {
                    if let Err(e) = self.net.handle_output(now, &other) {
                        self.checker.fail(now, Invariant::DriverContract, e);
                    }
                    if matches!(other, Output::Connect { .. } | Output::Transmit { .. }) {
                        self.checker.connections(now, self.net.open_links());
                    }
                }
            }
        }
    }
}

fn describe(out: &Output) -> String {
    match out {
        Output::Transmit { conn, data } => {
            let head = String::from_utf8_lossy(&data[..data.len().min(60)]).replace("\r\n", "⏎");
            format!("Transmit({conn:?}, {} bytes: {head})", data.len())
        }
        Output::Event(Event::Body { id, data }) => {
            format!("Event Body({id:?}, {} bytes)", data.len())
        }
        Output::Event(Event::Head { id, head }) => format!(
            "Event Head({id:?}, {} tag {:?})",
            head.status,
            head.header(TAG_HEADER)
        ),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_runner_seeds_pass_replay_identically_and_do_real_work() {
        for seed in 0..8 {
            let a = run_seed(seed).unwrap_or_else(|f| panic!("{f}"));
            let b = run_seed(seed).unwrap_or_else(|f| panic!("{f}"));
            assert_eq!(a, b, "seed {seed} must replay identically");
            assert!(a.ops >= 20);
            assert!(a.stats.done > 0 && a.server_requests > 0, "{a:?}");
        }
    }

    #[test]
    fn sim_runner_traced_replay_keeps_the_subjects_history() {
        let w = Workload::generate(3);
        let first = match &w.ops[0].kind {
            OpKind::Request(s) | OpKind::Stream { spec: s, .. } => s.tag.clone(),
            OpKind::Batch(v) => v[0].tag.clone(),
            OpKind::Abort { .. } => unreachable!("the first operation is never an abort"),
        };
        let r = run_inner(3, w, true, Some(first.clone())).unwrap_or_else(|f| panic!("{f}"));
        assert!(!r.trace.is_empty() && r.trace.len() <= TRACE_LINES);
        assert!(r.history.len() >= 2, "{:?}", r.history);
        assert!(r.history[0].contains("owner: ") && r.history[0].contains(first.as_str()));
        let plain = run_workload(3, Workload::generate(3), false).unwrap();
        assert_eq!(
            (plain.stats, plain.steps),
            (r.stats, r.steps),
            "tracing must not change the run"
        );
    }
}
