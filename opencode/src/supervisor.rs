//! Server-process lifecycle decisions for the server manager, sans-IO.
//!
//! The manager (one per runtime) spawns, signals and reaps `opencode serve`; this machine decides when. It reads
//! the URL from the process's `listening on` line, enforces the start and health-wait timeouts, restarts on the
//! same port when that port is free (else on a new one, and says the URL moved), and stops the process with
//! SIGTERM followed by SIGKILL after a grace period. Restart *decisions* come from the
//! [`super::health::HealthMonitor`]; this machine only carries them out.

use std::collections::VecDeque;
use std::time::Duration;

use plue_http_core::time::Instant;
use plue_http_core::url::Url;

/// Supervisor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// The `listening on` line must appear this long after spawning (OpenCode 1.18 prints it after ~1 s).
    pub start_timeout: Duration,
    /// After listening, the health monitor must report healthy within this.
    pub health_timeout: Duration,
    /// After SIGTERM, wait this long for the process to exit before SIGKILL (OpenCode 1.18 exits in ~2 s).
    pub stop_grace: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            start_timeout: Duration::from_secs(30),
            health_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(5),
        }
    }
}

/// A signal to send to the server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGTERM: please exit.
    Term,
    /// SIGKILL: exit now.
    Kill,
}

/// Why a start failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFailure {
    /// The process could not be spawned (binary missing, not executable, …).
    SpawnFailed(String),
    /// No `listening on` line within `start_timeout`.
    Timeout,
    /// The process exited before it listened.
    ExitedEarly {
        /// Its exit code, `None` when a signal ended it.
        code: Option<i32>,
    },
    /// Listening, but not healthy within `health_timeout`.
    HealthTimeout,
}

/// What the supervised server is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorState {
    /// Not started.
    Idle,
    /// Spawned; waiting for its `listening on` line.
    Starting,
    /// Listening at `url`; waiting for the health monitor.
    WaitingHealth {
        /// The server URL.
        url: String,
    },
    /// Healthy at `url`.
    Running {
        /// The server URL.
        url: String,
    },
    /// Replacing the process: stopping the old one, checking its port, spawning the new one.
    Restarting,
    /// Stopping on request (SIGTERM sent; SIGKILL after the grace period).
    Stopping,
    /// The process died on its own. The health monitor decides whether to restart.
    Exited {
        /// Its exit code, `None` when a signal ended it.
        code: Option<i32>,
    },
    /// Stopped on request; no process left.
    Stopped,
    /// The start failed; no process left.
    Failed(StartFailure),
}

/// What the supervisor asks of the server manager, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorOutput {
    /// Spawn `opencode serve --port {port} --hostname 127.0.0.1` (port 0: any free port), keep draining its
    /// stdout and stderr line by line into [`Supervisor::handle_line`] (a full pipe would block the server), and
    /// report [`Supervisor::handle_exited`] when it exits or [`Supervisor::handle_spawn_failed`].
    Spawn {
        /// The port to ask for.
        port: u16,
    },
    /// Send this signal to the process.
    Signal(Signal),
    /// Check whether `127.0.0.1:{port}` is free (e.g. try to bind it) and answer
    /// [`Supervisor::handle_port_probe`].
    ProbePort(u16),
    /// The process listens at `url`: point the health monitor and clients there.
    Listening {
        /// The server URL.
        url: String,
    },
    /// The server is healthy at `url`. `moved`: a restart changed the URL, so clients must switch and expect a
    /// gap in events.
    Ready {
        /// The server URL.
        url: String,
        /// The URL differs from the previous process's.
        moved: bool,
    },
    /// The state changed.
    State(SupervisorState),
}

/// What to do once the process has exited.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    Restart,
    Stop,
    Fail(StartFailure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Idle,
    Starting,
    WaitingHealth,
    Running,
    /// SIGTERM sent (and SIGKILL when `killed`); waiting for the exit.
    Stopping {
        killed: bool,
        then: Then,
    },
    /// Waiting for the answer to `ProbePort`.
    Probing,
    Done,
}

/// The supervisor. See the module docs.
#[derive(Debug)]
pub struct Supervisor {
    cfg: SupervisorConfig,
    phase: Phase,
    state: SupervisorState,
    alive: bool,
    deadline: Option<Instant>,
    url: Option<String>,
    port: Option<u16>,
    /// The URL of the process before a restart, to tell whether it moved.
    previous_url: Option<String>,
    out: VecDeque<SupervisorOutput>,
}

/// The URL in an `opencode server listening on http://127.0.0.1:4096` line, or `None` for any other line.
pub fn parse_listening_line(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on")? + "listening on".len()..];
    let start = rest.find("http://")?;
    let url = rest[start..]
        .split(|c: char| c.is_whitespace() || c == '\u{1b}')
        .next()?
        .trim_end_matches(['.', ',', ';', '/']);
    let parsed = Url::parse(url).ok()?;
    Some(format!("http://{}", parsed.authority()))
}

fn port_of(url: &str) -> Option<u16> {
    Url::parse(url).ok().map(|u| u.port())
}

impl Supervisor {
    /// A supervisor with no process.
    pub fn new(cfg: SupervisorConfig) -> Self {
        Supervisor {
            cfg,
            phase: Phase::Idle,
            state: SupervisorState::Idle,
            alive: false,
            deadline: None,
            url: None,
            port: None,
            previous_url: None,
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &SupervisorState {
        &self.state
    }

    /// The URL of the current process, once it listens.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    fn set_state(&mut self, s: SupervisorState) {
        if self.state != s {
            self.state = s.clone();
            self.out.push_back(SupervisorOutput::State(s));
        }
    }

    fn spawn(&mut self, now: Instant, port: u16) {
        self.alive = true;
        self.url = None;
        self.phase = Phase::Starting;
        self.deadline = Some(now + self.cfg.start_timeout);
        self.out.push_back(SupervisorOutput::Spawn { port });
        if self.previous_url.is_none() {
            self.set_state(SupervisorState::Starting);
        }
    }

    /// Start a server. Ignored while a process is alive.
    pub fn start(&mut self, now: Instant) {
        if self.alive || !matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        self.previous_url = None;
        self.spawn(now, 0);
    }

    /// The spawn failed.
    pub fn handle_spawn_failed(&mut self, _now: Instant, message: &str) {
        if self.phase != Phase::Starting {
            return;
        }
        self.alive = false;
        self.finish(SupervisorState::Failed(StartFailure::SpawnFailed(
            message.to_string(),
        )));
    }

    fn finish(&mut self, s: SupervisorState) {
        self.phase = Phase::Done;
        self.deadline = None;
        self.previous_url = None;
        self.set_state(s);
    }

    /// One line of the process's output (stdout or stderr, without the line break).
    pub fn handle_line(&mut self, now: Instant, line: &str) {
        if self.phase != Phase::Starting {
            return;
        }
        let Some(url) = parse_listening_line(line) else {
            return;
        };
        self.port = port_of(&url);
        self.url = Some(url.clone());
        self.phase = Phase::WaitingHealth;
        self.deadline = Some(now + self.cfg.health_timeout);
        self.out
            .push_back(SupervisorOutput::Listening { url: url.clone() });
        if self.previous_url.is_none() {
            self.set_state(SupervisorState::WaitingHealth { url });
        }
    }

    /// The health monitor reported the server healthy.
    pub fn handle_healthy(&mut self, _now: Instant) {
        if self.phase != Phase::WaitingHealth {
            return;
        }
        let url = self.url.clone().unwrap_or_default();
        let moved = self.previous_url.take().is_some_and(|p| p != url);
        self.phase = Phase::Running;
        self.deadline = None;
        self.out.push_back(SupervisorOutput::Ready {
            url: url.clone(),
            moved,
        });
        self.set_state(SupervisorState::Running { url });
    }

    /// The process exited (`code` `None` when a signal ended it).
    pub fn handle_exited(&mut self, now: Instant, code: Option<i32>) {
        if !self.alive {
            return;
        }
        self.alive = false;
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Stopping { then, .. } => match then {
                Then::Restart => self.after_stop_restart(now),
                Then::Stop => self.finish(SupervisorState::Stopped),
                Then::Fail(f) => self.finish(SupervisorState::Failed(f)),
            },
            Phase::Starting => {
                self.finish(SupervisorState::Failed(StartFailure::ExitedEarly { code }))
            }
            _ => {
                self.deadline = None;
                self.set_state(SupervisorState::Exited { code });
            }
        }
    }

    /// Restart the server (the health monitor decided so). Works whether the process still runs or died.
    pub fn restart(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Probing | Phase::Stopping { .. })
            || self.phase == Phase::Idle
        {
            return;
        }
        if self.previous_url.is_none() {
            self.previous_url = self.url.clone().or(Some(String::new()));
        }
        self.set_state(SupervisorState::Restarting);
        if self.alive {
            self.terminate(now, Then::Restart);
        } else {
            self.after_stop_restart(now);
        }
    }

    fn after_stop_restart(&mut self, now: Instant) {
        match self.port {
            Some(port) if port != 0 => {
                self.phase = Phase::Probing;
                self.deadline = None;
                self.out.push_back(SupervisorOutput::ProbePort(port));
            }
            _ => self.spawn(now, 0),
        }
    }

    /// The answer to [`SupervisorOutput::ProbePort`]: reuse the port when it is free, else take any.
    pub fn handle_port_probe(&mut self, now: Instant, free: bool) {
        if self.phase != Phase::Probing {
            return;
        }
        let port = if free { self.port.unwrap_or(0) } else { 0 };
        self.spawn(now, port);
    }

    /// Stop the server: SIGTERM, then SIGKILL after the grace period.
    pub fn stop(&mut self, now: Instant) {
        if matches!(
            self.phase,
            Phase::Stopping {
                then: Then::Stop,
                ..
            }
        ) {
            return;
        }
        if self.alive {
            self.set_state(SupervisorState::Stopping);
            self.terminate(now, Then::Stop);
        } else {
            self.finish(SupervisorState::Stopped);
        }
    }

    fn terminate(&mut self, now: Instant, then: Then) {
        if let Phase::Stopping { then: t, .. } = &mut self.phase {
            // Already signalled: only what happens afterwards changes.
            *t = then;
            return;
        }
        self.phase = Phase::Stopping {
            killed: false,
            then,
        };
        self.deadline = Some(now + self.cfg.stop_grace);
        self.out.push_back(SupervisorOutput::Signal(Signal::Term));
    }

    /// Deadlines passed: start timeout, health timeout, or the stop grace period.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(d) = self.deadline else { return };
        if now < d {
            return;
        }
        self.deadline = None;
        match &mut self.phase {
            Phase::Starting => self.terminate(now, Then::Fail(StartFailure::Timeout)),
            Phase::WaitingHealth => self.terminate(now, Then::Fail(StartFailure::HealthTimeout)),
            Phase::Stopping { killed, .. } if !*killed => {
                // SIGKILL cannot be ignored: the exit follows, no further deadline.
                *killed = true;
                self.out.push_back(SupervisorOutput::Signal(Signal::Kill));
            }
            _ => {}
        }
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<SupervisorOutput> {
        self.out.pop_front()
    }

    /// When to call [`Supervisor::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(s: &mut Supervisor) -> Vec<SupervisorOutput> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    const LINE: &str = "opencode server listening on http://127.0.0.1:4096";

    fn running() -> Supervisor {
        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        s.handle_line(at(1000), LINE);
        s.handle_healthy(at(1200));
        drain(&mut s);
        s
    }

    #[test]
    fn opencode_supervisor_parses_the_listening_line() {
        assert_eq!(
            parse_listening_line(LINE).as_deref(),
            Some("http://127.0.0.1:4096")
        );
        assert_eq!(
            parse_listening_line(
                "\u{1b}[0mopencode server listening on http://127.0.0.1:44337\u{1b}[0m\r"
            )
            .as_deref(),
            Some("http://127.0.0.1:44337")
        );
        assert_eq!(
            parse_listening_line(
                "Warning: OPENCODE_SERVER_PASSWORD is not set; server is unsecured."
            ),
            None
        );
        assert_eq!(parse_listening_line("listening on http://"), None);
        assert_eq!(parse_listening_line("listening on ftp://x"), None);
    }

    #[test]
    fn opencode_supervisor_start_listen_healthy() {
        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::Spawn { port: 0 },
                SupervisorOutput::State(SupervisorState::Starting)
            ]
        );
        assert_eq!(s.poll_timeout(), Some(at(30_000)));
        s.handle_line(at(900), "Warning: OPENCODE_SERVER_PASSWORD is not set");
        assert!(drain(&mut s).is_empty());
        s.handle_line(at(1000), LINE);
        let url = "http://127.0.0.1:4096".to_string();
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::Listening { url: url.clone() },
                SupervisorOutput::State(SupervisorState::WaitingHealth { url: url.clone() })
            ]
        );
        assert_eq!(s.poll_timeout(), Some(at(31_000)));
        s.handle_healthy(at(1200));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::Ready {
                    url: url.clone(),
                    moved: false
                },
                SupervisorOutput::State(SupervisorState::Running { url })
            ]
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn opencode_supervisor_start_timeout_terms_then_kills() {
        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        drain(&mut s);
        s.handle_timeout(at(29_999));
        assert!(drain(&mut s).is_empty());
        s.handle_timeout(at(30_000));
        assert_eq!(drain(&mut s), [SupervisorOutput::Signal(Signal::Term)]);
        assert_eq!(s.poll_timeout(), Some(at(35_000)));
        s.handle_timeout(at(35_000));
        assert_eq!(drain(&mut s), [SupervisorOutput::Signal(Signal::Kill)]);
        assert_eq!(s.poll_timeout(), None);
        s.handle_exited(at(35_010), None);
        assert_eq!(
            drain(&mut s),
            [SupervisorOutput::State(SupervisorState::Failed(
                StartFailure::Timeout
            ))]
        );
    }

    #[test]
    fn opencode_supervisor_health_timeout_and_early_exit_fail_the_start() {
        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        s.handle_line(at(1000), LINE);
        drain(&mut s);
        s.handle_timeout(at(31_000));
        assert_eq!(drain(&mut s), [SupervisorOutput::Signal(Signal::Term)]);
        s.handle_exited(at(32_000), Some(0));
        assert_eq!(
            s.state(),
            &SupervisorState::Failed(StartFailure::HealthTimeout)
        );

        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        s.handle_exited(at(500), Some(1));
        assert_eq!(
            s.state(),
            &SupervisorState::Failed(StartFailure::ExitedEarly { code: Some(1) })
        );
        // A failed supervisor can start again.
        drain(&mut s);
        s.start(at(600));
        assert_eq!(drain(&mut s)[0], SupervisorOutput::Spawn { port: 0 });

        let mut s = Supervisor::new(SupervisorConfig::default());
        s.start(at(0));
        s.handle_spawn_failed(at(1), "No such file or directory");
        assert_eq!(
            s.state(),
            &SupervisorState::Failed(StartFailure::SpawnFailed(
                "No such file or directory".into()
            ))
        );
    }

    #[test]
    fn opencode_supervisor_restart_after_a_crash_reuses_a_free_port() {
        let mut s = running();
        // kill -9 from outside: the process is gone; the monitor decides the restart later.
        s.handle_exited(at(5000), None);
        assert_eq!(
            drain(&mut s),
            [SupervisorOutput::State(SupervisorState::Exited {
                code: None
            })]
        );
        s.restart(at(9000));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::State(SupervisorState::Restarting),
                SupervisorOutput::ProbePort(4096)
            ]
        );
        s.handle_port_probe(at(9001), true);
        assert_eq!(drain(&mut s), [SupervisorOutput::Spawn { port: 4096 }]);
        s.handle_line(at(10_000), LINE);
        assert_eq!(
            drain(&mut s),
            [SupervisorOutput::Listening {
                url: "http://127.0.0.1:4096".into()
            }]
        );
        s.handle_healthy(at(10_100));
        assert_eq!(
            drain(&mut s)[0],
            SupervisorOutput::Ready {
                url: "http://127.0.0.1:4096".into(),
                moved: false
            }
        );
    }

    #[test]
    fn opencode_supervisor_restart_of_a_live_process_on_a_taken_port_moves() {
        let mut s = running();
        s.restart(at(5000));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::State(SupervisorState::Restarting),
                SupervisorOutput::Signal(Signal::Term)
            ]
        );
        s.handle_exited(at(7000), Some(0));
        assert_eq!(drain(&mut s), [SupervisorOutput::ProbePort(4096)]);
        s.handle_port_probe(at(7001), false);
        assert_eq!(drain(&mut s), [SupervisorOutput::Spawn { port: 0 }]);
        s.handle_line(
            at(8000),
            "opencode server listening on http://127.0.0.1:40001",
        );
        s.handle_healthy(at(8100));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::Listening {
                    url: "http://127.0.0.1:40001".into()
                },
                SupervisorOutput::Ready {
                    url: "http://127.0.0.1:40001".into(),
                    moved: true
                },
                SupervisorOutput::State(SupervisorState::Running {
                    url: "http://127.0.0.1:40001".into()
                })
            ]
        );
    }

    #[test]
    fn opencode_supervisor_stop_is_term_then_kill_after_grace() {
        let mut s = running();
        s.stop(at(10_000));
        assert_eq!(
            drain(&mut s),
            [
                SupervisorOutput::State(SupervisorState::Stopping),
                SupervisorOutput::Signal(Signal::Term)
            ]
        );
        s.stop(at(10_001));
        assert!(drain(&mut s).is_empty(), "stop is idempotent");
        s.handle_timeout(at(15_000));
        assert_eq!(drain(&mut s), [SupervisorOutput::Signal(Signal::Kill)]);
        s.handle_exited(at(15_001), None);
        assert_eq!(
            drain(&mut s),
            [SupervisorOutput::State(SupervisorState::Stopped)]
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn opencode_supervisor_stop_during_a_restart_wins() {
        let mut s = running();
        s.restart(at(1));
        drain(&mut s);
        s.stop(at(2));
        s.handle_exited(at(3), Some(0));
        assert_eq!(s.state(), &SupervisorState::Stopped);
        assert!(!drain(&mut s).iter().any(|o| matches!(
            o,
            SupervisorOutput::Spawn { .. } | SupervisorOutput::ProbePort(_)
        )));
    }
}
