//! The life of a spawned server, against the real OpenCode 1.18.34: a kill -9 mid-reply ends the wait with
//! `ReplyLost` within seconds of the restarted server; the spawned server refuses a request without its
//! per-launch password; and it never outlives the app (the app is SIGKILLed, the server follows within 2 s).
//! Kill tests run one at a time (a mutex), in their own binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use plue_http_tests::opencode_checks::within;
use plue_http_tests::opencode_fixture::Sandbox;
use plue_opencode::{
    ApiErrorKind, CommandFn, Event, ManagerOptions, OpenCodeOptions, PromptInput, ReplyLost,
    SyncItem, Synced,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn options(sandbox: &Arc<Sandbox>) -> ManagerOptions {
    let sb = sandbox.clone();
    let command: CommandFn = Arc::new(move |port| sb.serve_command(port));
    ManagerOptions {
        command: Some(command),
        ..ManagerOptions::default()
    }
}

fn client() -> plue_http::tokio::Client {
    plue_http::tokio::Client::new(plue_http::Options {
        max_retry_delay: Duration::from_secs(1),
        ..plue_http::Options::default()
    })
    .unwrap()
}

fn sigkill(pid: u32) {
    // SAFETY: a plain syscall on a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// Gone, or a zombie waiting for init to reap it (it no longer runs).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn next(s: &mut Synced) -> SyncItem {
    within(Duration::from_secs(60), "next synced item", s.next())
        .await
        .expect("stream open")
        .expect("no stream error")
}

#[test]
fn opencode_reply_lost_after_kill9_mid_reply_ends_the_wait_within_seconds() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Arc::new(Sandbox::new().unwrap());
    plue_http_tests::tokio_rt().block_on(async {
        let m = plue_http::tokio::opencode::start_server_with(&client(), options(&sandbox));
        let oc = within(Duration::from_secs(60), "ready", m.ready())
            .await
            .unwrap();
        // What `plue chat` does: a stream that keeps no messages but those it waits on.
        let mut synced = Synced::new(oc.clone(), oc.events(), 0);
        while !matches!(next(&mut synced).await, SyncItem::Synced { initial: true, .. }) {}
        let s = oc.session_create(Some("lost"), None).await.unwrap();
        let slow = format!("hi {}", plue_http_tests::mock_model::MockModel::SLOW_TRIGGER);
        oc.prompt_async(&s.id, &PromptInput::text(slow)).await.unwrap();
        synced.wait_for(&s.id);
        loop {
            if let SyncItem::Event(Event::MessagePartDelta { session_id, .. }) =
                next(&mut synced).await
            {
                if session_id == s.id {
                    break;
                }
            }
        }
        let first_pid = m.pid().unwrap();
        sigkill(first_pid);
        let killed = Instant::now();
        let mut healthy_again = None;
        let reports = m.reports();
        let lost = loop {
            while let Ok(r) = reports.try_recv() {
                if matches!(r, plue_opencode::Report::Ready { .. }) && healthy_again.is_none() {
                    healthy_again = Some(killed.elapsed());
                }
            }
            match next(&mut synced).await {
                SyncItem::ReplyLost(l) => break l,
                SyncItem::Event(Event::SessionIdle { session_id })
                | SyncItem::Resync(Event::SessionIdle { session_id })
                    if session_id == s.id =>
                {
                    panic!("the reply finished: the kill came too late")
                }
                _ => {}
            }
        };
        let took = killed.elapsed();
        while let Ok(r) = reports.try_recv() {
            if matches!(r, plue_opencode::Report::Ready { .. }) && healthy_again.is_none() {
                healthy_again = Some(took);
            }
        }
        eprintln!("ReplyLost {took:?} after the kill (server ready again after {healthy_again:?}): {lost:?}");
        assert_eq!(lost.session_id, s.id);
        assert_eq!(
            lost.to_string(),
            "the server restarted and the reply was lost; the prompt was kept"
        );
        let _: &ReplyLost = &lost;
        // Seconds, not the 10 minutes a chat would otherwise wait: restart (~3 failed reconnects) plus the resync.
        assert!(took < Duration::from_secs(30), "{took:?}");
        // The prompt is still in the session.
        let msgs = oc.messages(&s.id).await.unwrap();
        assert!(msgs.iter().any(|m| m.info.role == plue_opencode::Role::User));
        within(Duration::from_secs(30), "stop", m.stop()).await;
        assert!(is_gone(first_pid));
    });
}

#[test]
fn opencode_spawned_server_refuses_a_request_without_its_password() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Arc::new(Sandbox::new().unwrap());
    plue_http_tests::tokio_rt().block_on(async {
        let m = plue_http::tokio::opencode::start_server_with(&client(), options(&sandbox));
        let oc = within(Duration::from_secs(60), "ready", m.ready())
            .await
            .unwrap();
        // The manager's client knows the launch's password.
        oc.sessions().await.unwrap();
        let stranger = plue_http::tokio::opencode::OpenCodeClient::new(
            OpenCodeOptions::new(oc.url()).auth(None),
        )
        .unwrap();
        // Without credentials (and none from this process's environment) the server answers 401.
        if plue_opencode::env_auth().is_none() {
            let e = stranger.sessions().await.unwrap_err();
            assert_eq!(
                ApiErrorKind::of_error(e.kind()),
                Some(ApiErrorKind::Unauthorized)
            );
        }
        let guess = plue_http::tokio::opencode::OpenCodeClient::new(
            OpenCodeOptions::new(oc.url())
                .auth(plue_opencode::Auth::from_env_values(None, Some("opencode"))),
        )
        .unwrap();
        let e = guess.sessions().await.unwrap_err();
        assert_eq!(
            ApiErrorKind::of_error(e.kind()),
            Some(ApiErrorKind::Unauthorized)
        );
        // The server is in its own process group, which the manager signals on stop.
        let pid = m.pid().unwrap();
        assert_eq!(rustix_pgid(pid), Some(pid));
        within(Duration::from_secs(30), "stop", m.stop()).await;
        assert!(is_gone(pid));
    });
}

/// The process group of `pid` (field 5 of /proc/PID/stat).
fn rustix_pgid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

const CHILD_ENV: &str = "PLUE_TEST_MANAGER_CHILD";

/// Parent: run this test binary again as the app (the child branch below), SIGKILL it once its server is
/// healthy, and see the server exit within 2 s.
#[test]
fn opencode_spawned_server_dies_within_2s_when_the_app_is_killed() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return run_as_app();
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut app = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "opencode_spawned_server_dies_within_2s_when_the_app_is_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let (mut pid, mut root) = (None, None);
    while pid.is_none() || root.is_none() {
        let line = lines.next().expect("the app's output").unwrap();
        // libtest prints `test NAME ... ` without a newline before the test runs: find the markers anywhere.
        if let Some((_, p)) = line.split_once("SERVER_PID ") {
            pid = Some(p.trim().parse::<u32>().unwrap());
        } else if let Some((_, r)) = line.split_once("SANDBOX ") {
            root = Some(std::path::PathBuf::from(r.trim()));
        }
    }
    let pid = pid.unwrap();
    assert!(!is_gone(pid));
    sigkill(app.id());
    let killed = Instant::now();
    let _ = app.wait();
    while !is_gone(pid) && killed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = killed.elapsed();
    eprintln!("server {pid} gone {took:?} after the app was killed");
    if let Some(r) = root {
        let _ = std::fs::remove_dir_all(r);
    }
    assert!(is_gone(pid), "server {pid} outlived the app");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// Child: start the manager, print the server's pid, wait to be killed.
fn run_as_app() {
    let sandbox = Arc::new(Sandbox::new().unwrap());
    println!("SANDBOX {}", sandbox.work_dir().parent().unwrap().display());
    plue_http_tests::tokio_rt().block_on(async {
        let m = plue_http::tokio::opencode::start_server_with(&client(), options(&sandbox));
        within(Duration::from_secs(60), "ready", m.ready())
            .await
            .unwrap();
        println!("SERVER_PID {}", m.pid().unwrap());
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}
