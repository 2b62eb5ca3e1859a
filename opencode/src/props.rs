//! Properties of the health monitor and the supervisor: any sequence of inputs keeps their invariants.

use std::time::Duration;

use super::health::{HealthConfig, HealthMonitor, HealthOutput, HealthState};
use super::supervisor::{Signal, Supervisor, SupervisorConfig, SupervisorOutput, SupervisorState};
use plue_http_core::error::{ApiError, ErrorKind, NetError};
use plue_http_core::sse::{ReconnectCause, SseEvent, StreamEvent};
use plue_http_core::time::Instant;

fn health_step(m: &mut HealthMonitor, now: Instant, op: u8) {
    let ev = |data: &str| {
        StreamEvent::Event(SseEvent {
            event: "message".into(),
            data: data.into(),
            id: String::new(),
        })
    };
    match op % 13 {
        0 => m.start(now),
        1 => m.handle_stream(now, &StreamEvent::Connected),
        2 => m.handle_stream(now, &ev(r#"{"type":"server.connected","properties":{}}"#)),
        3 => m.handle_stream(now, &StreamEvent::Comment(String::new())),
        4 | 5 => m.handle_stream(
            now,
            &StreamEvent::Reconnecting {
                attempt: 1,
                max: None,
                delay: Duration::from_secs(1),
                cause: ReconnectCause::Network(NetError::Refused),
            },
        ),
        6 => m.handle_stream_failed(
            now,
            &ErrorKind::ConnectionFailed {
                cause: NetError::Reset,
            },
        ),
        7 => m.handle_version(now, Ok("1.18.34".into())),
        8 => m.handle_restarted(now),
        9 => m.handle_restart_failed(now),
        10 | 11 => m.handle_timeout(now),
        _ => {
            if op % 2 == 0 {
                m.handle_stream_failed(now, &ErrorKind::Status(ApiError::from_body(401, b"")));
            } else {
                m.stop(now);
            }
        }
    }
}

quickcheck::quickcheck! {
    fn opencode_health_invariants_hold_for_any_input(ops: Vec<(u8, u16)>) -> bool {
        let cfg = HealthConfig::default();
        let mut m = HealthMonitor::new(cfg.clone());
        let mut now = Instant::ZERO;
        let mut restarts: Vec<Instant> = Vec::new();
        let mut last_state = m.state().clone();
        let mut stopped = false;
        for (op, dt) in ops {
            now += Duration::from_millis(u64::from(dt % 2000) * 10);
            health_step(&mut m, now, op);
            while let Some(o) = m.poll_output() {
                if stopped {
                    return false; // Stopped is final: nothing after it.
                }
                match o {
                    HealthOutput::RestartServer => restarts.push(now),
                    HealthOutput::State(s) => {
                        if s == last_state {
                            return false; // only changes are reported
                        }
                        stopped = matches!(s, HealthState::Stopped(_));
                        last_state = s;
                    }
                    _ => {}
                }
            }
            // Never more than max_restarts inside any window.
            let in_window = restarts
                .iter()
                .filter(|&&t| now.saturating_duration_since(t) < cfg.restart_window)
                .count();
            if in_window > cfg.max_restarts as usize {
                return false;
            }
            if stopped && m.poll_timeout().is_some() {
                return false;
            }
            if m.state() != &last_state {
                return false;
            }
        }
        true
    }

    fn opencode_supervisor_never_runs_two_processes_or_signals_nothing(ops: Vec<(u8, u16, bool)>) -> bool {
        let mut s = Supervisor::new(SupervisorConfig::default());
        let mut now = Instant::ZERO;
        let mut alive = false;
        let mut killed = false;
        // A driver reports a failed spawn at once: only as the next input after `Spawn`.
        let mut fresh = false;
        for (op, dt, flag) in ops {
            now += Duration::from_millis(u64::from(dt) * 20);
            let just_spawned = std::mem::replace(&mut fresh, false);
            match op % 9 {
                0 => s.start(now),
                1 => {
                    s.handle_line(now, &format!("opencode server listening on http://127.0.0.1:{}", 4000 + u16::from(op)));
                }
                2 => s.handle_healthy(now),
                3 if alive => {
                    alive = false;
                    s.handle_exited(now, flag.then_some(0));
                }
                4 => s.restart(now),
                5 => s.handle_port_probe(now, flag),
                6 => s.stop(now),
                7 if alive && just_spawned && flag => {
                    alive = false;
                    s.handle_spawn_failed(now, "boom");
                }
                _ => s.handle_timeout(now),
            }
            while let Some(o) = s.poll_output() {
                match o {
                    SupervisorOutput::Spawn { .. } => {
                        if alive {
                            return false; // a second process
                        }
                        alive = true;
                        killed = false;
                        fresh = true;
                    }
                    SupervisorOutput::Signal(sig) => {
                        if !alive || killed {
                            return false; // signalling nothing, or after SIGKILL
                        }
                        killed = sig == Signal::Kill;
                    }
                    SupervisorOutput::State(SupervisorState::Stopped | SupervisorState::Failed(_)) if alive => {
                        return false; // "no process left" must be true
                    }
                    _ => {}
                }
            }
        }
        true
    }
}
