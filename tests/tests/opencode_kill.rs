//! kill -9 of the real server mid-stream: the monitor sees the stream break, counts the failed reconnects,
//! decides a restart; the supervisor restarts the process on the same (free) port; the stream reconnects and
//! health returns. The test only sends SIGKILL; every decision is the core's. Its own binary, so kill tests run
//! one at a time.

use std::time::{Duration, Instant};

use plue_http_core::opencode::{HealthState, SupervisorState};
use plue_http_tests::opencode_manager::{Happened, Manager};

fn healthy(m: &Manager) -> bool {
    matches!(m.monitor.state(), HealthState::Healthy { .. })
        && matches!(m.supervisor.state(), SupervisorState::Running { .. })
}

#[test]
fn opencode_kill9_mid_stream_the_monitor_decides_and_the_server_comes_back() {
    let mut m = Manager::new().unwrap();
    m.start();
    assert!(
        m.run_until(Duration::from_secs(40), healthy),
        "first start: {:?}",
        m.log
    );
    let first_pid = m.pid().unwrap();
    let url = m.supervisor.url().unwrap().to_string();
    assert!(m
        .log
        .iter()
        .any(|h| matches!(h, Happened::Health(HealthState::Healthy { version: Some(v) }) if v == "1.18.34")));
    let before = m.log.len();

    // SAFETY: a plain syscall; the only thing the test does to the server.
    unsafe { libc::kill(first_pid as i32, libc::SIGKILL) };
    let t0 = Instant::now();
    assert!(
        m.run_until(Duration::from_secs(60), |m| healthy(m)
            && m.pid() != Some(first_pid)),
        "recovery: {:?}",
        &m.log[before..]
    );
    let recovered_in = t0.elapsed();
    let after = &m.log[before..];
    eprintln!("recovered in {recovered_in:?}: {after:?}");
    let pos = |pred: &dyn Fn(&Happened) -> bool| after.iter().position(pred);
    let degraded = pos(&|h| matches!(h, Happened::Health(HealthState::Degraded { attempt: 1 })));
    let degraded2 = pos(&|h| matches!(h, Happened::Health(HealthState::Degraded { attempt: 2 })));
    let restarting = pos(&|h| *h == Happened::Health(HealthState::Restarting));
    let spawned = pos(&|h| matches!(h, Happened::Spawned(p) if *p != first_pid));
    let back = pos(&|h| matches!(h, Happened::Health(HealthState::Healthy { .. })));
    assert!(after.contains(&Happened::Server(SupervisorState::Exited { code: None })));
    assert!(
        degraded < degraded2 && degraded2 < restarting && restarting < spawned && spawned < back,
        "order: {after:?}"
    );
    assert!(degraded.is_some() && back.is_some());
    // The port was free after the kill, so the server came back where it was.
    assert!(after.contains(&Happened::Ready {
        url: url.clone(),
        moved: false
    }));
    let second_pid = m.pid().unwrap();
    assert_ne!(second_pid, first_pid);

    m.stop();
    assert!(
        m.run_until(Duration::from_secs(15), |m| m.supervisor.state()
            == &SupervisorState::Stopped)
    );
    assert_eq!(m.pid(), None);
    for pid in [first_pid, second_pid] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} left behind"
        );
    }
}
