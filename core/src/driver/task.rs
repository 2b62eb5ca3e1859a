//! The driver task: owns the machine, feeds it inputs, drains its outputs until `Wait`, routes events.

use core::time::Duration;
use std::collections::HashMap;
use std::time::Instant as StdInstant;

use async_channel::Sender;
use futures_lite::future::or;

use super::conn::{self, ConnHandle};
use super::router::{Msg, NetMsg, Router};
use super::runtime::Runtime;
use crate::client::{ClientMachine, ConnId, Input, Output};
use crate::error::NetError;
use crate::time::Instant;

struct Driver<R: Runtime> {
    rt: R,
    machine: ClientMachine,
    tx: Sender<Msg>,
    epoch: StdInstant,
    conns: HashMap<ConnId, ConnHandle>,
    router: Router,
}

/// Run the driver until the client is dropped.
pub(crate) async fn run<R: Runtime>(
    rt: R,
    machine: ClientMachine,
    router: Router,
    tx: Sender<Msg>,
    epoch: StdInstant,
) {
    let rx = router.rx.clone();
    let mut d = Driver {
        rt,
        machine,
        tx,
        epoch,
        conns: HashMap::new(),
        router,
    };
    let mut deadline = d.drain();
    loop {
        // `None`: the timer fired.
        let got = match deadline {
            None => Some(rx.recv().await),
            Some(at) => {
                let sleep =
                    d.rt.sleep_until(d.epoch + Duration::from_nanos(at.as_nanos()));
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
        if let Some(net) = self.router.apply(&mut self.machine, now, msg) {
            self.net(now, net);
        }
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
                        let _ = tx
                            .send(Msg::Net(NetMsg::Resolved { host, port, result }))
                            .await;
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
                Output::Event(ev) => self.router.route(&mut self.machine, now, ev),
            }
        }
    }
}
