//! The health monitor: a sans-IO decision machine that turns the `/event` stream into a verdict and decides when
//! the server must be restarted.
//!
//! The driver subscribes to `/event` when asked ([`HealthOutput::Subscribe`]) and feeds the subscription's
//! [`StreamEvent`]s in; it drains [`HealthMonitor::poll_output`] after every call and calls
//! [`HealthMonitor::handle_timeout`] at [`HealthMonitor::poll_timeout`]. Time is passed in; deadlines come out.
//!
//! Rules (DESIGN.md): healthy on the first event within `first_event_timeout` (5 s) of (re)connecting;
//! unhealthy after `idle_timeout` (30 s) without any byte (OpenCode heartbeats every 10 s); every failed
//! (re)connect counts, and `max_connection_failures` (3) in a row decide a server restart; at most
//! `max_restarts` (5) restarts in `restart_window` (10 min), then the monitor stops with an error. A 401, a 400
//! or a response that is not an event stream stops it at once: retrying cannot fix credentials.

use std::collections::VecDeque;
use std::time::Duration;

use super::error::ApiErrorKind;
use plue_http_core::client::Options;
use plue_http_core::error::ErrorKind;
use plue_http_core::sse::StreamEvent;
use plue_http_core::time::Instant;

/// Health monitor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The first event must arrive this long after subscribing (5 s).
    pub first_event_timeout: Duration,
    /// Longest silence on a working stream before it counts as lost (30 s).
    pub idle_timeout: Duration,
    /// Consecutive failed (re)connects that decide a server restart (3).
    pub max_connection_failures: u32,
    /// Restarts allowed within [`HealthConfig::restart_window`] (5).
    pub max_restarts: u32,
    /// The window restarts are counted in (10 min).
    pub restart_window: Duration,
    /// `true` when a server manager owns the process and can restart it; otherwise the monitor only reports
    /// Degraded and the stream keeps reconnecting.
    pub can_restart: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            first_event_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_connection_failures: 3,
            max_restarts: 5,
            restart_window: Duration::from_secs(600),
            can_restart: true,
        }
    }
}

impl HealthConfig {
    /// Defaults with `event_idle_timeout` and `max_connection_failures` taken from the client options.
    pub fn from_options(options: &Options) -> Self {
        HealthConfig {
            idle_timeout: options.event_idle_timeout,
            max_connection_failures: options.max_connection_failures.max(1),
            ..HealthConfig::default()
        }
    }
}

/// Why the monitor stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// More than `max_restarts` restarts were needed within `restart_window`.
    TooManyRestarts {
        /// Restarts made in the window.
        restarts: u32,
        /// The window.
        window: Duration,
    },
    /// The server refused the stream in a way retrying cannot fix (401, 400, not an event stream).
    Rejected(ErrorKind),
    /// The owner stopped the monitor.
    Shutdown,
}

/// What the monitor believes about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthState {
    /// Waiting for the first event of a new subscription.
    Connecting,
    /// Events flow. `version` comes from `GET /global/health` (`None` when that request failed).
    Healthy {
        /// The server version.
        version: Option<String>,
    },
    /// The stream broke `attempt` times in a row ("Connection lost. Reconnecting... (attempt k/N)").
    Degraded {
        /// Consecutive failures so far (1-based).
        attempt: u32,
    },
    /// The monitor decided a server restart and waits for the server manager.
    Restarting,
    /// The monitor gave up, or was stopped.
    Stopped(StopReason),
}

/// What the monitor asks of its driver, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutput {
    /// Open a fresh `/event` subscription (dropping any previous one) and feed its events in.
    Subscribe,
    /// Drop the current `/event` subscription; feed nothing more from it.
    Unsubscribe,
    /// Send `GET /global/health` and answer with [`HealthMonitor::handle_version`].
    FetchVersion,
    /// Restart the server; answer with [`HealthMonitor::handle_restarted`] or
    /// [`HealthMonitor::handle_restart_failed`].
    RestartServer,
    /// The state changed.
    State(HealthState),
}

/// Where the current subscription is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No subscription (not started, restarting, stopped).
    Down,
    /// Subscribed, no event yet; `deadline` for the first one, when it is running.
    Waiting { deadline: Option<Instant> },
    /// Events arrived; `last` byte seen at.
    Live { last: Instant },
}

/// The health monitor. See the module docs.
#[derive(Debug)]
pub struct HealthMonitor {
    cfg: HealthConfig,
    state: HealthState,
    link: Link,
    /// Consecutive failed (re)connects.
    failures: u32,
    /// When restarts were decided, oldest first (only those inside the window are kept).
    restarts: VecDeque<Instant>,
    /// A version request is outstanding for the current confirmation.
    awaiting_version: bool,
    /// `start` was called (or the monitor was stopped before it was).
    started: bool,
    out: VecDeque<HealthOutput>,
}

impl HealthMonitor {
    /// A monitor that has not started.
    pub fn new(cfg: HealthConfig) -> Self {
        HealthMonitor {
            cfg,
            state: HealthState::Connecting,
            link: Link::Down,
            failures: 0,
            restarts: VecDeque::new(),
            awaiting_version: false,
            started: false,
            out: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> &HealthState {
        &self.state
    }

    /// Start: subscribe and wait for the first event. Only the first call does anything.
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.emit_state(HealthState::Connecting);
        self.subscribe(now);
    }

    /// Stop: drop the subscription and report [`StopReason::Shutdown`].
    pub fn stop(&mut self, _now: Instant) {
        self.started = true;
        self.halt(StopReason::Shutdown);
    }

    fn stopped(&self) -> bool {
        matches!(self.state, HealthState::Stopped(_))
    }

    fn emit_state(&mut self, s: HealthState) {
        if self.state != s {
            self.state = s.clone();
            self.out.push_back(HealthOutput::State(s));
        }
    }

    fn subscribe(&mut self, now: Instant) {
        self.out.push_back(HealthOutput::Subscribe);
        self.link = Link::Waiting {
            deadline: Some(now + self.cfg.first_event_timeout),
        };
        self.awaiting_version = false;
    }

    fn halt(&mut self, reason: StopReason) {
        if self.stopped() {
            return;
        }
        if self.link != Link::Down {
            self.out.push_back(HealthOutput::Unsubscribe);
        }
        self.link = Link::Down;
        self.emit_state(HealthState::Stopped(reason));
    }

    /// An item of the current `/event` subscription.
    pub fn handle_stream(&mut self, now: Instant, event: &StreamEvent) {
        if self.stopped() || self.link == Link::Down {
            return;
        }
        match event {
            StreamEvent::Connected => {
                // A (re)connect produced a head: the first event is due within the timeout from now.
                if let Link::Waiting { deadline } = &mut self.link {
                    *deadline = Some(now + self.cfg.first_event_timeout);
                } else {
                    self.link = Link::Live { last: now };
                }
            }
            StreamEvent::Event(_) => {
                if matches!(self.link, Link::Waiting { .. }) {
                    self.confirmed();
                }
                self.link = Link::Live { last: now };
            }
            StreamEvent::Comment(_) | StreamEvent::Skipped(_) => {
                if let Link::Live { last } = &mut self.link {
                    *last = now;
                }
            }
            StreamEvent::Reconnecting { .. } => {
                // The stream machine reconnects by itself; wait for its next head without a deadline.
                self.link = Link::Waiting { deadline: None };
                self.failure(now, false);
            }
            StreamEvent::Resumed { .. } => {}
            // StreamEvent is non-exhaustive: anything new is at least a sign of life.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// The first event of a subscription arrived in time.
    fn confirmed(&mut self) {
        self.failures = 0;
        self.awaiting_version = true;
        self.out.push_back(HealthOutput::FetchVersion);
    }

    /// The `/event` subscription ended for good (the client machine's terminal `Failed`).
    pub fn handle_stream_failed(&mut self, now: Instant, error: &ErrorKind) {
        if self.stopped() || self.link == Link::Down {
            return;
        }
        let terminal = match error {
            ErrorKind::Aborted => return,
            ErrorKind::NotAnEventStream { .. } | ErrorKind::InvalidUrl { .. } => true,
            ErrorKind::UnsupportedScheme { .. } | ErrorKind::InvalidHeader { .. } => true,
            // An untrusted certificate, a pin mismatch, no common TLS version, credentials refused over plain
            // http: restarting the server cannot fix any of them. A cut stream (truncation) is an ordinary loss.
            ErrorKind::Tls { reason, .. } => *reason != plue_http_core::error::TlsReason::Truncated,
            ErrorKind::InsecureCredentials { .. } | ErrorKind::InsecureRedirect { .. } => true,
            e => ApiErrorKind::of_error(e).is_some_and(ApiErrorKind::is_terminal),
        };
        if terminal {
            self.halt(StopReason::Rejected(error.clone()));
        } else {
            self.link = Link::Down;
            self.failure(now, true);
        }
    }

    /// The answer to [`HealthOutput::FetchVersion`].
    pub fn handle_version(&mut self, _now: Instant, version: Result<String, ErrorKind>) {
        if !self.awaiting_version || self.stopped() {
            return;
        }
        self.awaiting_version = false;
        if matches!(self.link, Link::Live { .. }) {
            self.emit_state(HealthState::Healthy {
                version: version.ok(),
            });
        }
    }

    /// The server manager restarted the server (it listens again, maybe at a new URL).
    pub fn handle_restarted(&mut self, now: Instant) {
        if self.state != HealthState::Restarting {
            return;
        }
        self.failures = 0;
        self.emit_state(HealthState::Connecting);
        self.subscribe(now);
    }

    /// The server manager could not restart the server: decide again (within the restart budget).
    pub fn handle_restart_failed(&mut self, now: Instant) {
        if self.state != HealthState::Restarting {
            return;
        }
        self.restart(now);
    }

    /// Deadlines passed: the first event did not come in time, or a live stream went silent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped() {
            return;
        }
        let expired = match self.link {
            Link::Waiting { deadline: Some(d) } => now >= d,
            Link::Live { last } => now >= last + self.cfg.idle_timeout,
            _ => false,
        };
        if expired {
            // Drop the silent subscription: whatever it says later is stale.
            self.out.push_back(HealthOutput::Unsubscribe);
            self.link = Link::Down;
            self.failure(now, true);
        }
    }

    /// One failed (re)connect. `resubscribe`: the subscription is gone and a new one is needed (unless a restart
    /// is decided).
    fn failure(&mut self, now: Instant, resubscribe: bool) {
        self.failures += 1;
        self.awaiting_version = false;
        if self.cfg.can_restart && self.failures >= self.cfg.max_connection_failures {
            if self.link != Link::Down {
                self.out.push_back(HealthOutput::Unsubscribe);
                self.link = Link::Down;
            }
            self.restart(now);
            return;
        }
        self.emit_state(HealthState::Degraded {
            attempt: self.failures,
        });
        if resubscribe {
            self.subscribe(now);
        }
    }

    fn restart(&mut self, now: Instant) {
        while self
            .restarts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.cfg.restart_window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.cfg.max_restarts as usize {
            self.halt(StopReason::TooManyRestarts {
                restarts: self.restarts.len() as u32,
                window: self.cfg.restart_window,
            });
            return;
        }
        self.restarts.push_back(now);
        self.failures = 0;
        self.link = Link::Down;
        self.emit_state(HealthState::Restarting);
        self.out.push_back(HealthOutput::RestartServer);
    }

    /// The next output, `None` when there is nothing to do until input or the deadline.
    pub fn poll_output(&mut self) -> Option<HealthOutput> {
        self.out.pop_front()
    }

    /// When to call [`HealthMonitor::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped() {
            return None;
        }
        match self.link {
            Link::Waiting { deadline } => deadline,
            Link::Live { last } => Some(last + self.cfg.idle_timeout),
            Link::Down => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plue_http_core::error::{ApiError, NetError};
    use plue_http_core::sse::{ReconnectCause, SseEvent};

    fn at(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    fn drain(m: &mut HealthMonitor) -> Vec<HealthOutput> {
        std::iter::from_fn(|| m.poll_output()).collect()
    }

    fn ev(data: &str) -> StreamEvent {
        StreamEvent::Event(SseEvent {
            event: "message".into(),
            data: data.into(),
            id: String::new(),
        })
    }

    fn reconnecting(attempt: u32) -> StreamEvent {
        StreamEvent::Reconnecting {
            attempt,
            max: None,
            delay: Duration::from_secs(1),
            cause: ReconnectCause::Network(NetError::Refused),
        }
    }

    const CONNECTED: &str = r#"{"id":"evt_1","type":"server.connected","properties":{}}"#;

    /// Start and reach Healthy at `t`.
    fn healthy(t: u64) -> HealthMonitor {
        let mut m = HealthMonitor::new(HealthConfig::default());
        m.start(at(t));
        m.handle_stream(at(t), &StreamEvent::Connected);
        m.handle_stream(at(t), &ev(CONNECTED));
        m.handle_version(at(t), Ok("1.18.34".into()));
        drain(&mut m);
        assert_eq!(
            m.state(),
            &HealthState::Healthy {
                version: Some("1.18.34".into())
            }
        );
        m
    }

    #[test]
    fn opencode_health_first_event_then_version_gives_healthy() {
        let mut m = HealthMonitor::new(HealthConfig::default());
        m.start(at(0));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Subscribe,
                // Connecting is the initial state: no change to report.
            ]
        );
        assert_eq!(m.poll_timeout(), Some(at(5)));
        m.handle_stream(at(1), &StreamEvent::Connected);
        m.handle_stream(at(2), &ev(CONNECTED));
        assert_eq!(drain(&mut m), [HealthOutput::FetchVersion]);
        m.handle_version(at(2), Ok("1.18.34".into()));
        assert_eq!(
            drain(&mut m),
            [HealthOutput::State(HealthState::Healthy {
                version: Some("1.18.34".into())
            })]
        );
        // Now only the idle deadline remains: 30 s after the last byte.
        assert_eq!(m.poll_timeout(), Some(at(32)));
        m.handle_stream(at(12), &StreamEvent::Comment(String::new()));
        assert_eq!(m.poll_timeout(), Some(at(42)));
    }

    #[test]
    fn opencode_health_accepts_the_legacy_empty_first_event_and_a_failed_version() {
        let mut m = HealthMonitor::new(HealthConfig::default());
        m.start(at(0));
        m.handle_stream(at(1), &ev("{}"));
        m.handle_version(at(1), Err(ErrorKind::Aborted));
        assert_eq!(m.state(), &HealthState::Healthy { version: None });
    }

    #[test]
    fn opencode_health_no_first_event_within_5s_is_a_failure() {
        let mut m = HealthMonitor::new(HealthConfig::default());
        m.start(at(0));
        drain(&mut m);
        m.handle_stream(at(1), &StreamEvent::Connected);
        // The head came at 1 s: the first event is due by 6 s.
        assert_eq!(m.poll_timeout(), Some(at(6)));
        m.handle_timeout(at(5));
        assert!(drain(&mut m).is_empty(), "not yet");
        m.handle_timeout(at(6));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Unsubscribe,
                HealthOutput::State(HealthState::Degraded { attempt: 1 }),
                HealthOutput::Subscribe
            ]
        );
        // A late event from the dropped subscription's successor counts as that one's first event.
        m.handle_stream(at(7), &ev(CONNECTED));
        assert_eq!(drain(&mut m), [HealthOutput::FetchVersion]);
    }

    #[test]
    fn opencode_health_30s_silence_is_unhealthy() {
        let mut m = healthy(0);
        m.handle_stream(
            at(10),
            &ev(r#"{"type":"server.heartbeat","properties":{}}"#),
        );
        m.handle_timeout(at(39));
        assert!(drain(&mut m).is_empty());
        m.handle_timeout(at(40));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Unsubscribe,
                HealthOutput::State(HealthState::Degraded { attempt: 1 }),
                HealthOutput::Subscribe
            ]
        );
    }

    #[test]
    fn opencode_health_three_failed_reconnects_decide_a_restart() {
        let mut m = healthy(0);
        m.handle_stream(at(1), &reconnecting(1));
        assert_eq!(
            drain(&mut m),
            [HealthOutput::State(HealthState::Degraded { attempt: 1 })]
        );
        // While the stream machine reconnects there is no deadline of our own.
        assert_eq!(m.poll_timeout(), None);
        m.handle_stream(at(2), &reconnecting(2));
        assert_eq!(
            drain(&mut m),
            [HealthOutput::State(HealthState::Degraded { attempt: 2 })]
        );
        m.handle_stream(at(4), &reconnecting(3));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Unsubscribe,
                HealthOutput::State(HealthState::Restarting),
                HealthOutput::RestartServer
            ]
        );
        // Stale items from the dropped subscription change nothing.
        m.handle_stream(at(5), &reconnecting(4));
        assert!(drain(&mut m).is_empty());
        m.handle_restarted(at(8));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::State(HealthState::Connecting),
                HealthOutput::Subscribe
            ]
        );
        m.handle_stream(at(9), &ev(CONNECTED));
        m.handle_version(at(9), Ok("1.18.34".into()));
        assert!(matches!(m.state(), HealthState::Healthy { .. }));
    }

    #[test]
    fn opencode_health_a_good_event_resets_the_failure_count() {
        let mut m = healthy(0);
        m.handle_stream(at(1), &reconnecting(1));
        m.handle_stream(at(2), &reconnecting(2));
        m.handle_stream(at(3), &StreamEvent::Connected);
        m.handle_stream(at(3), &ev(CONNECTED));
        m.handle_version(at(3), Ok("1.18.34".into()));
        drain(&mut m);
        m.handle_stream(at(4), &reconnecting(1));
        assert_eq!(
            drain(&mut m),
            [HealthOutput::State(HealthState::Degraded { attempt: 1 })]
        );
    }

    #[test]
    fn opencode_health_at_most_5_restarts_in_10_minutes() {
        let mut m = healthy(0);
        let mut t = 0;
        let mut restarts = 0;
        loop {
            for _ in 0..3 {
                t += 1;
                m.handle_stream(at(t), &reconnecting(1));
            }
            let out = drain(&mut m);
            if out.contains(&HealthOutput::RestartServer) {
                restarts += 1;
                m.handle_restarted(at(t));
                drain(&mut m);
                continue;
            }
            assert_eq!(
                m.state(),
                &HealthState::Stopped(StopReason::TooManyRestarts {
                    restarts: 5,
                    window: Duration::from_secs(600)
                })
            );
            assert!(out.contains(&HealthOutput::Unsubscribe));
            break;
        }
        assert_eq!(restarts, 5);
        assert_eq!(m.poll_timeout(), None);
        // Stopped is final.
        m.handle_restarted(at(t + 1));
        m.handle_stream(at(t + 1), &ev(CONNECTED));
        assert!(drain(&mut m).is_empty());
    }

    #[test]
    fn opencode_health_restarts_outside_the_window_do_not_count() {
        let mut m = healthy(0);
        for round in 0..8u64 {
            // One restart every 3 minutes: never more than 4 inside any 10-minute window.
            let t = round * 180;
            for k in 0..3 {
                m.handle_stream(at(t + k), &reconnecting(1));
            }
            assert!(
                drain(&mut m).contains(&HealthOutput::RestartServer),
                "round {round}"
            );
            m.handle_restarted(at(t + 5));
            drain(&mut m);
        }
    }

    #[test]
    fn opencode_health_a_401_is_terminal() {
        let mut m = healthy(0);
        let e = ErrorKind::Status(ApiError::from_body(401, b""));
        m.handle_stream_failed(at(1), &e);
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Unsubscribe,
                HealthOutput::State(HealthState::Stopped(StopReason::Rejected(e)))
            ]
        );
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn opencode_health_other_stream_failures_resubscribe_and_abort_is_ignored() {
        let mut m = healthy(0);
        m.handle_stream_failed(at(1), &ErrorKind::Aborted);
        assert!(drain(&mut m).is_empty());
        m.handle_stream_failed(
            at(1),
            &ErrorKind::ConnectionFailed {
                cause: NetError::Refused,
            },
        );
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::State(HealthState::Degraded { attempt: 1 }),
                HealthOutput::Subscribe
            ]
        );
    }

    #[test]
    fn opencode_health_tls_certificate_errors_stop_the_monitor() {
        let mut m = healthy(0);
        let untrusted = ErrorKind::Tls {
            host: "h".into(),
            reason: plue_http_core::error::TlsReason::UnknownIssuer,
        };
        m.handle_stream_failed(at(1), &untrusted);
        let out = drain(&mut m);
        assert!(
            out.iter()
                .any(|o| matches!(o, HealthOutput::State(HealthState::Stopped(_)))),
            "{out:?}"
        );
        assert!(!out.contains(&HealthOutput::RestartServer));
    }

    #[test]
    fn opencode_health_without_a_manager_only_degrades() {
        let mut m = HealthMonitor::new(HealthConfig {
            can_restart: false,
            ..HealthConfig::default()
        });
        m.start(at(0));
        for k in 1..=10 {
            m.handle_stream(at(k), &reconnecting(k as u32));
        }
        let out = drain(&mut m);
        assert!(!out.contains(&HealthOutput::RestartServer));
        assert_eq!(m.state(), &HealthState::Degraded { attempt: 10 });
    }

    #[test]
    fn opencode_health_stop_unsubscribes() {
        let mut m = healthy(0);
        m.stop(at(1));
        assert_eq!(
            drain(&mut m),
            [
                HealthOutput::Unsubscribe,
                HealthOutput::State(HealthState::Stopped(StopReason::Shutdown))
            ]
        );
        assert_eq!(
            HealthConfig::from_options(&Options::default()).max_connection_failures,
            3
        );
    }
}
