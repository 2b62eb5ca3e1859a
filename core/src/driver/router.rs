//! Commands from client handles to the owner of the machine, and events routed back to each handle.
//!
//! Shared by the async driver task and by drivers that own the machine some other way (the mio event loop),
//! so every runtime hands out the same handles and routes events the same way.

use core::net::SocketAddr;
use std::collections::HashMap;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use bytes::Bytes;

use crate::client::{ClientMachine, ConnId, Event, RequestId, StreamOptions};
use crate::error::NetError;
use crate::request::Request;
use crate::time::Instant;

/// Everything the machine's owner hears: commands from handles and (async driver) connection reports.
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

/// A connection or resolver task's report, turned into an `Input` by the async driver.
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

/// Wakes a machine owner that is not an async task (e.g. a `mio::Waker`).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The sending side, held by the front and every handle: queue a command, then wake the owner.
#[derive(Clone)]
pub(crate) struct Commands {
    pub(crate) tx: Sender<Msg>,
    wake: Option<Wake>,
}

impl Commands {
    pub(crate) fn new(tx: Sender<Msg>, wake: Option<Wake>) -> Self {
        Commands { tx, wake }
    }

    pub(crate) fn send(&self, msg: Msg) {
        if self.tx.try_send(msg).is_ok() {
            if let Some(wake) = &self.wake {
                wake();
            }
        }
    }
}

/// What [`Router::poll_command`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// No command was waiting.
    Idle,
    /// One command was applied; drain the machine's outputs.
    Command,
    /// The client is gone: shut the machine down and stop.
    Shutdown,
}

struct Route {
    token: u64,
    events: Sender<Event>,
}

/// The machine owner's side: receives commands and routes each [`Event`] to the handle of its request.
pub struct Router {
    pub(crate) rx: Receiver<Msg>,
    routes: HashMap<RequestId, Route>,
    tokens: HashMap<u64, RequestId>,
}

impl core::fmt::Debug for Router {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl Router {
    pub(crate) fn new(rx: Receiver<Msg>) -> Self {
        Router {
            rx,
            routes: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// Apply one waiting command to `machine`, if any. After [`Applied::Command`], drain the outputs.
    pub fn poll_command(&mut self, machine: &mut ClientMachine, now: Instant) -> Applied {
        match self.rx.try_recv() {
            Ok(Msg::Shutdown) => Applied::Shutdown,
            Ok(msg) => {
                // Connection reports only come from the async driver's own tasks.
                let _ = self.apply(machine, now, msg);
                Applied::Command
            }
            Err(async_channel::TryRecvError::Empty) => Applied::Idle,
            Err(async_channel::TryRecvError::Closed) => Applied::Shutdown,
        }
    }

    /// Apply a command; a connection report is handed back to the caller.
    pub(crate) fn apply(
        &mut self,
        m: &mut ClientMachine,
        now: Instant,
        msg: Msg,
    ) -> Option<NetMsg> {
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
            Msg::Net(net) => return Some(net),
        }
        None
    }

    fn track(&mut self, token: u64, id: RequestId, events: Sender<Event>) {
        self.tokens.insert(token, id);
        self.routes.insert(id, Route { token, events });
    }

    /// Hand `ev` to its request's handle. A handle that is gone without its abort having arrived yet gets
    /// its request aborted now.
    pub fn route(&mut self, machine: &mut ClientMachine, now: Instant, ev: Event) {
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
            machine.abort(now, id);
        }
    }
}
