//! The driver task: owns the machine, feeds it inputs, drains its outputs until `Wait`, routes events.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::HashMap;
use std::time::Instant as StdInstant;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::future::or;

use super::conn::{self, ConnHandle};
use super::runtime::Runtime;
use crate::client::{ClientMachine, ConnId, Event, Input, Output, RequestId, StreamOptions};
use crate::error::NetError;
use crate::request::Request;
use crate::time::Instant;

/// Everything the driver task hears: commands from handles and reports from connection tasks.
pub(crate) enum Msg {
    Request {
        token: u64,
        req: Request,
        events: Sender<Event>,
    },
    Batch(Vec<(u64, Request, Sender<Event>)>),
    Subscribe {
        token: u64,
        req: Request,
        opts: StreamOptions,
        events: Sender<Event>,
    },
    Abort(u64),
    Consumed(u64, usize),
    ReleaseIdle,
    Shutdown,
    Net(NetMsg),
}

/// A connection or resolver task's report, turned into an [`Input`] by the driver.
pub(crate) enum NetMsg {
    Connected(ConnId),
    ConnectFailed(ConnId, NetError),
    Data(ConnId, Bytes),
    Written(ConnId, usize),
    Eof(ConnId),
    Failed(ConnId, NetError),
    Resolved {
        host: String,
        port: u16,
        result: Result<Vec<SocketAddr>, NetError>,
    },
}

struct Route {
    token: u64,
    events: Sender<Event>,
}

struct Driver<R: Runtime> {
    rt: R,
    machine: ClientMachine,
    tx: Sender<Msg>,
    epoch: StdInstant,
    conns: HashMap<ConnId, ConnHandle>,
    routes: HashMap<RequestId, Route>,
    tokens: HashMap<u64, RequestId>,
}

/// Run the driver until the client is dropped.
pub(crate) async fn run<R: Runtime>(
    rt: R,
    machine: ClientMachine,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
    epoch: StdInstant,
) {
    let mut d = Driver {
        rt,
        machine,
        tx,
        epoch,
        conns: HashMap::new(),
        routes: HashMap::new(),
        tokens: HashMap::new(),
    };
    let mut deadline = d.drain();
    loop {
        // `None`: the timer fired.
        let got = match deadline {
            None => Some(rx.recv().await),
            Some(at) => {
                let sleep = d.rt.sleep_until(d.epoch + Duration::from_nanos(at.as_nanos()));
                or(async { Some(rx.recv().await) }, async {
                    sleep.await;
                    None
                })
                .await
            }
        };
        match got {
            // The driver holds a sender itself, so the channel only closes if something went badly wrong.
            Some(Ok(Msg::Shutdown)) | Some(Err(_)) => break,
            Some(Ok(msg)) => {
                d.handle(msg);
                deadline = d.drain();
            }
            None => {}
        }
        // Expiry is judged by the clock, not by which future won the race: a timer may fire early or late,
        // and a busy channel may starve it.
        if let Some(at) = deadline {
            let now = d.now();
            if now >= at {
                d.machine.handle_input(now, Input::Timeout);
                deadline = d.drain();
            }
        }
    }
    let now = d.now();
    d.machine.shutdown(now);
    d.drain();
    d.conns.clear();
}

impl<R: Runtime> Driver<R> {
    fn now(&self) -> Instant {
        let since = self.rt.now().saturating_duration_since(self.epoch);
        Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    fn handle(&mut self, msg: Msg) {
        let now = self.now();
        let m = &mut self.machine;
        match msg {
            Msg::Request { token, req, events } => {
                let id = m.request(now, req);
                self.track(token, id, events);
            }
            Msg::Batch(items) => {
                let (meta, reqs): (Vec<_>, Vec<_>) =
                    items.into_iter().map(|(t, r, e)| ((t, e), r)).unzip();
                let ids = m.batch(now, reqs);
                for ((token, events), id) in meta.into_iter().zip(ids) {
                    self.track(token, id, events);
                }
            }
            Msg::Subscribe {
                token,
                req,
                opts,
                events,
            } => {
                let id = m.subscribe(now, req, opts);
                self.track(token, id, events);
            }
            Msg::Abort(token) => {
                if let Some(id) = self.tokens.get(&token) {
                    m.abort(now, *id);
                }
            }
            Msg::Consumed(token, n) => {
                if let Some(id) = self.tokens.get(&token) {
                    m.consumed(now, *id, n);
                }
            }
            Msg::ReleaseIdle => m.release_idle(),
            Msg::Shutdown => {}
            Msg::Net(net) => self.net(now, net),
        }
    }

    fn track(&mut self, token: u64, id: RequestId, events: Sender<Event>) {
        self.tokens.insert(token, id);
        self.routes.insert(id, Route { token, events });
    }

    fn net(&mut self, now: Instant, net: NetMsg) {
        // A closed connection's tasks may still report; the core accepts no input for it any more.
        let live = |c: &ConnId| self.conns.contains_key(c);
        let input = match &net {
            NetMsg::Connected(c) if live(c) => Input::Connected(*c),
            NetMsg::ConnectFailed(c, e) if live(c) => Input::ConnectFailed(*c, *e),
            NetMsg::Data(c, data) if live(c) => Input::Data(*c, data),
            NetMsg::Written(c, n) if live(c) => Input::Written(*c, *n),
            NetMsg::Eof(c) if live(c) => Input::Eof(*c),
            NetMsg::Failed(c, e) if live(c) => Input::Failed(*c, *e),
            NetMsg::Resolved { host, port, result } => Input::Resolved {
                host: host.clone(),
                port: *port,
                result: result.clone(),
            },
            _ => return,
        };
        self.machine.handle_input(now, input);
    }

    /// Drain outputs until `Wait`, performing each; returns the deadline to sleep until.
    fn drain(&mut self) -> Option<Instant> {
        let now = self.now();
        loop {
            match self.machine.poll_output(now) {
                Output::Wait(deadline) => return deadline,
                Output::Resolve { host, port } => {
                    let (rt, tx) = (self.rt.clone(), self.tx.clone());
                    self.rt.spawn(async move {
                        let result = match rt.resolve(host.clone(), port).await {
                            Ok(addrs) if addrs.is_empty() => Err(NetError::Resolve),
                            Ok(addrs) => Ok(addrs),
                            Err(_) => Err(NetError::Resolve),
                        };
                        let _ = tx.send(Msg::Net(NetMsg::Resolved { host, port, result })).await;
                    });
                }
                Output::Connect { conn, addr } => {
                    let handle = conn::open(&self.rt, conn, addr, self.tx.clone());
                    self.conns.insert(conn, handle);
                }
                Output::Transmit { conn, data } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.transmit(data);
                    }
                }
                Output::Read(conn) => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.set_reading(true);
                    }
                }
                Output::PauseRead(conn) => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.set_reading(false);
                    }
                }
                Output::Close(conn) => {
                    self.conns.remove(&conn);
                }
                Output::Event(ev) => self.route(now, ev),
            }
        }
    }

    fn route(&mut self, now: Instant, ev: Event) {
        let id = ev.id();
        let terminal = matches!(ev, Event::Done { .. } | Event::Failed { .. });
        let Some(route) = self.routes.get(&id) else {
            return;
        };
        let delivered = route.events.try_send(ev).is_ok();
        if terminal || !delivered {
            if let Some(route) = self.routes.remove(&id) {
                self.tokens.remove(&route.token);
            }
        }
        if !terminal && !delivered {
            // The owner dropped its handle without the abort arriving yet: stop the work now.
            self.machine.abort(now, id);
        }
    }
}
