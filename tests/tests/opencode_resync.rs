//! Resync after a gap, against the real OpenCode 1.18.34 server (one per test binary, mock model on loopback):
//! the event stream is cut through a proxy the test controls while a chat finishes and a permission is asked;
//! after the reconnect, a view that only followed the stream equals one freshly built from GET calls. Also:
//! credentials replaced at run time reach the stream, and a 401 ends it with a typed error naming no secret.

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http::tokio::opencode::{OpenCodeClient, Synced};
use plue_http::tokio::Client;
use plue_http_core::sse::StreamEvent;
use plue_http_tests::hostile_proxy::Proxy;
use plue_http_tests::mock_model::MockModel;
use plue_http_tests::opencode_checks::within;
use plue_http_tests::opencode_fixture::{shared, OpenCodeServer, ServerOptions};
use plue_opencode::{
    fetch_snapshot, ApiErrorKind, Auth, Event, Gap, OpenCodeOptions, PermissionReply, PromptInput,
    Role, SessionStatus, SessionView, SyncItem,
};

const MAX_RECENT: usize = 8;

/// Short reconnect backoff, so the stream is back soon after the proxy (defaults: up to 30 s).
fn quick_client() -> Client {
    Client::new(plue_http::Options {
        retry_delay: Duration::from_millis(100),
        max_retry_delay: Duration::from_millis(500),
        ..plue_http::Options::default()
    })
    .unwrap()
}

/// The next item, failing the test after 30 s.
async fn next(s: &mut Synced) -> SyncItem {
    within(Duration::from_secs(30), "next synced item", s.next())
        .await
        .expect("stream open")
        .expect("no stream error")
}

/// Poll `check` every 50 ms until it holds (30 s at most).
async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: core::future::Future<Output = bool>,
{
    within(Duration::from_secs(30), what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_resync_stream_cut_mid_chat_view_equals_a_fresh_build() {
    let (url, _) = shared();
    let upstream: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream);
    let via =
        OpenCodeClient::with_client(quick_client(), OpenCodeOptions::new(proxy.base())).unwrap();
    let direct = OpenCodeClient::new(OpenCodeOptions::new(url.clone())).unwrap();

    let mut synced = Synced::new(via.opencode().clone(), via.events(), MAX_RECENT);
    // The app's own view: it sees only what the stream yields, live or derived.
    let mut mine = SessionView::new(MAX_RECENT);
    loop {
        match next(&mut synced).await {
            SyncItem::Event(e) | SyncItem::Resync(e) => mine.apply(&e),
            SyncItem::Synced { initial: true, .. } => break,
            SyncItem::Stream(_) => {}
            other => panic!("before the first sync: {other:?}"),
        }
    }

    let s = direct.session_create(Some("resync"), None).await.unwrap();
    direct
        .prompt_async(&s.id, &PromptInput::text("hi"))
        .await
        .unwrap();
    // Cut the stream as soon as the reply streams: the rest of it is lost on the stream.
    loop {
        let item = next(&mut synced).await;
        if let SyncItem::Event(e) | SyncItem::Resync(e) = &item {
            mine.apply(e);
            if matches!(e, Event::MessagePartDelta { session_id, .. } if *session_id == s.id) {
                break;
            }
        }
    }
    proxy.cut();

    // While it is down: the reply finishes, then a new prompt makes the model ask for a permission.
    let finished = || async {
        let idle = !direct.session_status().await.unwrap().contains_key(&s.id);
        let msgs = direct.messages(&s.id).await.unwrap();
        idle && msgs
            .last()
            .is_some_and(|m| m.info.role == Role::Assistant && m.info.time.completed.is_some())
    };
    until("the reply finished", finished).await;
    direct
        .prompt_async(
            &s.id,
            &PromptInput::text(format!("run {}", MockModel::TOOL_TRIGGER)),
        )
        .await
        .unwrap();
    let asked = || async {
        direct
            .permissions()
            .await
            .unwrap()
            .iter()
            .any(|p| p.session_id == s.id)
    };
    until("a permission asked", asked).await;

    // Back up: the stream says events may have been missed, resyncs, and the view matches a fresh build.
    proxy.restore();
    let mut gap = None;
    let mut resynced = Vec::new();
    loop {
        match next(&mut synced).await {
            SyncItem::Event(e) => mine.apply(&e),
            SyncItem::Resync(e) => {
                mine.apply(&e);
                resynced.push(e.kind().to_string());
            }
            SyncItem::Gap(g) => gap = Some(g),
            SyncItem::Synced {
                initial: false,
                changes,
            } => {
                assert_eq!(changes, resynced.len());
                break;
            }
            SyncItem::ResyncFailed(e) => panic!("resync failed: {e}"),
            _ => {}
        }
    }
    assert_eq!(gap, Some(Gap::Reconnected));
    // The lost events: the reply's end, the new prompt, the permission.
    for kind in [
        "message.updated",
        "message.part.updated",
        "permission.asked",
    ] {
        assert!(resynced.iter().any(|k| k == kind), "{kind} in {resynced:?}");
    }
    let fresh = SessionView::from_snapshot(
        MAX_RECENT,
        &fetch_snapshot(direct.opencode(), MAX_RECENT, &[])
            .await
            .unwrap(),
    );
    assert_eq!(&mine, synced.view());
    assert_eq!(mine, fresh);
    assert!(mine.permissions().values().any(|p| p.session_id == s.id));
    assert_eq!(mine.status(&s.id), SessionStatus::Busy);
    let replies = mine.messages(&s.id).unwrap();
    assert!(replies.values().any(|m| m
        .parts
        .values()
        .any(|p| p.text.as_deref() == Some(MockModel::REPLY))));

    // Leave the shared server clean: refuse the tool, wait for the session to settle, delete it.
    let pending: Vec<_> = direct.permissions().await.unwrap();
    for p in pending.iter().filter(|p| p.session_id == s.id) {
        direct
            .permission_reply(&p.id, PermissionReply::Reject, None)
            .await
            .unwrap();
    }
    let idle = || async { !direct.session_status().await.unwrap().contains_key(&s.id) };
    until("the session settled", idle).await;
    direct.session_delete(&s.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_resync_credentials_replaced_at_run_time_and_401_is_typed() {
    let server = OpenCodeServer::start(ServerOptions {
        password: Some("first-s3cret".into()),
        port: None,
    })
    .unwrap();
    let c = OpenCodeClient::with_client(
        quick_client(),
        OpenCodeOptions::new(server.url()).auth(Auth::from_env_values(None, Some("wrong-s3cret"))),
    )
    .unwrap();
    // A 401 on the stream ends it with a typed error that names no secret.
    let mut events = c.synced_events();
    let err = loop {
        match within(Duration::from_secs(30), "a 401", events.next()).await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(
        ApiErrorKind::of_error(err.kind()),
        Some(ApiErrorKind::Unauthorized)
    );
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("s3cret") && !text.contains("b3Blbm"),
        "{text}"
    );

    // A stream opened with the old credentials follows a replacement: it resubscribes with the new ones.
    let mut events = c.synced_events();
    c.set_auth(Auth::from_env_values(None, Some("first-s3cret")));
    let mut saw_resubscribe = false;
    loop {
        match within(Duration::from_secs(30), "a synced stream", events.next()).await {
            Some(Ok(SyncItem::Gap(Gap::Resubscribed { .. }))) => saw_resubscribe = true,
            Some(Ok(SyncItem::Synced { .. })) => break,
            Some(Ok(SyncItem::Stream(StreamEvent::Reconnecting { .. }))) => {}
            Some(Ok(_)) => {}
            // The first subscription may already have failed with the old password before the switch.
            Some(Err(e)) if !saw_resubscribe => {
                assert_eq!(
                    ApiErrorKind::of_error(e.kind()),
                    Some(ApiErrorKind::Unauthorized)
                );
                events = c.synced_events();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(c.sessions().await.unwrap().is_empty());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_manager_attaches_to_a_running_server_and_leaves_it_running() {
    let (url, _) = shared();
    let c = OpenCodeClient::new(OpenCodeOptions::new(url)).unwrap();
    let m = plue_http::tokio::opencode::attach(c.opencode());
    let oc = within(Duration::from_secs(30), "attached", m.ready())
        .await
        .expect("healthy");
    assert_eq!(oc.url(), c.url());
    assert_eq!(m.pid(), None);
    within(Duration::from_secs(30), "stop", m.stop()).await;
    assert!(m.is_finished());
    // Stopping an attached manager leaves the server alone.
    assert_eq!(c.health().await.unwrap().version, "1.18.34");
}
