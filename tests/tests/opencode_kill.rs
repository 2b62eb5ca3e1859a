//! kill -9 of the real server mid-stream, on tokio, smol and mio: the runtime's own server manager sees the
//! monitor report Degraded, restarts the server on the monitor's decision (same port, it is free), the
//! user's event stream reconnects with a gap marker and health returns; stopping leaves no process behind.
//! The test only sends SIGKILL. Its own binary, and one test at a time (a mutex), so kills never overlap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plue_http_core::sse::StreamEvent;
use plue_http_tests::opencode_fixture::Sandbox;
use plue_opencode::{reconnect_notice, CommandFn, ManagerOptions, Report, ServerManager};
use plue_opencode::{HealthState, SupervisorState};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn options(sandbox: &Arc<Sandbox>) -> ManagerOptions {
    let sb = sandbox.clone();
    let command: CommandFn = Arc::new(move |port| sb.serve_command(port));
    ManagerOptions {
        command: Some(command),
        ..ManagerOptions::default()
    }
}

/// Reconnect backoff capped at 2 s, so the user's stream is back soon after the server (defaults: up to 30 s).
fn client_options() -> plue_http::Options {
    plue_http::Options {
        max_retry_delay: Duration::from_secs(2),
        ..plue_http::Options::default()
    }
}

fn sigkill(pid: u32) {
    // SAFETY: a plain syscall; the only thing the test does to the server.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

fn healthy(r: &Report) -> bool {
    matches!(r, Report::Health(HealthState::Healthy { .. }))
}

/// The supervisor's last word on a (re)start: healthy, clients may go.
fn running(r: &Report) -> bool {
    matches!(r, Report::Server(SupervisorState::Running { .. }))
}

/// The first start: spawned, listening, healthy with the version, ready at `url` (not moved).
fn check_start(log: &[Report], url: &str) {
    assert!(
        log.iter().any(|r| matches!(r, Report::Spawned { .. })),
        "{log:?}"
    );
    assert!(log.contains(&Report::Health(HealthState::Healthy {
        version: Some("1.18.34".into())
    })));
    assert!(
        log.contains(&Report::Ready {
            url: url.into(),
            moved: false
        }),
        "{log:?}"
    );
}

/// After the kill: the process exit seen, Degraded with the reconnect notice, the restart decided, a new process,
/// healthy again at the same URL (the port was free).
fn check_recovery(after: &[Report], first_pid: u32, url: &str) -> u32 {
    let pos = |pred: &dyn Fn(&Report) -> bool| {
        after
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing in {after:?}"))
    };
    assert!(after.contains(&Report::Server(SupervisorState::Exited { code: None })));
    let degraded = pos(&|r| *r == Report::Health(HealthState::Degraded { attempt: 1 }));
    let notice = pos(&|r| *r == Report::Notice(reconnect_notice(1, Some(3))));
    let restarting = pos(&|r| *r == Report::Health(HealthState::Restarting));
    let spawned = pos(&|r| matches!(r, Report::Spawned { pid } if *pid != first_pid));
    let back = pos(&healthy);
    assert!(
        degraded < notice && notice < restarting && restarting < spawned && spawned < back,
        "order: {after:?}"
    );
    assert!(after.contains(&Report::Ready {
        url: url.into(),
        moved: false
    }));
    match after[spawned] {
        Report::Spawned { pid } => pid,
        _ => unreachable!(),
    }
}

fn assert_gone(pids: &[u32]) {
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} left behind"
        );
    }
}

/// The scenario on an async runtime's manager.
async fn kill_scenario(m: ServerManager) {
    use futures_lite::StreamExt;
    use plue_http_tests::opencode_checks::{next_report, open_events, within};
    use plue_opencode::EventItem;

    let t_start = std::time::Instant::now();
    let reports = m.reports();
    let oc = within(Duration::from_secs(60), "ready", m.ready())
        .await
        .unwrap();
    let url = oc.url();
    let mut log = Vec::new();
    while !log.last().is_some_and(running) {
        log.push(next_report(&reports, Duration::from_secs(60)).await);
    }
    check_start(&log, &url);
    let first_pid = m.pid().unwrap();
    let mut events = open_events(&oc).await;
    eprintln!("healthy {:?} after the start", t_start.elapsed());

    sigkill(first_pid);
    let t0 = std::time::Instant::now();
    let mut after = Vec::new();
    while !(after.contains(&Report::Health(HealthState::Restarting))
        && after.last().is_some_and(running))
    {
        after.push(next_report(&reports, Duration::from_secs(60)).await);
    }
    eprintln!("healthy again {:?} after the kill: {after:?}", t0.elapsed());
    let second_pid = check_recovery(&after, first_pid, &url);
    assert_eq!(m.pid(), Some(second_pid));

    // The user's stream came back with a gap marker (the manager resubscribes it once the new server is healthy,
    // unless it reconnected by itself first) and the new server greets it.
    let mut gap = false;
    loop {
        match within(Duration::from_secs(60), "stream resumes", events.next()).await {
            Some(Ok(EventItem::Resubscribed { url: u })) => {
                assert_eq!(u, url);
                gap = true
            }
            Some(Ok(EventItem::Stream(StreamEvent::Resumed { .. }))) => gap = true,
            Some(Ok(EventItem::Event(ev))) if gap && ev.is_connected() => break,
            Some(Ok(other)) => eprintln!("{:?} {other:?}", t0.elapsed()),
            other => panic!("stream: {other:?}"),
        }
    }
    assert_eq!(oc.health().await.unwrap().version, "1.18.34");
    drop(events);
    eprintln!("stream resumed {:?} after the kill", t0.elapsed());

    let t_stop = std::time::Instant::now();
    within(Duration::from_secs(30), "stop", m.stop()).await;
    eprintln!("stopped in {:?}", t_stop.elapsed());
    assert!(m.is_finished());
    assert_eq!(m.pid(), None);
    let rest: Vec<Report> = std::iter::from_fn(|| reports.try_recv().ok()).collect();
    assert!(
        rest.contains(&Report::Server(SupervisorState::Stopped)),
        "{rest:?}"
    );
    assert_gone(&[first_pid, second_pid]);
}

#[test]
fn opencode_tokio_kill9_mid_stream_the_manager_restarts_and_the_stream_resumes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Arc::new(Sandbox::new().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = plue_http::tokio::opencode::start_server_with(
            &plue_http::tokio::Client::new(client_options()).unwrap(),
            options(&sandbox),
        );
        kill_scenario(m).await;
    });
}

#[test]
fn opencode_smol_kill9_mid_stream_the_manager_restarts_and_the_stream_resumes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Arc::new(Sandbox::new().unwrap());
    smol::block_on(async {
        let m = plue_http::smol::opencode::start_server_with(
            &plue_http::smol::Client::new(client_options()).unwrap(),
            options(&sandbox),
        );
        kill_scenario(m).await;
    });
}

#[test]
fn opencode_mio_kill9_mid_stream_the_manager_restarts_and_the_stream_resumes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use plue_http::mio::opencode::{EventItem, ServerManager};

    let sandbox = Arc::new(Sandbox::new().unwrap());
    let m = ServerManager::start_with(
        &plue_http::mio::Client::new(client_options()).unwrap(),
        options(&sandbox),
    );
    let mut reports = m.reports();
    let mut next = || {
        reports
            .recv_timeout(Duration::from_secs(60))
            .expect("a report within 60 s")
    };
    let c = m.ready().unwrap();
    let url = c.url();
    let mut log = Vec::new();
    while !log.last().is_some_and(running) {
        log.push(next());
    }
    check_start(&log, &url);
    let first_pid = m.pid().unwrap();
    let mut events = c.events();
    loop {
        match events.next_timeout(Duration::from_secs(30)).unwrap() {
            Some(EventItem::Event(ev)) if ev.is_connected() => break,
            Some(_) => {}
            None => panic!("no first event"),
        }
    }

    sigkill(first_pid);
    let t0 = std::time::Instant::now();
    let mut after = Vec::new();
    while !(after.contains(&Report::Health(HealthState::Restarting))
        && after.last().is_some_and(running))
    {
        after.push(next());
    }
    eprintln!(
        "mio: healthy again {:?} after the kill: {after:?}",
        t0.elapsed()
    );
    let second_pid = check_recovery(&after, first_pid, &url);
    assert_eq!(m.pid(), Some(second_pid));

    let mut gap = false;
    loop {
        match events.next_timeout(Duration::from_secs(60)).unwrap() {
            Some(EventItem::Resubscribed { url: u }) => {
                assert_eq!(u, url);
                gap = true
            }
            Some(EventItem::Stream(StreamEvent::Resumed { .. })) => gap = true,
            Some(EventItem::Event(ev)) if gap && ev.is_connected() => break,
            Some(_) => {}
            None => panic!("the stream did not resume within 60 s"),
        }
    }
    assert_eq!(c.health().unwrap().version, "1.18.34");
    drop(events);

    m.stop();
    assert!(m.is_finished());
    assert_eq!(m.pid(), None);
    let mut rest = Vec::new();
    while let Some(r) = reports.recv_timeout(Duration::from_millis(100)) {
        rest.push(r);
    }
    assert!(
        rest.contains(&Report::Server(SupervisorState::Stopped)),
        "{rest:?}"
    );
    assert_gone(&[first_pid, second_pid]);
}

#[test]
fn opencode_manager_start_failures_are_typed_and_leave_nothing() {
    use plue_opencode::supervisor::StartFailure;
    use plue_opencode::StartError;
    let missing = ManagerOptions {
        binary: Some("/nonexistent/opencode".into()),
        ..ManagerOptions::default()
    };
    let m = plue_http::mio::opencode::ServerManager::start(missing.clone()).unwrap();
    assert!(matches!(
        m.ready(),
        Err(StartError::Failed(StartFailure::SpawnFailed(_)))
    ));
    m.stop();
    assert!(m.is_finished());

    // A program that exits at once: drained, reaped, reported with its code.
    let early = ManagerOptions {
        command: Some(Arc::new(|_| std::process::Command::new("false"))),
        ..ManagerOptions::default()
    };
    futures_lite::future::block_on(async {
        let m = plue_http::smol::opencode::start_server(early).unwrap();
        assert_eq!(
            m.ready().await.unwrap_err(),
            StartError::Failed(StartFailure::ExitedEarly { code: Some(1) })
        );
        m.stop().await;
        assert!(m.is_finished());
        assert_eq!(m.pid(), None);
    });
}

#[test]
fn opencode_manager_stop_escalates_to_sigkill_after_the_grace_period() {
    use plue_opencode::SupervisorConfig;
    // A "server" that prints the listening line and ignores SIGTERM (the ignored disposition survives `exec`).
    let stubborn = ManagerOptions {
        command: Some(Arc::new(|_| {
            let mut c = std::process::Command::new("sh");
            c.args([
                "-c",
                "trap '' TERM; echo 'opencode server listening on http://127.0.0.1:1'; exec sleep 60",
            ]);
            c
        })),
        supervisor: SupervisorConfig {
            stop_grace: Duration::from_millis(300),
            ..SupervisorConfig::default()
        },
        ..ManagerOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use plue_http_tests::opencode_checks::{next_report, within};
        let m = plue_http::tokio::opencode::start_server(stubborn).unwrap();
        let reports = m.reports();
        let mut seen = Vec::new();
        while !matches!(
            seen.last(),
            Some(Report::Server(SupervisorState::WaitingHealth { .. }))
        ) {
            seen.push(next_report(&reports, Duration::from_secs(10)).await);
        }
        let pid = m.pid().unwrap();
        within(Duration::from_secs(10), "stop", m.stop()).await;
        let rest: Vec<Report> = std::iter::from_fn(|| reports.try_recv().ok()).collect();
        assert!(
            rest.contains(&Report::Server(SupervisorState::Stopping)),
            "{rest:?}"
        );
        assert!(
            rest.contains(&Report::Server(SupervisorState::Stopped)),
            "{rest:?}"
        );
        assert_gone(&[pid]);
        // Never healthy, so `ready` says why.
        assert!(m.ready().await.is_err());
    });
}

/// The port is taken after the kill (a listener that accepts and drops every connection): the manager restarts
/// the server on a new port, the client it handed out moves there, and the user's stream resubscribes with the
/// gap marker naming the new URL.
#[test]
fn opencode_tokio_kill9_with_the_port_taken_the_server_moves_and_clients_follow() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Arc::new(Sandbox::new().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_lite::StreamExt;
        use plue_http::tokio::opencode::EventItem;
        use plue_http_tests::opencode_checks::{next_report, open_events, within};

        let m = plue_http::tokio::opencode::start_server_with(
            &plue_http::tokio::Client::new(client_options()).unwrap(),
            options(&sandbox),
        );
        let reports = m.reports();
        let oc = within(Duration::from_secs(60), "ready", m.ready())
            .await
            .unwrap();
        let old_url = oc.url();
        while !next_report(&reports, Duration::from_secs(60))
            .await
            .eq(&Report::Server(SupervisorState::Running {
                url: old_url.clone(),
            }))
        {}
        let mut events = open_events(&oc).await;
        let first_pid = m.pid().unwrap();

        sigkill(first_pid);
        // Take the port back at once, and refuse to serve on it.
        let port = old_url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        let squatter = loop {
            match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        std::thread::spawn(move || {
            for conn in squatter.incoming() {
                drop(conn);
            }
        });

        let mut after = Vec::new();
        let new_url = loop {
            let r = next_report(&reports, Duration::from_secs(60)).await;
            after.push(r.clone());
            if let Report::Ready { url, moved } = r {
                assert!(moved, "{after:?}");
                break url;
            }
        };
        assert_ne!(new_url, old_url);
        assert!(
            after.contains(&Report::Health(HealthState::Restarting)),
            "{after:?}"
        );
        assert_eq!(
            oc.url(),
            new_url,
            "the client handed out follows the server"
        );
        assert_eq!(oc.health().await.unwrap().version, "1.18.34");
        loop {
            match within(Duration::from_secs(30), "resubscribed", events.next()).await {
                Some(Ok(EventItem::Resubscribed { url })) => {
                    assert_eq!(url, new_url);
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("stream: {other:?}"),
            }
        }
        loop {
            match within(Duration::from_secs(30), "greeting", events.next()).await {
                Some(Ok(EventItem::Event(ev))) => {
                    assert!(ev.is_connected(), "{ev:?}");
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("stream: {other:?}"),
            }
        }
        drop(events);
        let second_pid = m.pid().unwrap();
        within(Duration::from_secs(30), "stop", m.stop()).await;
        assert_gone(&[first_pid, second_pid]);
    });
}
