//! Drives the core's [`HealthMonitor`] over a real `/event` subscription: the monitor decides (subscribe,
//! fetch the version, healthy, degraded, restart); this file only performs what it asks and feeds the results
//! back with the current time.
//!
//! [`Gate`] publishes the verdict to other threads, so a request made while the connection is down waits for the
//! recovery instead of failing (the UX plan's "graceful degradation").

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use plue_http_core::client::StreamOptions;
use plue_http_core::opencode::{HealthConfig, HealthMonitor, HealthOutput, HealthState};
use plue_http_core::sse::StreamEvent;
use plue_http_core::time::Instant;

use crate::net::{StreamHandle, StreamItem};
use crate::oc::Oc;

/// What reaches a watch loop.
#[derive(Debug)]
pub enum Msg {
    /// An item of subscription number `.0` (items of older subscriptions are stale and dropped).
    Stream(u64, StreamItem),
    /// A line the supervised server printed.
    Line(String),
    /// Stop the loop.
    Stop,
}

/// What the monitor tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The verdict changed.
    State(HealthState),
    /// The monitor decided to restart the server.
    Restart,
    /// An item of the live subscription (for `plue events`).
    Event(StreamEvent),
}

/// A health monitor and its subscription.
pub struct Watch {
    monitor: HealthMonitor,
    oc: Oc,
    global: bool,
    sub: Option<StreamHandle>,
    generation: u64,
    tx: Sender<Msg>,
    epoch: std::time::Instant,
}

impl Watch {
    /// A monitor over `oc`'s `/event` (or `/global/event`); stream items arrive on `tx`'s channel.
    pub fn new(oc: Oc, cfg: HealthConfig, global: bool, tx: Sender<Msg>) -> Watch {
        Watch {
            monitor: HealthMonitor::new(cfg),
            oc,
            global,
            sub: None,
            generation: 0,
            tx,
            epoch: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// The monitor's verdict.
    pub fn state(&self) -> &HealthState {
        self.monitor.state()
    }

    /// Point at another server URL (the supervisor restarted it elsewhere).
    pub fn set_oc(&mut self, oc: Oc) {
        self.oc = oc;
    }

    /// Start monitoring.
    pub fn start(&mut self) -> Vec<Notice> {
        let now = self.now();
        self.monitor.start(now);
        self.drain()
    }

    /// Stop monitoring (drops the subscription).
    pub fn stop(&mut self) -> Vec<Notice> {
        let now = self.now();
        self.monitor.stop(now);
        self.drain()
    }

    /// An item from the channel.
    pub fn on_stream(&mut self, generation: u64, item: StreamItem) -> Vec<Notice> {
        if generation != self.generation || self.sub.is_none() {
            return Vec::new();
        }
        let now = self.now();
        let mut notices = Vec::new();
        match item {
            Ok(ev) => {
                self.monitor.handle_stream(now, &ev);
                notices.push(Notice::Event(ev));
            }
            Err(e) => {
                self.sub = None;
                self.monitor.handle_stream_failed(now, e.kind());
            }
        }
        notices.extend(self.drain());
        notices
    }

    /// Call when [`Watch::deadline`] passed.
    pub fn on_timeout(&mut self) -> Vec<Notice> {
        let now = self.now();
        self.monitor.handle_timeout(now);
        self.drain()
    }

    /// The server manager restarted the server.
    pub fn restarted(&mut self) -> Vec<Notice> {
        let now = self.now();
        self.monitor.handle_restarted(now);
        self.drain()
    }

    /// The monitor's next deadline as a wall-clock instant.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.monitor
            .poll_timeout()
            .map(|t| self.epoch + Duration::from_nanos(t.as_nanos()))
    }

    /// Perform the monitor's requests; return what the owner must see or do.
    fn drain(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        while let Some(out) = self.monitor.poll_output() {
            match out {
                HealthOutput::Subscribe => {
                    self.generation += 1;
                    let req = if self.global {
                        self.oc.api.global_event_request()
                    } else {
                        self.oc.api.event_request()
                    };
                    match req {
                        Ok(req) => {
                            let g = self.generation;
                            self.sub = Some(self.oc.http.subscribe_into(
                                req,
                                StreamOptions::default(),
                                self.tx.clone(),
                                move |item| Msg::Stream(g, item),
                            ));
                        }
                        Err(e) => {
                            self.sub = None;
                            let now = self.now();
                            self.monitor.handle_stream_failed(now, &e);
                        }
                    }
                }
                HealthOutput::Unsubscribe => self.sub = None,
                HealthOutput::FetchVersion => {
                    let version = self
                        .oc
                        .call("check health", "Health checked", self.oc.api.health())
                        .map(|h| h.version)
                        .map_err(|_| plue_http::ErrorKind::Shutdown);
                    let now = self.now();
                    self.monitor.handle_version(now, version);
                }
                HealthOutput::RestartServer => notices.push(Notice::Restart),
                HealthOutput::State(s) => notices.push(Notice::State(s)),
            }
        }
        notices
    }
}

/// The latest verdict, shared with threads that must wait for a healthy server.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<HealthState>,
    cv: Condvar,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: Mutex::new(HealthState::Connecting),
            cv: Condvar::new(),
        }
    }
}

impl Gate {
    /// Publish a verdict.
    pub fn set(&self, s: HealthState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = s;
        self.cv.notify_all();
    }

    /// Wait until `pred` holds (at most `timeout`); the verdict then, or `None` on timeout.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&HealthState) -> bool,
    ) -> Option<HealthState> {
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (g, res) = self
            .cv
            .wait_timeout_while(g, timeout, |s| !pred(s))
            .unwrap_or_else(|e| e.into_inner());
        (!res.timed_out()).then(|| g.clone())
    }
}

/// `true` for [`HealthState::Healthy`].
pub fn healthy(s: &HealthState) -> bool {
    matches!(s, HealthState::Healthy { .. })
}

/// A monitor on its own thread: every notice goes to `on_notice` (then the [`Gate`] is updated, so a waiter
/// sees a verdict only after it was printed). Stops when dropped.
pub struct Background {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    /// The verdict.
    pub gate: Arc<Gate>,
}

impl Background {
    /// Start monitoring `oc` with `cfg`.
    pub fn start(
        oc: Oc,
        cfg: HealthConfig,
        mut on_notice: impl FnMut(&Notice) + Send + 'static,
    ) -> Background {
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(Gate::default());
        let (g, t) = (gate.clone(), tx.clone());
        let thread = std::thread::spawn(move || {
            let mut watch = Watch::new(oc, cfg, false, t);
            let mut handle = |notices: Vec<Notice>| {
                for n in notices {
                    on_notice(&n);
                    if let Notice::State(s) = n {
                        g.set(s);
                    }
                }
            };
            handle(watch.start());
            run(&mut watch, &rx, &mut handle);
            handle(watch.stop());
        });
        Background {
            tx,
            thread: Some(thread),
            gate,
        }
    }
}

/// Feed `watch` from `rx` until [`Msg::Stop`] or the monitor stops.
pub fn run(watch: &mut Watch, rx: &Receiver<Msg>, handle: &mut impl FnMut(Vec<Notice>)) {
    loop {
        if matches!(watch.state(), HealthState::Stopped(_)) {
            return;
        }
        let msg = match watch.deadline() {
            Some(d) => rx.recv_timeout(d.saturating_duration_since(std::time::Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(Msg::Stream(g, item)) => handle(watch.on_stream(g, item)),
            Ok(Msg::Line(_)) => {}
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => handle(watch.on_timeout()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
