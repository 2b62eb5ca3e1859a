//! Commands from client handles to the owner of the machine, and events routed back to each handle.
//!
//! Shared by the async driver task and by drivers that own the machine some other way (the mio event loop),
//! so every runtime hands out the same handles and routes events the same way.

use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;
use std::sync::Arc;

use super::chan::{Receiver, Sender, TryRecvError};

use plue_http_core::client::{
    ClientMachine, ConnId, Event, MemoryPressure, NetInput, RequestId, StreamOptions,
};
use plue_http_core::request::Request;
use plue_http_core::time::Instant;

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
    /// The network changed; the addresses that went away.
    NetworkChanged(Vec<IpAddr>),
    /// The machine woke from sleep.
    Resumed,
    /// The OS asks for memory back.
    MemoryPressure(MemoryPressure),
    /// A connection's local address, sent by its task just before `Connected`.
    LocalAddr(ConnId, SocketAddr),
    Shutdown,
    Net(NetInput),
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

/// Hashes the driver's own sequential ids (tokens, request ids, connection ids): one multiply instead of
/// SipHash, which `Router::route` paid twice per event. Keys come from counters, never from the network,
/// so no flooding defence is needed. Use it as `HashMap<K, V, IdBuildHasher>` for such keys only.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

/// Builds an [`IdHasher`].
pub type IdBuildHasher = core::hash::BuildHasherDefault<IdHasher>;

impl core::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads sequential ids over the high bits hashbrown uses for its control bytes.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, IdBuildHasher>;

struct Route {
    token: u64,
    events: Sender<Event>,
}

/// The machine owner's side: receives commands and routes each [`Event`] to the handle of its request.
pub struct Router {
    pub(crate) rx: Receiver<Msg>,
    routes: IdMap<RequestId, Route>,
    tokens: IdMap<u64, RequestId>,
    /// Handles with new events, woken by [`Router::wake_handles`].
    wakers: Vec<core::task::Waker>,
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
            routes: IdMap::default(),
            tokens: IdMap::default(),
            wakers: Vec::new(),
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
            Err(TryRecvError::Empty) => Applied::Idle,
            Err(TryRecvError::Closed) => Applied::Shutdown,
        }
    }

    /// Whether a command waits to be applied.
    pub fn has_commands(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Whether nothing is in progress: no request or stream open and no command waiting. A machine owner that
    /// runs only on demand (the mio loop on a calling thread) needs no background turn while this holds.
    pub fn is_idle(&self) -> bool {
        self.routes.is_empty() && !self.has_commands()
    }

    /// Apply a command; a connection report is handed back to the caller.
    pub(crate) fn apply(
        &mut self,
        m: &mut ClientMachine,
        now: Instant,
        msg: Msg,
    ) -> Option<NetInput> {
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
            Msg::NetworkChanged(gone) => {
                m.network_changed(now, &gone);
            }
            Msg::Resumed => m.resumed_from_sleep(now),
            Msg::MemoryPressure(level) => {
                m.memory_pressure(now, level);
            }
            Msg::LocalAddr(c, addr) => m.set_local_addr(c, addr),
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
    ///
    /// The handle is not woken yet: call [`Router::wake_handles`] once the machine's outputs are drained
    /// (before waiting), so a handle wakes once for its head, body and end (on the mio loop, a woken caller
    /// would otherwise race the loop for the rest of its events and ask for more body on the way).
    pub fn route(&mut self, machine: &mut ClientMachine, now: Instant, ev: Event) {
        let id = ev.id();
        let terminal = matches!(ev, Event::Done { .. } | Event::Failed { .. });
        let Some(route) = self.routes.get(&id) else {
            return;
        };
        let delivered = match route.events.try_send_deferred(ev) {
            Ok(waker) => {
                self.wakers.extend(waker);
                true
            }
            Err(_) => false,
        };
        if terminal || !delivered {
            if let Some(route) = self.routes.remove(&id) {
                self.tokens.remove(&route.token);
            }
        }
        if !terminal && !delivered {
            machine.abort(now, id);
        }
    }

    /// Wake every handle that [`Router::route`] gave events since the last call.
    pub fn wake_handles(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}
