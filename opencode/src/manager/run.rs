//! The loop behind [`ServerManager`](super::ServerManager) and [`HealthWatch`](super::HealthWatch): it carries
//! out the core's [`HealthMonitor`] and (when it owns the server) [`Supervisor`] decisions on any [`Host`].
//!
//! It makes no decision of its own. It subscribes to `/event` when the monitor says so (aborting the previous
//! subscription first: never two), fetches the version, spawns the server, probes its old port, moves the
//! clients to a new URL, and reports every state change.

use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use async_channel::{Receiver, Sender};
use futures_lite::future::or;
use futures_lite::StreamExt;

use super::host::Host;
use super::process::{drain, keep, ManagerOptions};
use super::report::{reconnect_notice, Report, StartError};
use super::shared::{Common, Msg, Status};
use crate::client::OpenCode;
use crate::{
    DirectoryMode, HealthConfig, HealthMonitor, HealthOutput, HealthState, OpenCodeOptions, Signal,
    StopReason, Supervisor, SupervisorOutput, SupervisorState,
};
use plue_http_core::error::Error;
use plue_http_core::time::Instant;
use plue_http_driver::{AbortHandle, ChildProcess, Front};

pub(super) struct Loop<H: Host> {
    host: H,
    epoch: StdInstant,
    front: Front,
    monitor: HealthMonitor,
    /// The supervisor and how to run the server, when this loop owns it.
    server: Option<(Supervisor, ManagerOptions)>,
    opencode: Option<OpenCode>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    reports: Sender<Report>,
    status: Arc<Mutex<Status>>,
    ready_tx: Option<Sender<()>>,
    _done_tx: Sender<()>,
    /// The current subscription's generation and abort handle.
    generation: u64,
    subscription: Option<AbortHandle>,
    /// The current process's generation and signal channel (while it runs).
    child_gen: u64,
    child: Option<Sender<Signal>>,
    /// The credentials of the server launched last (a fresh password per launch).
    launch_auth: Option<crate::Auth>,
    stopping: bool,
}

impl<H: Host> Loop<H> {
    pub(super) fn spawn(
        host: H,
        front: Front,
        health: HealthConfig,
        server: Option<(Supervisor, ManagerOptions)>,
        opencode: Option<OpenCode>,
    ) -> Common {
        let (tx, rx) = async_channel::unbounded();
        let (reports_tx, reports) = async_channel::unbounded();
        let (ready_tx, ready) = async_channel::bounded(1);
        let (done_tx, done) = async_channel::bounded(1);
        let status = Arc::new(Mutex::new(Status {
            opencode: opencode.clone(),
            ..Status::default()
        }));
        let lp = Loop {
            epoch: host.now(),
            host: host.clone(),
            front,
            monitor: HealthMonitor::new(health),
            server,
            opencode,
            tx: tx.clone(),
            rx,
            reports: reports_tx,
            status: status.clone(),
            ready_tx: Some(ready_tx),
            _done_tx: done_tx,
            generation: 0,
            subscription: None,
            child_gen: 0,
            child: None,
            launch_auth: None,
            stopping: false,
        };
        host.spawn(lp.run());
        Common {
            tx,
            reports,
            status,
            ready,
            done,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(
            u64::try_from(
                self.host
                    .now()
                    .saturating_duration_since(self.epoch)
                    .as_nanos(),
            )
            .unwrap_or(u64::MAX),
        )
    }

    fn to_std(&self, at: Instant) -> StdInstant {
        self.epoch + Duration::from_nanos(at.as_nanos())
    }

    fn deadline(&self) -> Option<Instant> {
        let sup = self.server.as_ref().and_then(|(s, _)| s.poll_timeout());
        match (self.monitor.poll_timeout(), sup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn run(mut self) {
        let now = self.now();
        match &mut self.server {
            Some((sup, _)) => sup.start(now),
            None => self.monitor.start(now),
        }
        self.act();
        while !self.finished() {
            let msg = match self.deadline() {
                None => self.rx.recv().await.ok(),
                Some(at) => {
                    let sleep = self.host.sleep_until(self.to_std(at));
                    let rx = self.rx.clone();
                    or(async { rx.recv().await.ok() }, async {
                        sleep.await;
                        None
                    })
                    .await
                }
            };
            if let Some(msg) = msg {
                self.handle(msg);
            }
            // Deadlines are judged by the clock, not by which future won.
            let now = self.now();
            if self.monitor.poll_timeout().is_some_and(|d| d <= now) {
                self.monitor.handle_timeout(now);
            }
            if let Some((sup, _)) = &mut self.server {
                if sup.poll_timeout().is_some_and(|d| d <= now) {
                    sup.handle_timeout(now);
                }
            }
            self.act();
        }
        self.unsubscribe();
        self.publish_ready(Err(StartError::Stopped));
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.finished = true;
        st.pid = None;
    }

    fn finished(&self) -> bool {
        match &self.server {
            None => matches!(self.monitor.state(), HealthState::Stopped(_)),
            Some((sup, _)) => {
                self.child.is_none()
                    && matches!(
                        sup.state(),
                        SupervisorState::Stopped | SupervisorState::Failed(_)
                    )
                    && self.monitor.state() != &HealthState::Restarting
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        let now = self.now();
        match msg {
            Msg::Line(gen, line) if gen == self.child_gen => {
                if let Some((sup, _)) = &mut self.server {
                    sup.handle_line(now, &line);
                }
            }
            Msg::Exited(gen, code) if gen == self.child_gen => {
                self.child = None;
                self.status().pid = None;
                if let Some((sup, _)) = &mut self.server {
                    sup.handle_exited(now, code);
                }
            }
            Msg::Stream(gen, item) if gen == self.generation => match item {
                Ok(ev) => self.monitor.handle_stream(now, &ev),
                Err(e) => {
                    self.subscription = None;
                    self.monitor.handle_stream_failed(now, e.kind());
                }
            },
            Msg::Version(gen, v) if gen == self.generation => self.monitor.handle_version(now, v),
            Msg::PortFree(free) => {
                if let Some((sup, _)) = &mut self.server {
                    sup.handle_port_probe(now, free);
                }
            }
            Msg::Stop if !self.stopping => {
                self.stopping = true;
                self.monitor.stop(now);
                if let Some((sup, _)) = &mut self.server {
                    sup.stop(now);
                }
            }
            // Items of an old subscription or process, a second Stop.
            _ => {}
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn report(&self, r: Report) {
        let _ = self.reports.try_send(r);
    }

    fn publish_ready(&mut self, r: Result<OpenCode, StartError>) {
        if let Some(tx) = self.ready_tx.take() {
            self.status().ready = Some(r);
            drop(tx);
        }
    }

    /// Carry out both machines' outputs until both are quiet.
    fn act(&mut self) {
        loop {
            let out = self.server.as_mut().and_then(|(s, _)| s.poll_output());
            if let Some(o) = out {
                self.supervisor_output(o);
                continue;
            }
            if let Some(o) = self.monitor.poll_output() {
                self.monitor_output(o);
                continue;
            }
            return;
        }
    }

    fn supervisor_output(&mut self, out: SupervisorOutput) {
        let now = self.now();
        match out {
            SupervisorOutput::Spawn { port } => self.spawn_server(port),
            SupervisorOutput::Signal(sig) => {
                if let Some(tx) = &self.child {
                    let _ = tx.try_send(sig);
                }
            }
            SupervisorOutput::ProbePort(port) => {
                let (host, tx) = (self.host.clone(), self.tx.clone());
                self.host.spawn(async move {
                    let free = host.port_is_free(port).await;
                    let _ = tx.send(Msg::PortFree(free)).await;
                });
            }
            SupervisorOutput::Listening { url } => {
                if let Err(e) = self.point_at(&url) {
                    self.publish_ready(Err(StartError::Client(e)));
                    if let Some((sup, _)) = &mut self.server {
                        sup.stop(now);
                    }
                    return;
                }
                if self.monitor.state() == &HealthState::Restarting {
                    self.monitor.handle_restarted(now);
                } else {
                    self.monitor.start(now);
                }
            }
            SupervisorOutput::Ready { url, moved } => {
                self.report(Report::Ready {
                    url: url.clone(),
                    moved,
                });
                if moved {
                    self.report(Report::Notice(format!(
                        "The OpenCode server moved to {url}: events sent meanwhile are lost"
                    )));
                }
                if let Some(oc) = self.opencode.clone() {
                    if self.ready_tx.is_none() {
                        // A restart: streams must not wait out their backoff against the new process.
                        oc.resubscribe_streams();
                    }
                    self.publish_ready(Ok(oc));
                }
            }
            SupervisorOutput::State(s) => {
                if let SupervisorState::Failed(f) = &s {
                    if self.monitor.state() == &HealthState::Restarting {
                        self.monitor.handle_restart_failed(now);
                    } else {
                        self.publish_ready(Err(StartError::Failed(f.clone())));
                    }
                }
                self.report(Report::Server(s));
            }
        }
    }

    /// Create the client at the first URL, move it at later ones.
    fn point_at(&mut self, url: &str) -> Result<(), Error> {
        match &self.opencode {
            // Streams resubscribe once the restarted server is healthy (`Ready`), with its new password.
            Some(oc) => {
                oc.point_at(url)?;
                if self.server.is_some() {
                    oc.replace_auth(self.launch_auth.clone());
                }
            }
            None => {
                let opts = self.server.as_ref().map(|(_, o)| o);
                let options = OpenCodeOptions {
                    url: url.to_string(),
                    directory: opts.and_then(|o| o.directory.clone()),
                    directory_mode: DirectoryMode::Query,
                    auth: self.launch_auth.clone(),
                };
                let oc = OpenCode::new(self.front.clone(), options)?;
                self.status().opencode = Some(oc.clone());
                self.opencode = Some(oc);
            }
        }
        Ok(())
    }

    fn monitor_output(&mut self, out: HealthOutput) {
        let now = self.now();
        match out {
            HealthOutput::Subscribe => self.subscribe(),
            HealthOutput::Unsubscribe => self.unsubscribe(),
            HealthOutput::FetchVersion => {
                let (Some(oc), gen, tx) = (self.opencode.clone(), self.generation, self.tx.clone())
                else {
                    return;
                };
                self.host.spawn(async move {
                    let v = oc
                        .health()
                        .await
                        .map(|h| h.version)
                        .map_err(Error::into_kind);
                    let _ = tx.send(Msg::Version(gen, v)).await;
                });
            }
            HealthOutput::RestartServer => {
                if let Some((sup, _)) = &mut self.server {
                    sup.restart(now);
                }
            }
            HealthOutput::State(s) => {
                self.report(Report::Health(s.clone()));
                match &s {
                    HealthState::Healthy { .. } => {
                        if let Some((sup, _)) = &mut self.server {
                            sup.handle_healthy(now);
                        } else if let Some(oc) = self.opencode.clone() {
                            // Attached to a server someone else runs: it is ready once healthy.
                            self.publish_ready(Ok(oc));
                        }
                    }
                    HealthState::Degraded { attempt } => {
                        // N is the restart threshold; a watch that cannot restart has no limit.
                        let cfg = self.monitor.config();
                        let max = cfg.can_restart.then_some(cfg.max_connection_failures);
                        self.report(Report::Notice(reconnect_notice(*attempt, max)));
                    }
                    HealthState::Stopped(reason) if *reason != StopReason::Shutdown => {
                        self.report(Report::Notice(format!(
                            "The health monitor gave up: {reason:?}"
                        )));
                        if let Some((sup, _)) = &mut self.server {
                            sup.stop(now);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A fresh `/event` subscription; the previous one is aborted first (never two).
    fn subscribe(&mut self) {
        self.unsubscribe();
        let Some(oc) = &self.opencode else { return };
        let req = match oc.api().event_request() {
            Ok(r) => r,
            Err(e) => {
                let now = self.now();
                self.monitor.handle_stream_failed(now, &e);
                return;
            }
        };
        let mut stream = self
            .front
            .subscribe(req, plue_http_core::client::StreamOptions::default());
        self.subscription = Some(stream.abort_handle());
        let (gen, tx) = (self.generation, self.tx.clone());
        self.host.spawn(async move {
            while let Some(item) = stream.next().await {
                let end = item.is_err();
                if tx.send(Msg::Stream(gen, item)).await.is_err() || end {
                    break;
                }
            }
        });
    }

    fn unsubscribe(&mut self) {
        // Items of the old subscription are dropped from now on.
        self.generation += 1;
        if let Some(h) = self.subscription.take() {
            h.abort();
        }
    }

    fn spawn_server(&mut self, port: u16) {
        let now = self.now();
        let Some((sup, opts)) = &mut self.server else {
            return;
        };
        let spawned = super::launch::prepare(opts, port).and_then(|launch| {
            // The new password is the clients' before the server can answer anyone: a stream that reconnects
            // to it meanwhile with the old one is refused and subscribes again (see `Events`), never ends.
            if let Some(oc) = &self.opencode {
                oc.replace_auth(Some(launch.auth.clone()));
            }
            self.launch_auth = Some(launch.auth);
            self.host.spawn_process(launch.command)
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                sup.handle_spawn_failed(now, &e.to_string());
                return;
            }
        };
        self.child_gen += 1;
        let gen = self.child_gen;
        if let Some(pid) = child.id() {
            self.status().pid = Some(pid);
            self.report(Report::Spawned { pid });
        }
        if let Some(p) = child.take_stdout() {
            self.host.spawn(drain(p, self.tx.clone(), gen));
        }
        if let Some(p) = child.take_stderr() {
            self.host.spawn(drain(p, self.tx.clone(), gen));
        }
        let (sig_tx, sig_rx) = async_channel::unbounded();
        self.child = Some(sig_tx);
        self.host.spawn(keep(child, sig_rx, self.tx.clone(), gen));
    }
}
