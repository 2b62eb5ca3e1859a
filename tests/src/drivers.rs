//! The four drivers that run every scenario: the simulation (virtual clock, in-memory network) and the tokio,
//! smol and mio clients against the scripted server on loopback.

use core::time::Duration;
use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use futures_lite::StreamExt;
use plue_http_core::client::{
    ClientMachine, ConnId, Event, Input, Output, RequestId, StreamOptions,
};
use plue_http_core::error::{ErrorKind, NetError};
use plue_http_core::sse::StreamEvent;
use plue_http_core::time::{earliest, Instant};
use plue_http_core::url::Url;
use plue_http_core::{Error, Request, Response};
use plue_http_driver::{self as driver, Runtime};
use plue_http_sim::server::{ScriptedServer, SrvConn, SrvOutput};

use crate::loopback::{Blackhole, Loopback};
use crate::scenarios::{Outcome, Scenario, Step, StepOutcome};

/// A way to run the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// The deterministic simulation.
    Sim,
    /// `plue-http-tokio` on loopback.
    Tokio,
    /// `plue-http-smol` on loopback.
    Smol,
    /// `plue-http-mio` on loopback.
    Mio,
}

impl DriverKind {
    /// Every driver.
    pub const ALL: [DriverKind; 4] = [
        DriverKind::Sim,
        DriverKind::Tokio,
        DriverKind::Smol,
        DriverKind::Mio,
    ];
}

/// A scenario that does not finish within this much real time is reported as stuck.
const STUCK: Duration = Duration::from_secs(30);

/// Run `scenario` on `kind`.
pub fn run(kind: DriverKind, scenario: &Scenario) -> Result<Outcome, String> {
    match kind {
        DriverKind::Sim => Sim::new(scenario).run(scenario),
        DriverKind::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            on_loopback(scenario, |options, hosts| {
                rt.block_on(async {
                    let client =
                        plue_http::tokio::Client::new(options).map_err(|e| e.to_string())?;
                    run_async(&client, hosts, scenario).await
                })
            })
        }
        DriverKind::Smol => on_loopback(scenario, |options, hosts| {
            smol::block_on(async {
                let client = plue_http::smol::Client::new(options).map_err(|e| e.to_string())?;
                run_async(&client, hosts, scenario).await
            })
        }),
        DriverKind::Mio => on_loopback(scenario, |options, hosts| {
            let client = plue_http::mio::Client::new(options).map_err(|e| e.to_string())?;
            run_mio(&client, hosts, scenario)
        }),
    }
}

/// The loopback server plus an address whose connects hang.
struct Hosts {
    lb: Loopback,
    blackhole: Url,
    _blackhole: Option<Blackhole>,
}

fn on_loopback(
    s: &Scenario,
    body: impl FnOnce(plue_http_core::client::Options, &Hosts) -> Result<Vec<StepOutcome>, String>,
) -> Result<Outcome, String> {
    let server = ScriptedServer::with_handler(Box::new(s.script.clone()), s.server.clone());
    let lb = Loopback::start(server).map_err(|e| e.to_string())?;
    // Only scenarios that need it pay for the black hole's set-up.
    let needs_hole = s
        .steps
        .iter()
        .any(|s| matches!(s, Step::SendToBlackhole(..) | Step::AbortConnecting(..)));
    let hole = needs_hole
        .then(Blackhole::start)
        .transpose()
        .map_err(|e| e.to_string())?;
    let url = hole
        .as_ref()
        .map_or("http://127.0.0.1:9".into(), Blackhole::base_url);
    let hosts = Hosts {
        lb,
        blackhole: Url::parse(&url).map_err(|e| e.to_string())?,
        _blackhole: hole,
    };
    let lb = &hosts.lb;
    let mut options = s.options.clone();
    options.base_url = Some(lb.base_url());
    let steps = body(options, &hosts)?;
    let received = lb.server().requests().to_vec();
    Ok(Outcome { steps, received })
}

fn response(r: Result<Response, Error>) -> Result<(u16, Bytes), ErrorKind> {
    r.map(|r| (r.status().as_u16(), r.body().clone()))
        .map_err(Error::into_kind)
}

fn want_events(step: &Step) -> usize {
    match step {
        Step::Events(_, want) => want.data.len(),
        _ => 0,
    }
}

async fn sleep<R: Runtime>(rt: &R, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

async fn run_async<R: Runtime>(
    client: &driver::Client<R>,
    hosts: &Hosts,
    s: &Scenario,
) -> Result<Vec<StepOutcome>, String> {
    let lb = &hosts.lb;
    let rt = client.runtime().clone();
    let steps = async {
        let base = client.base_url().cloned().ok_or("no base url")?;
        let mut out = Vec::new();
        for step in &s.steps {
            out.push(match step {
                Step::Send(req, _) => {
                    StepOutcome::Response(response(client.send(req.builder(&base)).await))
                }
                Step::SendToBlackhole(req, _) => {
                    let b = req.builder(&hosts.blackhole);
                    StepOutcome::Response(response(client.send(b).await))
                }
                Step::Batch(items) => {
                    let reqs = build_all(items.iter().map(|(r, _)| r), &base)?;
                    let got = client.batch(reqs).await;
                    StepOutcome::Batch(got.into_iter().map(response).collect())
                }
                Step::SendAbort(req, after) | Step::AbortConnecting(req, after) => {
                    let target = match step {
                        Step::AbortConnecting(..) => &hosts.blackhole,
                        _ => &base,
                    };
                    let fut = client.send(req.builder(target));
                    let abort = fut.abort_handle();
                    sleep(&rt, *after).await;
                    abort.abort();
                    StepOutcome::Response(response(fut.await))
                }
                Step::Events(path, _) => {
                    let mut stream = client.events(path);
                    let (mut events, mut end, mut n) = (Vec::new(), None, 0);
                    while n < want_events(step) {
                        match stream.next().await {
                            Some(Ok(ev)) => {
                                n += usize::from(matches!(ev, StreamEvent::Event(_)));
                                events.push(ev);
                            }
                            Some(Err(e)) => {
                                end = Some(e.into_kind());
                                break;
                            }
                            None => break,
                        }
                    }
                    StepOutcome::Events(events, end)
                }
                Step::Wait(d) => {
                    sleep(&rt, *d).await;
                    StepOutcome::Done
                }
                Step::Restart(d) => {
                    lb.restart(*d);
                    StepOutcome::Done
                }
            });
        }
        Ok::<_, String>(out)
    };
    futures_lite::future::or(steps, async {
        sleep(&rt, STUCK).await;
        Err(format!("stuck for {STUCK:?}"))
    })
    .await
}

fn build_all<'a>(
    reqs: impl Iterator<Item = &'a crate::scenarios::Req>,
    base: &Url,
) -> Result<Vec<Request>, String> {
    reqs.map(|r| r.builder(base).build().map_err(|e| e.to_string()))
        .collect()
}

fn run_mio(
    client: &plue_http::mio::Client,
    hosts: &Hosts,
    s: &Scenario,
) -> Result<Vec<StepOutcome>, String> {
    let lb = &hosts.lb;
    let base = client.base_url().cloned().ok_or("no base url")?;
    let mut out = Vec::new();
    for step in &s.steps {
        out.push(match step {
            Step::Send(req, _) => StepOutcome::Response(response(client.send(req.builder(&base)))),
            Step::SendToBlackhole(req, _) => {
                StepOutcome::Response(response(client.send(req.builder(&hosts.blackhole))))
            }
            Step::Batch(items) => {
                let reqs = build_all(items.iter().map(|(r, _)| r), &base)?;
                StepOutcome::Batch(client.batch(reqs).into_iter().map(response).collect())
            }
            Step::SendAbort(req, after) | Step::AbortConnecting(req, after) => {
                let target = match step {
                    Step::AbortConnecting(..) => &hosts.blackhole,
                    _ => &base,
                };
                let handle = client.start_builder(req.builder(target));
                let abort = handle.abort_handle();
                std::thread::sleep(*after);
                abort.abort();
                StepOutcome::Response(response(handle.wait()))
            }
            Step::Events(path, _) => {
                let mut stream = client.events(path);
                let (mut events, mut end, mut n) = (Vec::new(), None, 0);
                while n < want_events(step) {
                    match stream.next_timeout(STUCK) {
                        Ok(Some(ev)) => {
                            n += usize::from(matches!(ev, StreamEvent::Event(_)));
                            events.push(ev);
                        }
                        Ok(None) => return Err(format!("stuck for {STUCK:?}")),
                        Err(e) => {
                            end = Some(e.into_kind());
                            break;
                        }
                    }
                }
                StepOutcome::Events(events, end)
            }
            Step::Wait(d) => {
                std::thread::sleep(*d);
                StepOutcome::Done
            }
            Step::Restart(d) => {
                lb.restart(*d);
                StepOutcome::Done
            }
        });
    }
    Ok(out)
}

/// One simulated connection: the client's view and the server's.
#[derive(Default)]
struct SimConn {
    srv: Option<SrvConn>,
    reading: bool,
    /// Server bytes not yet delivered to the client.
    inbox: BytesMut,
    srv_closed: bool,
    eof_sent: bool,
    reset: bool,
}

/// The simulation driver: the client machine and the scripted server wired together in memory, on a
/// virtual clock that jumps to the next deadline whenever nothing else can happen. Zero latency and no
/// faults: the simulation runner covers faults; this driver proves the scenarios mean the same thing
/// under a virtual clock as on real sockets.
struct Sim {
    machine: ClientMachine,
    server: ScriptedServer,
    base: Url,
    now: Instant,
    conns: BTreeMap<ConnId, SimConn>,
    by_srv: HashMap<SrvConn, ConnId>,
    connects: VecDeque<(ConnId, Result<(), NetError>)>,
    down_until: Option<Instant>,
    events: HashMap<RequestId, Vec<Event>>,
    deadline: Option<Instant>,
    srv_deadline: Option<Instant>,
}

/// Connects to this port hang in the simulation (the black hole).
const SIM_BLACKHOLE_PORT: u16 = 9;

/// Virtual time after which a scenario counts as stuck.
const SIM_LIMIT: Duration = Duration::from_secs(3600);

impl Sim {
    fn new(s: &Scenario) -> Sim {
        let base = "http://127.0.0.1:4096";
        let mut options = s.options.clone();
        options.base_url = Some(base.into());
        Sim {
            machine: ClientMachine::new(options, 7).expect("valid options"),
            server: ScriptedServer::with_handler(Box::new(s.script.clone()), s.server.clone()),
            base: Url::parse(base).expect("valid base"),
            now: Instant::ZERO,
            conns: BTreeMap::new(),
            by_srv: HashMap::new(),
            connects: VecDeque::new(),
            down_until: None,
            events: HashMap::new(),
            deadline: None,
            srv_deadline: None,
        }
    }

    fn drain_client(&mut self) {
        let now = self.now;
        loop {
            match self.machine.poll_output(now) {
                Output::Wait(d) => {
                    self.deadline = d;
                    return;
                }
                Output::Resolve { host, port } => {
                    let result = Err(NetError::Resolve);
                    self.machine
                        .handle_input(now, Input::Resolved { host, port, result });
                }
                Output::Connect { conn, addr } => {
                    let mut c = SimConn::default();
                    if addr.port() == SIM_BLACKHOLE_PORT {
                        // Connects there hang: no answer at all.
                    } else if self.down_until.is_some_and(|t| now < t) {
                        self.connects.push_back((conn, Err(NetError::Refused)));
                    } else {
                        let srv = self.server.accept(now);
                        self.by_srv.insert(srv, conn);
                        c.srv = Some(srv);
                        self.connects.push_back((conn, Ok(())));
                    }
                    self.conns.insert(conn, c);
                }
                Output::Transmit { conn, data } => {
                    if let Some(srv) = self.conns.get(&conn).and_then(|c| c.srv) {
                        self.server.handle_data(now, srv, &data);
                    }
                    self.machine
                        .handle_input(now, Input::Written(conn, data.len()));
                }
                Output::Read(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.reading = true;
                    }
                }
                Output::PauseRead(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.reading = false;
                    }
                }
                Output::Close(conn) => {
                    if let Some(srv) = self.conns.remove(&conn).and_then(|c| c.srv) {
                        self.by_srv.remove(&srv);
                        self.server.disconnect(srv);
                    }
                }
                Output::Event(ev) => {
                    if let Event::Body { id, data } = &ev {
                        self.machine.consumed(now, *id, data.len());
                    }
                    self.events.entry(ev.id()).or_default().push(ev);
                }
            }
        }
    }

    fn drain_server(&mut self) {
        loop {
            let out = self.server.poll_output(self.now);
            let (srv, reset) = match out {
                SrvOutput::Wait(d) => {
                    self.srv_deadline = d;
                    return;
                }
                SrvOutput::Transmit(srv, data) => {
                    let id = self.by_srv.get(&srv);
                    if let Some(c) = id.and_then(|id| self.conns.get_mut(id)) {
                        c.inbox.extend_from_slice(&data);
                    }
                    continue;
                }
                SrvOutput::Close(srv) => (srv, false),
                SrvOutput::Reset(srv) => (srv, true),
            };
            if let Some(c) = self
                .by_srv
                .remove(&srv)
                .and_then(|id| self.conns.get_mut(&id))
            {
                c.srv = None;
                c.srv_closed = true;
                if reset {
                    c.reset = true;
                    c.inbox.clear();
                }
            }
        }
    }

    /// Deliver one pending input to the client; `false` when there was none.
    fn deliver_one(&mut self) -> bool {
        let now = self.now;
        if let Some((conn, result)) = self.connects.pop_front() {
            if self.conns.contains_key(&conn) {
                let input = match result {
                    Ok(()) => Input::Connected(conn),
                    Err(e) => Input::ConnectFailed(conn, e),
                };
                self.machine.handle_input(now, input);
            }
            return true;
        }
        for (&id, c) in self.conns.iter_mut() {
            if c.reset && !c.eof_sent {
                c.eof_sent = true;
                self.machine
                    .handle_input(now, Input::Failed(id, NetError::Reset));
                return true;
            }
            if c.reading && !c.inbox.is_empty() {
                let data = c.inbox.split().freeze();
                self.machine.handle_input(now, Input::Data(id, &data));
                return true;
            }
            if c.reading && c.srv_closed && !c.eof_sent {
                c.eof_sent = true;
                self.machine.handle_input(now, Input::Eof(id));
                return true;
            }
        }
        false
    }

    /// Everything that happens at the current instant.
    fn settle(&mut self) {
        loop {
            self.drain_client();
            self.drain_server();
            if !self.deliver_one() {
                return;
            }
        }
    }

    /// Jump to the next deadline (or `limit`) and let it happen.
    fn step_time(&mut self, limit: Option<Instant>) -> Result<(), String> {
        self.settle();
        let next = earliest(earliest(self.deadline, self.srv_deadline), limit)
            .ok_or("nothing will ever happen: no deadline and no input")?;
        if next > Instant::ZERO + SIM_LIMIT {
            return Err(format!(
                "stuck: nothing happened within {SIM_LIMIT:?} of virtual time"
            ));
        }
        self.now = self.now.max(next);
        if self.deadline.is_some_and(|d| d <= self.now) {
            self.machine.handle_input(self.now, Input::Timeout);
        }
        self.settle();
        Ok(())
    }

    fn run_until(&mut self, mut done: impl FnMut(&Sim) -> bool) -> Result<(), String> {
        self.settle();
        while !done(self) {
            self.step_time(None)?;
        }
        Ok(())
    }

    fn finished(&self, id: RequestId) -> bool {
        self.events.get(&id).is_some_and(|evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Done { .. } | Event::Failed { .. }))
        })
    }

    fn outcome(&self, id: RequestId) -> Result<(u16, Bytes), ErrorKind> {
        let (mut status, mut body) = (0, BytesMut::new());
        for ev in self.events.get(&id).into_iter().flatten() {
            match ev {
                Event::Head { head, .. } => status = head.status.as_u16(),
                Event::Body { data, .. } => body.extend_from_slice(data),
                Event::Failed { error, .. } => return Err(error.kind().clone()),
                _ => {}
            }
        }
        Ok((status, body.freeze()))
    }

    fn request(&mut self, req: &crate::scenarios::Req) -> Result<RequestId, String> {
        // The simulation collects every body, as the runtimes' collecting calls do.
        let req = req
            .builder(&self.base)
            .collect_body(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(self.machine.request(self.now, req))
    }

    fn run(mut self, s: &Scenario) -> Result<Outcome, String> {
        let mut steps = Vec::new();
        for step in &s.steps {
            steps.push(match step {
                Step::Send(req, _) => {
                    let id = self.request(req)?;
                    self.run_until(|sim| sim.finished(id))?;
                    StepOutcome::Response(self.outcome(id))
                }
                Step::SendToBlackhole(req, _) => {
                    let hole = Url::parse("http://127.0.0.1:9").expect("valid URL");
                    let req = req.builder(&hole).build().map_err(|e| e.to_string())?;
                    let id = self.machine.request(self.now, req);
                    self.run_until(|sim| sim.finished(id))?;
                    StepOutcome::Response(self.outcome(id))
                }
                Step::Batch(items) => {
                    let reqs = build_all(items.iter().map(|(r, _)| r), &self.base)?;
                    let ids = self.machine.batch(self.now, reqs);
                    self.run_until(|sim| ids.iter().all(|id| sim.finished(*id)))?;
                    StepOutcome::Batch(ids.iter().map(|id| self.outcome(*id)).collect())
                }
                Step::SendAbort(req, after) | Step::AbortConnecting(req, after) => {
                    let id = match step {
                        Step::AbortConnecting(..) => {
                            let hole = Url::parse("http://127.0.0.1:9").expect("valid URL");
                            let req = req.builder(&hole).build().map_err(|e| e.to_string())?;
                            self.machine.request(self.now, req)
                        }
                        _ => self.request(req)?,
                    };
                    let at = self.now + *after;
                    while self.now < at && !self.finished(id) {
                        self.step_time(Some(at))?;
                    }
                    self.machine.abort(self.now, id);
                    self.run_until(|sim| sim.finished(id))?;
                    StepOutcome::Response(self.outcome(id))
                }
                Step::Events(path, _) => {
                    let req = plue_http_core::RequestBuilder::new(http::Method::GET, *path)
                        .base(Some(&self.base))
                        .build()
                        .map_err(|e| e.to_string())?;
                    let id = self
                        .machine
                        .subscribe(self.now, req, StreamOptions::default());
                    let want = want_events(step);
                    let seen = |sim: &Sim| {
                        let evs = sim.events.get(&id).map(Vec::as_slice).unwrap_or_default();
                        let n = evs
                            .iter()
                            .filter(|e| {
                                matches!(
                                    e,
                                    Event::Stream {
                                        event: StreamEvent::Event(_),
                                        ..
                                    }
                                )
                            })
                            .count();
                        n >= want || sim.finished(id)
                    };
                    self.run_until(seen)?;
                    let (mut events, mut end) = (Vec::new(), None);
                    for ev in self.events.remove(&id).unwrap_or_default() {
                        match ev {
                            Event::Stream { event, .. } => events.push(event),
                            Event::Failed { error, .. } => end = Some(error.into_kind()),
                            _ => {}
                        }
                    }
                    self.machine.abort(self.now, id);
                    self.settle();
                    StepOutcome::Events(events, end)
                }
                Step::Wait(d) => {
                    let at = self.now + *d;
                    while self.now < at {
                        self.step_time(Some(at))?;
                    }
                    StepOutcome::Done
                }
                Step::Restart(d) => {
                    self.server.restart();
                    for c in self.conns.values_mut() {
                        if c.srv.take().is_some() {
                            c.reset = true;
                            c.srv_closed = true;
                            c.inbox.clear();
                        }
                    }
                    self.by_srv.clear();
                    self.down_until = Some(self.now + *d);
                    self.settle();
                    StepOutcome::Done
                }
            });
        }
        Ok(Outcome {
            steps,
            received: self.server.requests().to_vec(),
        })
    }
}
