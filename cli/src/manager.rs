//! The server manager: runs `opencode serve` as a child process for `plue serve` and `plue --spawn`.
//!
//! Every decision is the core's: the [`Supervisor`] says when to spawn, signal, probe a port and when the server
//! is ready; the [`HealthMonitor`](plue_http_core::opencode::HealthMonitor) (through [`Watch`]) says when it is
//! healthy and when to restart it. This file only does the I/O: spawning with `std::process`, draining the
//! child's stdout/stderr line by line (a full pipe would block the server), SIGTERM/SIGKILL, binding a port to
//! probe it, and reaping the child.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use plue_http_core::opencode::supervisor::StartFailure;
use plue_http_core::opencode::{
    HealthConfig, HealthState, Signal, StopReason, Supervisor, SupervisorConfig, SupervisorOutput,
    SupervisorState,
};
use plue_http_core::time::Instant;

use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::ui::Ui;
use crate::watch::{Msg, Notice, Watch};

/// Makes the OpenCode connection for a server URL.
pub type MakeOc = Box<dyn Fn(&str) -> Result<Oc, Fail> + Send>;

/// The OpenCode binary: `bin`, else `OPENCODE_BIN`, else `opencode` on `PATH`.
pub fn find_binary(bin: Option<PathBuf>) -> Result<PathBuf, Fail> {
    if let Some(b) = bin.or_else(|| std::env::var_os("OPENCODE_BIN").map(PathBuf::from)) {
        return if b.is_file() {
            Ok(b)
        } else {
            Err(Fail::usage(format!(
                "Could not start OpenCode: {} does not exist; nothing had succeeded before.",
                b.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("opencode"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Fail::usage(
                "Could not start OpenCode: no `opencode` on PATH and OPENCODE_BIN is not set (use --url for a \
                 running server, or leave both out to use the embedded demo server); nothing had succeeded before.",
            )
        })
}

/// Whether the server is up, as the waiting thread sees it.
type Ready = Arc<(Mutex<Option<Result<String, String>>>, Condvar)>;

/// A supervised OpenCode server. [`Manager::stop`] (or dropping it) stops the server and reaps it.
pub struct Manager {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    ready: Ready,
}

impl Manager {
    /// Start `bin serve` and supervise it. Progress lines go to `ui`'s stderr.
    pub fn start(bin: PathBuf, ui: Arc<Ui>, make_oc: MakeOc) -> Manager {
        let (tx, rx) = mpsc::channel();
        let ready: Ready = Arc::new((Mutex::new(None), Condvar::new()));
        let mut lp = Loop {
            bin,
            ui,
            make_oc,
            sup: Supervisor::new(SupervisorConfig::default()),
            watch: None,
            child: None,
            tx: tx.clone(),
            ready: ready.clone(),
            epoch: std::time::Instant::now(),
        };
        let thread = std::thread::spawn(move || lp.run(&rx));
        Manager {
            tx,
            thread: Some(thread),
            ready,
        }
    }

    /// Wait until the server is healthy (its URL) or the start failed.
    pub fn wait_ready(&self, timeout: Duration) -> Result<String, Fail> {
        let (m, cv) = &*self.ready;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = cv
            .wait_timeout_while(g, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        match g.clone() {
            Some(Ok(url)) => Ok(url),
            Some(Err(reason)) => Err(Fail::plain(Exit::Connect, "start OpenCode", &reason, None)),
            None => Err(Fail::plain(
                Exit::Timeout,
                "start OpenCode",
                &format!("it was not healthy within {} s", timeout.as_secs()),
                None,
            )),
        }
    }

    /// `true` once the supervisor has given up or stopped.
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stop the server (SIGTERM, SIGKILL after the grace period) and wait until it is reaped.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Loop {
    bin: PathBuf,
    ui: Arc<Ui>,
    make_oc: MakeOc,
    sup: Supervisor,
    watch: Option<Watch>,
    child: Option<Child>,
    tx: Sender<Msg>,
    ready: Ready,
    epoch: std::time::Instant,
}

impl Loop {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    fn run(&mut self, rx: &Receiver<Msg>) {
        let now = self.now();
        self.sup.start(now);
        let mut stopping = false;
        loop {
            self.pump();
            if matches!(
                self.sup.state(),
                SupervisorState::Stopped | SupervisorState::Failed(_)
            ) && self.child.is_none()
            {
                break;
            }
            // Wake at the earliest deadline, and at least every 100 ms to reap the child.
            let mut wait = Duration::from_millis(100);
            if let Some(d) = self.sup.poll_timeout() {
                wait = wait.min(d.saturating_duration_since(self.now()));
            }
            if let Some(d) = self.watch.as_ref().and_then(Watch::deadline) {
                wait = wait.min(d.saturating_duration_since(std::time::Instant::now()));
            }
            match rx.recv_timeout(wait) {
                Ok(Msg::Stream(g, item)) => {
                    if let Some(w) = &mut self.watch {
                        let n = w.on_stream(g, item);
                        self.notices(n);
                    }
                }
                Ok(Msg::Line(line)) => {
                    let now = self.now();
                    self.sup.handle_line(now, &line);
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    if !stopping {
                        stopping = true;
                        if let Some(w) = &mut self.watch {
                            let n = w.stop();
                            self.notices(n);
                        }
                        let now = self.now();
                        self.sup.stop(now);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = self.now();
            self.sup.handle_timeout(now);
            if let Some(w) = &mut self.watch {
                if w.deadline().is_some_and(|d| d <= std::time::Instant::now()) {
                    let n = w.on_timeout();
                    self.notices(n);
                }
            }
            self.reap();
        }
        self.publish(Err("the supervisor stopped".into()));
    }

    fn reap(&mut self) {
        let Some(child) = &mut self.child else { return };
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            let now = self.now();
            self.sup.handle_exited(now, status.code());
        }
    }

    /// Perform the supervisor's outputs until it has none.
    fn pump(&mut self) {
        while let Some(out) = self.sup.poll_output() {
            let now = self.now();
            match out {
                SupervisorOutput::Spawn { port } => match self.spawn(port) {
                    Ok(child) => self.child = Some(child),
                    Err(e) => self.sup.handle_spawn_failed(now, &e),
                },
                SupervisorOutput::Signal(sig) => self.signal(sig),
                SupervisorOutput::ProbePort(port) => {
                    let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
                    self.sup.handle_port_probe(now, free);
                }
                SupervisorOutput::Listening { url } => match (self.make_oc)(&url) {
                    Ok(oc) => {
                        let n = match &mut self.watch {
                            Some(w) => {
                                w.set_oc(oc);
                                w.restarted()
                            }
                            None => {
                                let mut w =
                                    Watch::new(oc, HealthConfig::default(), false, self.tx.clone());
                                let n = w.start();
                                self.watch = Some(w);
                                n
                            }
                        };
                        self.notices(n);
                    }
                    Err(f) => {
                        self.ui.info(&f.message);
                        self.sup.stop(now);
                    }
                },
                SupervisorOutput::Ready { url, moved } => {
                    if moved {
                        self.ui.info(&format!(
                            "OpenCode server moved to {url} (events sent meanwhile are lost)"
                        ));
                    }
                    self.publish(Ok(url));
                }
                SupervisorOutput::State(s) => self.state(&s),
            }
        }
    }

    fn notices(&mut self, notices: Vec<Notice>) {
        for n in notices {
            let now = self.now();
            match n {
                Notice::State(HealthState::Healthy { version }) => {
                    let v = version.unwrap_or_else(|| "unknown version".into());
                    self.ui
                        .info(&format!("OpenCode server healthy (version {v})"));
                    self.sup.handle_healthy(now);
                }
                Notice::State(HealthState::Degraded { attempt }) => self.ui.info(&format!(
                    "Connection lost. Reconnecting... (attempt {attempt}/{})",
                    HealthConfig::default().max_connection_failures
                )),
                Notice::State(HealthState::Stopped(StopReason::Shutdown)) => {}
                Notice::State(HealthState::Stopped(reason)) => {
                    self.ui.info(&format!(
                        "The health monitor gave up ({reason:?}): stopping the server"
                    ));
                    self.sup.stop(now);
                }
                Notice::State(_) | Notice::Event(_) => {}
                Notice::Restart => {
                    self.ui.info("The server stopped answering: restarting it");
                    self.sup.restart(now);
                }
            }
        }
    }

    fn state(&mut self, s: &SupervisorState) {
        let line = match s {
            SupervisorState::Idle => return,
            SupervisorState::Starting => {
                format!("Starting OpenCode server ({})...", self.bin.display())
            }
            SupervisorState::WaitingHealth { url } => {
                format!("OpenCode server listening on {url}; waiting for its first event")
            }
            SupervisorState::Running { url } => format!("OpenCode server running at {url}"),
            SupervisorState::Restarting => "Restarting the OpenCode server...".into(),
            SupervisorState::Stopping => "Stopping the OpenCode server (SIGTERM)...".into(),
            SupervisorState::Exited { code } => {
                format!("OpenCode server exited ({})", code_text(*code))
            }
            SupervisorState::Stopped => "OpenCode server stopped".into(),
            SupervisorState::Failed(f) => {
                let reason = failure_text(f);
                self.publish(Err(reason.clone()));
                format!("OpenCode server failed: {reason}")
            }
        };
        self.ui.info(&line);
    }

    fn publish(&self, r: Result<String, String>) {
        let (m, cv) = &*self.ready;
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(r);
            cv.notify_all();
        }
    }

    fn spawn(&self, port: u16) -> Result<Child, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--hostname", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent: if plue dies, the kernel
        // stops the server instead of leaving it behind.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        if let Some(out) = child.stdout.take() {
            drain(out, self.tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            drain(err, self.tx.clone());
        }
        Ok(child)
    }

    fn signal(&mut self, sig: Signal) {
        let Some(child) = &mut self.child else { return };
        match sig {
            Signal::Term => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: a plain syscall on our own child, which has not been reaped yet (so the pid is ours).
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
            Signal::Kill => {
                let _ = child.kill();
            }
        }
    }
}

/// Read the child's output line by line for its whole life.
fn drain(pipe: impl Read + Send + 'static, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(Msg::Line(line)).is_err() {
                break;
            }
        }
    });
}

fn code_text(code: Option<i32>) -> String {
    code.map_or_else(|| "killed by a signal".into(), |c| format!("code {c}"))
}

fn failure_text(f: &StartFailure) -> String {
    match f {
        StartFailure::SpawnFailed(m) => format!("could not run it: {m}"),
        StartFailure::Timeout => "it did not print its URL in time".into(),
        StartFailure::ExitedEarly { code } => {
            format!("it exited before listening ({})", code_text(*code))
        }
        StartFailure::HealthTimeout => "it listened but never became healthy".into(),
    }
}
