//! TEST UTILITY: a blocking server manager and `/event` follower that carry out the core's decisions
//! ([`Supervisor`], [`HealthMonitor`]) against the real OpenCode process, until the per-runtime managers land.
//!
//! It makes no decision of its own. The one thing it stands in for is the reconnecting event-stream machine: a
//! broken `/event` connection is reported as `StreamEvent::Reconnecting` and retried after [`RECONNECT_DELAY`].

use std::net::TcpListener;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use plue_http_core::opencode::{
    Api, HealthConfig, HealthMonitor, HealthOutput, HealthState, OpenCodeOptions, Signal,
    Supervisor, SupervisorConfig, SupervisorOutput, SupervisorState,
};
use plue_http_core::sse::{ReconnectCause, SseEvent, StreamEvent};
use plue_http_core::time::Instant;
use plue_http_core::NetError;

use crate::blocking;
use crate::opencode_fixture::{stop_group, Sandbox};

/// Pause before re-opening a broken `/event` connection.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(300);

/// What happened, in order, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// The monitor's state changed.
    Health(HealthState),
    /// The supervisor's state changed.
    Server(SupervisorState),
    /// A process was spawned with this pid.
    Spawned(u32),
    /// The supervisor said the server is ready.
    Ready {
        /// URL.
        url: String,
        /// Whether it moved.
        moved: bool,
    },
}

enum Msg {
    Line(String),
    Stream(u64, Option<StreamEvent>),
}

/// The manager: one sandbox, at most one process, one `/event` follower.
pub struct Manager {
    sandbox: Sandbox,
    pub supervisor: Supervisor,
    pub monitor: HealthMonitor,
    child: Option<Child>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    epoch: std::time::Instant,
    /// The current subscription generation; items of older ones are dropped.
    subscription: u64,
    reconnect_at: Option<std::time::Instant>,
    reconnect_attempt: u32,
    url: Option<String>,
    /// Everything that happened.
    pub log: Vec<Happened>,
}

impl Manager {
    /// A manager over a fresh sandbox.
    pub fn new() -> Result<Manager, String> {
        let (tx, rx) = mpsc::channel();
        Ok(Manager {
            sandbox: Sandbox::new()?,
            supervisor: Supervisor::new(SupervisorConfig::default()),
            monitor: HealthMonitor::new(HealthConfig::default()),
            child: None,
            tx,
            rx,
            epoch: std::time::Instant::now(),
            subscription: 0,
            reconnect_at: None,
            reconnect_attempt: 0,
            url: None,
            log: Vec::new(),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// The current process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Start the server.
    pub fn start(&mut self) {
        let now = self.now();
        self.supervisor.start(now);
        self.act();
    }

    /// Stop everything: the subscription, then the process (SIGTERM, SIGKILL after the grace period).
    pub fn stop(&mut self) {
        let now = self.now();
        self.monitor.stop(now);
        self.supervisor.stop(now);
        self.act();
    }

    /// Run until `done` holds or `limit` passes; `false` on timeout.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Manager) -> bool) -> bool {
        let end = std::time::Instant::now() + limit;
        while !done(self) {
            let now_std = std::time::Instant::now();
            if now_std >= end {
                return false;
            }
            self.step((end - now_std).min(Duration::from_millis(50)));
        }
        true
    }

    fn step(&mut self, wait: Duration) {
        if let Ok(msg) = self.rx.recv_timeout(wait) {
            let now = self.now();
            match msg {
                Msg::Line(line) => self.supervisor.handle_line(now, &line),
                Msg::Stream(gen, item) if gen == self.subscription => match item {
                    Some(ev) => {
                        if matches!(ev, StreamEvent::Event(_)) {
                            self.reconnect_attempt = 0;
                        }
                        self.monitor.handle_stream(now, &ev)
                    }
                    None => {
                        // The connection broke or never opened: what the event-stream machine reports.
                        self.reconnect_attempt += 1;
                        self.monitor.handle_stream(
                            now,
                            &StreamEvent::Reconnecting {
                                attempt: self.reconnect_attempt,
                                max: None,
                                delay: RECONNECT_DELAY,
                                cause: ReconnectCause::Network(NetError::Refused),
                            },
                        );
                        self.reconnect_at = Some(std::time::Instant::now() + RECONNECT_DELAY);
                    }
                },
                Msg::Stream(..) => {}
            }
        }
        let now = self.now();
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                self.supervisor.handle_exited(now, status.code());
            }
        }
        if self
            .reconnect_at
            .is_some_and(|t| std::time::Instant::now() >= t)
        {
            self.reconnect_at = None;
            self.follow();
        }
        if self.monitor.poll_timeout().is_some_and(|d| d <= now) {
            self.monitor.handle_timeout(now);
        }
        if self.supervisor.poll_timeout().is_some_and(|d| d <= now) {
            self.supervisor.handle_timeout(now);
        }
        self.act();
    }

    /// Open `/event` on a thread; its items come back tagged with the subscription generation.
    fn follow(&mut self) {
        let Some(url) = self.url.clone() else { return };
        let gen = self.subscription;
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let api = Api::new(&OpenCodeOptions::new(url)).expect("url");
            let req = api.event_request().expect("request");
            match blocking::subscribe(&req, Duration::from_secs(60)) {
                Ok((head, mut events)) if head.status.is_success() => {
                    let _ = tx.send(Msg::Stream(gen, Some(StreamEvent::Connected)));
                    while let Ok(Some(data)) = events.next_data() {
                        let ev = StreamEvent::Event(SseEvent {
                            event: "message".into(),
                            data,
                            id: String::new(),
                        });
                        if tx.send(Msg::Stream(gen, Some(ev))).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Msg::Stream(gen, None));
                }
                _ => {
                    let _ = tx.send(Msg::Stream(gen, None));
                }
            }
        });
    }

    /// Carry out every output of both machines until both are quiet.
    fn act(&mut self) {
        loop {
            let now = self.now();
            if let Some(o) = self.supervisor.poll_output() {
                match o {
                    SupervisorOutput::Spawn { port } => {
                        let lines = mpsc::channel::<String>();
                        let fwd = self.tx.clone();
                        std::thread::spawn(move || {
                            for l in lines.1 {
                                if fwd.send(Msg::Line(l)).is_err() {
                                    return;
                                }
                            }
                        });
                        match self.sandbox.spawn(port, None, lines.0) {
                            Ok(child) => {
                                self.log.push(Happened::Spawned(child.id()));
                                self.child = Some(child);
                            }
                            Err(e) => self.supervisor.handle_spawn_failed(now, &e),
                        }
                    }
                    SupervisorOutput::Signal(sig) => {
                        if let Some(c) = &self.child {
                            let s = match sig {
                                Signal::Term => libc::SIGTERM,
                                Signal::Kill => libc::SIGKILL,
                            };
                            // SAFETY: a plain syscall on our own child's process group.
                            unsafe { libc::kill(-(c.id() as i32), s) };
                        }
                    }
                    SupervisorOutput::ProbePort(port) => {
                        let free = TcpListener::bind(("127.0.0.1", port)).is_ok();
                        self.supervisor.handle_port_probe(now, free);
                    }
                    SupervisorOutput::Listening { url } => {
                        self.url = Some(url);
                        if self.monitor.state() == &HealthState::Restarting {
                            self.monitor.handle_restarted(now);
                        } else {
                            self.monitor.start(now);
                        }
                    }
                    SupervisorOutput::Ready { url, moved } => {
                        self.log.push(Happened::Ready { url, moved })
                    }
                    SupervisorOutput::State(s) => {
                        if let SupervisorState::Failed(_) = &s {
                            self.monitor.handle_restart_failed(now);
                        }
                        self.log.push(Happened::Server(s));
                    }
                }
                continue;
            }
            if let Some(o) = self.monitor.poll_output() {
                match o {
                    HealthOutput::Subscribe => {
                        self.subscription += 1;
                        self.reconnect_at = None;
                        self.reconnect_attempt = 0;
                        self.follow();
                    }
                    HealthOutput::Unsubscribe => {
                        // Items of the old generation are dropped from now on.
                        self.subscription += 1;
                        self.reconnect_at = None;
                    }
                    HealthOutput::FetchVersion => {
                        let version = self.url.as_ref().and_then(|u| {
                            let call = Api::new(&OpenCodeOptions::new(u.clone()))
                                .ok()?
                                .health()
                                .ok()?;
                            let resp = blocking::send(&call.request, Some(Duration::from_secs(10)))
                                .ok()?;
                            call.parse(&resp).ok()
                        });
                        let now = self.now();
                        self.monitor.handle_version(
                            now,
                            version
                                .map(|h| h.version)
                                .ok_or(plue_http_core::ErrorKind::Aborted),
                        );
                    }
                    HealthOutput::RestartServer => self.supervisor.restart(now),
                    HealthOutput::State(s) => {
                        if matches!(s, HealthState::Healthy { .. }) {
                            self.supervisor.handle_healthy(now);
                        }
                        self.log.push(Happened::Health(s));
                    }
                }
                continue;
            }
            return;
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_group(child, Duration::from_secs(5));
        }
    }
}
