//! The driver task: owns the machine, feeds it inputs, drains its outputs until `Wait`, routes events.

use core::future::Future;
use core::pin::Pin;
use core::time::Duration;
use std::time::Instant as StdInstant;

use super::chan::Sender;
use futures_lite::future::or;

use super::conn::{self, ConnHandle};
use super::os;
use super::router::{IdMap, Msg, Router};
use super::runtime::Runtime;
use plue_http_core::client::{ClientMachine, ConnId, Input, NetInput, Output};
use plue_http_core::error::NetError;
use plue_http_core::time::Instant;
use plue_http_os::sleep::{ClockPair, SleepDetector};

/// The runtime's sleep future, boxed so it can outlive one turn of the loop.
type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

struct Driver<R: Runtime> {
    rt: R,
    /// Suspend detection: the clocks are compared whenever the task wakes anyway (no timer of its own).
    sleep: SleepDetector,
    machine: ClientMachine,
    tx: Sender<Msg>,
    epoch: StdInstant,
    conns: IdMap<ConnId, ConnHandle>,
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
    // Dropped when this task ends, which stops the watcher task.
    let _watcher = os::spawn_watcher(&rt, tx.clone());
    let mut sleep = SleepDetector::default();
    sleep.observe(ClockPair::now());
    let mut d = Driver {
        rt,
        sleep,
        machine,
        tx,
        epoch,
        conns: IdMap::default(),
        router,
    };
    let mut deadline = d.drain();
    // The armed timer and the deadline it was armed for. It is kept while the core's deadline moves later
    // (each request pushes its read timeout out): firing early is harmless (expiry is judged by the clock
    // below) and re-arming for every message cost a timer-wheel removal and insertion (on smol a
    // `timerfd_settime` system call) per request.
    let timer_rt = d.rt.clone();
    let mut timer: Option<(Instant, Sleep<'_>)> = None;
    loop {
        match (deadline, &timer) {
            (Some(at), Some((armed, _))) if *armed <= at => {}
            (Some(at), _) => {
                let sleep = timer_rt.sleep_until(d.epoch + Duration::from_nanos(at.as_nanos()));
                timer = Some((at, Box::pin(sleep)));
            }
            (None, _) => {}
        }
        // `None`: the timer fired.
        let rx = &d.router.rx;
        let got = match &mut timer {
            None => Some(rx.recv().await),
            Some((_, sleep)) => {
                or(async { Some(rx.recv().await) }, async {
                    sleep.as_mut().await;
                    None
                })
                .await
            }
        };
        if got.is_none() {
            timer = None;
        }
        if d.sleep.observe(ClockPair::now()).is_some() {
            let now = d.now();
            d.machine.resumed_from_sleep(now);
            deadline = d.drain();
        }
        match got {
            // The driver holds a sender itself, so the channel only closes if something went badly wrong.
            Some(Some(Msg::Shutdown)) | Some(None) => break,
            Some(Some(msg)) => {
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

    fn net(&mut self, now: Instant, net: NetInput) {
        // A closed connection's tasks may still report; the core accepts no input for it any more.
        if net.conn().is_some_and(|c| !self.conns.contains_key(&c)) {
            return;
        }
        if let NetInput::Data(c, data) = &net {
            if let Some(handle) = self.conns.get(c) {
                handle.delivered(data.len());
            }
        }
        self.machine.handle_input(now, net.as_input());
    }

    /// Drain outputs until `Wait`, performing each; returns the deadline to sleep until.
    fn drain(&mut self) -> Option<Instant> {
        let now = self.now();
        loop {
            match self.machine.poll_output(now) {
                Output::Wait(deadline) => {
                    self.router.wake_handles();
                    return deadline;
                }
                Output::Resolve { host, port } => {
                    let (rt, tx) = (self.rt.clone(), self.tx.clone());
                    self.rt.spawn(async move {
                        let result = match rt.resolve(host.clone(), port).await {
                            Ok(addrs) if addrs.is_empty() => Err(NetError::Resolve),
                            Ok(addrs) => Ok(addrs),
                            Err(_) => Err(NetError::Resolve),
                        };
                        let _ = tx.try_send(Msg::Net(NetInput::Resolved { host, port, result }));
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
