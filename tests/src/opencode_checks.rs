//! Checks against the real OpenCode server, written once over the runtime-independent [`OpenCode`] handle and
//! run on every runtime's client (the async runtimes await them, the mio tests block on them: the HTTP work is
//! done by that runtime's transport either way).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http_core::{ErrorKind, Method};
use plue_opencode::{
    ApiErrorKind, Event, HealthState, ModelRef, PermissionReply, PromptInput, ReplyFollower,
    ReplyUpdate, Role, SessionStatus,
};
use plue_opencode::{EventItem, Events, OpenCode, Report};

use crate::mock_model::MockModel;

/// Run `fut`, failing the test if it takes longer than `limit` (a hung server must not hang the suite).
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    futures_lite::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(limit).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("{what}: no result within {limit:?}"))
}

/// The next report, or a panic after `limit`.
pub async fn next_report(reports: &async_channel::Receiver<Report>, limit: Duration) -> Report {
    within(limit, "next report", reports.recv())
        .await
        .expect("reports channel open")
}

/// Open `/event` and wait for its first OpenCode event, which must be `server.connected`.
pub async fn open_events(oc: &OpenCode) -> Events<Event> {
    let mut events = oc.events();
    loop {
        match within(Duration::from_secs(30), "first event", events.next()).await {
            Some(Ok(EventItem::Event(ev))) => {
                assert!(ev.is_connected(), "first event was {ev:?}");
                return events;
            }
            Some(Ok(EventItem::Stream(_))) => {}
            other => panic!("event stream: {other:?}"),
        }
    }
}

/// Follow `session`'s reply until it goes idle; returns the text pieces as streamed.
pub async fn follow(events: &mut Events<Event>, session: &str) -> Vec<String> {
    let mut follower = ReplyFollower::new(session);
    let mut pieces = Vec::new();
    loop {
        let item = within(Duration::from_secs(60), "reply", events.next()).await;
        let Some(Ok(EventItem::Event(ev))) = item else {
            assert!(matches!(item, Some(Ok(_))), "stream ended: {item:?}");
            continue;
        };
        match follower.handle(&ev) {
            Some(ReplyUpdate::Text(t)) => pieces.push(t),
            Some(ReplyUpdate::Idle) => {
                assert_eq!(follower.text(), pieces.concat());
                return pieces;
            }
            Some(ReplyUpdate::Error(e)) => panic!("session error: {e:?}"),
            None => {}
        }
    }
}

/// Every typed call parses the real server's answers.
pub async fn every_typed_call(oc: &OpenCode, work: &Path) {
    let path = oc.path().await.unwrap();
    assert_eq!(
        std::fs::canonicalize(&path.directory).unwrap(),
        std::fs::canonicalize(work).unwrap()
    );
    assert_eq!(oc.health().await.unwrap().version, "1.18.34");
    assert!(!oc.project_current().await.unwrap().id.is_empty());
    let config = oc.config().await.unwrap();
    assert_eq!(config.model.as_deref(), Some("mock/echo"));
    let providers = oc.providers().await.unwrap();
    assert!(providers
        .all
        .iter()
        .any(|p| p.id == "mock" && p.models.contains_key("echo")));
    let configured = oc.config_providers().await.unwrap();
    assert_eq!(
        configured.default.get("mock").map(String::as_str),
        Some("echo")
    );
    assert!(oc.agents().await.unwrap().iter().any(|a| a.name == "build"));

    let parent = oc.session_create(Some("typed calls"), None).await.unwrap();
    assert!(parent.id.starts_with("ses_"));
    assert_eq!(parent.title, "typed calls");
    let child = oc
        .session_create(Some("child"), Some(&parent.id))
        .await
        .unwrap();
    assert_eq!(child.parent_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(oc.session(&parent.id).await.unwrap().id, parent.id);
    let renamed = oc
        .session_update_title(&parent.id, "renamed")
        .await
        .unwrap();
    assert_eq!(renamed.title, "renamed");
    let kids = oc.session_children(&parent.id).await.unwrap();
    assert_eq!(
        kids.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [child.id.as_str()]
    );
    assert!(oc
        .sessions()
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == parent.id));
    let status = oc.session_status().await.unwrap();
    assert!(!status.contains_key(&parent.id) || status[&parent.id] == SessionStatus::Idle);
    assert!(oc.messages(&parent.id).await.unwrap().is_empty());
    assert!(oc.session_abort(&parent.id).await.unwrap());
    assert!(oc.permissions().await.unwrap().is_empty());
    assert!(oc.session_delete(&parent.id).await.unwrap());
    let gone = oc.session(&child.id).await.unwrap_err();
    assert_eq!(
        ApiErrorKind::of_error(gone.kind()),
        Some(ApiErrorKind::NotFound),
        "children go with the parent"
    );
}

/// Error bodies come back typed: unknown session, malformed JSON, JSON of the wrong shape, unknown permission.
pub async fn error_bodies(oc: &OpenCode) {
    let e = oc.session("ses_doesnotexist").await.unwrap_err();
    let ErrorKind::Status(body) = e.kind() else {
        panic!("{e:?}")
    };
    assert_eq!(
        (body.status, body.name.as_deref()),
        (404, Some("NotFoundError"))
    );
    assert_eq!(
        body.message.as_deref(),
        Some("Session not found: ses_doesnotexist")
    );

    let req = oc
        .api()
        .builder(Method::POST, "/session")
        .header("content-type", "application/json")
        .body("{not json")
        .build()
        .unwrap();
    let resp = oc.front().request(req).await.unwrap();
    let e = resp.error_for_status().unwrap_err();
    let ErrorKind::Status(body) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (body.status, body.name.as_deref()),
        (400, Some("BadRequest"))
    );

    let s = oc.session_create(None, None).await.unwrap();
    let req = oc
        .api()
        .builder(Method::POST, &format!("/session/{}/message", s.id))
        .json(&serde_json::json!({"parts": "x"}))
        .build()
        .unwrap();
    let resp = oc.front().request(req).await.unwrap();
    let ErrorKind::Status(body) = resp.error_for_status().unwrap_err() else {
        panic!("not a status error")
    };
    assert_eq!(body.status, 400);
    assert!(
        body.message.as_deref().unwrap_or("").contains("parts"),
        "{body:?}"
    );
    let e = oc
        .permission_reply("per_nope", PermissionReply::Once, None)
        .await
        .unwrap_err();
    assert_eq!(
        ApiErrorKind::of_error(e.kind()),
        Some(ApiErrorKind::RequestNotFound)
    );
}

/// The blocking prompt while its reply streams as `message.part.delta` events; the text equals the mock's.
pub async fn chat_end_to_end(oc: &OpenCode) {
    let mut events = open_events(oc).await;
    let s = oc.session_create(Some("chat"), None).await.unwrap();
    let input = PromptInput::text("Say hello").model(ModelRef::parse("mock/echo"));
    // The prompt answers only when the reply is complete: it runs beside the event reader.
    let (answer, deltas) = futures_lite::future::zip(oc.prompt(&s.id, &input), async {
        follow(&mut events, &s.id).await
    })
    .await;
    assert!(
        deltas.len() >= 2,
        "the reply streamed in pieces: {deltas:?}"
    );
    assert_eq!(deltas.concat(), MockModel::REPLY);
    let message = answer.unwrap();
    assert_eq!(message.info.role, Role::Assistant);
    assert_eq!(message.text(), MockModel::REPLY);
    let history = oc.messages(&s.id).await.unwrap();
    assert_eq!(
        history.last().map(|m| m.text()),
        Some(MockModel::REPLY.to_string())
    );
}

/// prompt_async answers at once; the reply is followed on the event stream.
pub async fn prompt_async_followed(oc: &OpenCode) {
    let mut events = open_events(oc).await;
    let s = oc.session_create(Some("async"), None).await.unwrap();
    oc.prompt_async(&s.id, &PromptInput::text("Say hello"))
        .await
        .unwrap();
    assert_eq!(follow(&mut events, &s.id).await.concat(), MockModel::REPLY);
}

/// The first health report of a fresh watch is Healthy with the server's version: the monitor's own 5 s
/// deadline for the first event was met (otherwise it would report Degraded first).
pub async fn health_within_5s(reports: &async_channel::Receiver<Report>) {
    let first = next_report(reports, Duration::from_secs(30)).await;
    assert_eq!(
        first,
        Report::Health(HealthState::Healthy {
            version: Some("1.18.34".into())
        })
    );
}

/// A client pointed at a dead address moves to the real server (`set_url`, what the manager does after a
/// restart on a new port): its event stream yields the `Resubscribed` gap marker, then the new server's greeting.
pub async fn moved_stream_follows(real_url: &str, oc: &OpenCode) {
    let mut events = oc.events();
    // Nothing listens on port 1: the stream reconnects.
    loop {
        match within(Duration::from_secs(30), "reconnecting", events.next()).await {
            Some(Ok(EventItem::Stream(plue_http_core::sse::StreamEvent::Reconnecting {
                ..
            }))) => break,
            Some(Ok(_)) => {}
            other => panic!("stream: {other:?}"),
        }
    }
    oc.set_url(real_url).unwrap();
    assert_eq!(oc.url(), real_url);
    let mut moved = false;
    loop {
        match within(Duration::from_secs(30), "moved", events.next()).await {
            Some(Ok(EventItem::Resubscribed { url })) => {
                assert_eq!(url, real_url);
                moved = true;
            }
            Some(Ok(EventItem::Event(ev))) => {
                assert!(moved, "an event before the gap marker: {ev:?}");
                assert!(ev.is_connected(), "{ev:?}");
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("stream: {other:?}"),
        }
    }
    assert_eq!(oc.health().await.unwrap().version, "1.18.34");
}
