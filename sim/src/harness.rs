//! A hand-driven simulation: the client machine, the simulated network and the virtual clock, for scenario
//! tests (the conformance suite's simulation driver, the fake OpenCode) that issue requests one by one and
//! look at the results. The randomized runs use [`super::runner`], which adds the invariant checker.

use core::time::Duration;
use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use super::clock::SimClock;
use super::faults::Faults;
use super::net::{SimHost, SimNet};
use plue_http_core::client::{
    ClientMachine, Event, Input, Options, Output, RequestId, StreamOptions,
};
use plue_http_core::error::{Error, ErrorKind};
use plue_http_core::request::Request;
use plue_http_core::response::{Response, ResponseHead};
use plue_http_core::sse::StreamEvent;
use plue_http_core::time::{earliest, Instant};

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Outcome {
    head: Option<ResponseHead>,
    body: BytesMut,
    ended: Option<Result<(), Error>>,
    stream: Vec<StreamEvent>,
}

/// The client machine on a simulated network, driven by hand. See the module docs.
#[derive(Debug)]
pub struct Harness {
    clock: SimClock,
    client: ClientMachine,
    net: SimNet,
    deadline: Option<Instant>,
    outcomes: BTreeMap<RequestId, Outcome>,
    contract: Option<String>,
}

impl Harness {
    /// A client with `options` seeded by `seed`, talking to `hosts` through a network with `faults`.
    pub fn new(
        options: Options,
        hosts: Vec<SimHost>,
        faults: Faults,
        seed: u64,
    ) -> Result<Harness, ErrorKind> {
        Ok(Harness {
            clock: SimClock::new(),
            client: ClientMachine::new(options, seed)?,
            net: SimNet::new(hosts, faults, seed),
            deadline: None,
            outcomes: BTreeMap::new(),
            contract: None,
        })
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The client machine (for commands the harness does not wrap, and for inspection).
    pub fn client(&mut self) -> &mut ClientMachine {
        &mut self.client
    }

    /// The network and its hosts (servers' records, restarts).
    pub fn net(&mut self) -> &mut SimNet {
        &mut self.net
    }

    /// The first driver-contract breach seen (the machine used a connection it had closed), if any.
    pub fn contract_violation(&self) -> Option<&str> {
        self.contract.as_deref()
    }

    /// Start a request now.
    pub fn request(&mut self, req: Request) -> RequestId {
        let id = self.client.request(self.clock.now(), req);
        self.outcomes.entry(id).or_default();
        self.drain();
        id
    }

    /// Start pipelined requests now.
    pub fn batch(&mut self, reqs: Vec<Request>) -> Vec<RequestId> {
        let ids = self.client.batch(self.clock.now(), reqs);
        for id in &ids {
            self.outcomes.entry(*id).or_default();
        }
        self.drain();
        ids
    }

    /// Open an event stream now.
    pub fn subscribe(&mut self, req: Request, opts: StreamOptions) -> RequestId {
        let id = self.client.subscribe(self.clock.now(), req, opts);
        self.outcomes.entry(id).or_default();
        self.drain();
        id
    }

    /// Abort a request or stream now.
    pub fn abort(&mut self, id: RequestId) {
        self.client.abort(self.clock.now(), id);
        self.drain();
    }

    /// Shut the client down now.
    pub fn shutdown(&mut self) {
        self.client.shutdown(self.clock.now());
        self.drain();
        self.settle();
    }

    /// Run everything up to `t` (virtual), then stop the clock there.
    pub fn run_until(&mut self, t: Instant) {
        loop {
            self.settle();
            let next = earliest(self.deadline, self.net.next_deadline());
            match next {
                Some(n) if n <= t => self.clock.advance_to(n),
                _ => break,
            }
        }
        self.clock.advance_to(t);
        self.settle();
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.clock.now() + d;
        self.run_until(t);
    }

    /// Run until `id` has ended or `limit` of virtual time has passed; `true` when it ended.
    pub fn run_until_ended(&mut self, id: RequestId, limit: Duration) -> bool {
        let end = self.clock.now() + limit;
        loop {
            self.settle();
            if self.ended(id) {
                return true;
            }
            match earliest(self.deadline, self.net.next_deadline()) {
                Some(n) if n <= end => self.clock.advance_to(n),
                _ => {
                    self.clock.advance_to(end);
                    self.settle();
                    return self.ended(id);
                }
            }
        }
    }

    /// `true` when `id` has had its terminal event.
    pub fn ended(&self, id: RequestId) -> bool {
        self.outcomes.get(&id).is_some_and(|o| o.ended.is_some())
    }

    /// The response of a finished request, or its error; `None` while it runs.
    pub fn response(&self, id: RequestId) -> Option<Result<Response, Error>> {
        let o = self.outcomes.get(&id)?;
        match o.ended.as_ref()? {
            Err(e) => Some(Err(e.clone())),
            Ok(()) => {
                let head = o.head.clone()?;
                Some(Ok(Response::new(head, Bytes::from(o.body.to_vec()))))
            }
        }
    }

    /// What event stream `id` reported so far, in order.
    pub fn stream_events(&self, id: RequestId) -> &[StreamEvent] {
        self.outcomes.get(&id).map_or(&[], |o| &o.stream)
    }

    /// Do everything due now.
    fn settle(&mut self) {
        let now = self.clock.now();
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            self.client.handle_input(now, Input::Timeout);
            self.drain();
        }
        while let Some(input) = self.net.poll_input(now) {
            self.client.handle_input(now, input.as_input());
            self.drain();
        }
    }

    fn drain(&mut self) {
        loop {
            let now = self.clock.now();
            match self.client.poll_output(now) {
                Output::Wait(d) => {
                    self.deadline = d;
                    return;
                }
                Output::Event(ev) => self.record(now, ev),
                other => {
                    if let Err(e) = self.net.handle_output(now, &other) {
                        self.contract.get_or_insert(e);
                    }
                }
            }
        }
    }

    fn record(&mut self, now: Instant, ev: Event) {
        let o = self.outcomes.entry(ev.id()).or_default();
        match ev {
            Event::Head { head, .. } => o.head = Some(head),
            Event::Body { id, data } => {
                o.body.extend_from_slice(&data);
                self.client.consumed(now, id, data.len());
            }
            Event::Done { .. } => o.ended = Some(Ok(())),
            Event::Failed { error, .. } => o.ended = Some(Err(error)),
            Event::Stream { id, event } => {
                self.client.consumed(now, id, event.wire_size());
                o.stream.push(event);
            }
        }
    }
}
