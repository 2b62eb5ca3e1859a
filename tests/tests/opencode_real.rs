//! Against the real OpenCode 1.18.34 server (one per test binary) with the loopback mock model.
//!
//! Requests go through the core's typed calls and a tiny blocking test transport (`plue_http_tests::blocking`)
//! until the runtime adapters land; then these move onto tokio and mio.

use std::time::{Duration, Instant};

use plue_http_core::opencode::{
    Api, ApiErrorKind, Call, Event, HealthConfig, HealthMonitor, HealthOutput, HealthState,
    OpenCodeOptions, PromptInput, ReplyFollower, ReplyUpdate, Role, SessionCreate, SessionStatus,
};
use plue_http_core::sse::{SseEvent, StreamEvent};
use plue_http_core::{ErrorKind, Method};
use plue_http_tests::blocking::{self, EventReader};
use plue_http_tests::mock_model::MockModel;
use plue_http_tests::opencode_fixture::{shared, OpenCodeServer, ServerOptions};

fn api() -> Api {
    let (url, _) = shared();
    Api::new(&OpenCodeOptions::new(url)).unwrap()
}

fn run<T>(call: Call<T>) -> Result<T, ErrorKind> {
    let response =
        blocking::send(&call.request, Some(Duration::from_secs(60))).unwrap_or_else(|e| {
            panic!(
                "transport failed for {}: {e}",
                call.request.url().redacted()
            )
        });
    call.parse(&response)
}

/// Open `/event` and wait for its first event; returns the reader and how long the first event took.
fn open_events(api: &Api) -> (EventReader, Duration, Event) {
    let t0 = Instant::now();
    let (head, mut events) =
        blocking::subscribe(&api.event_request().unwrap(), Duration::from_secs(30)).unwrap();
    assert_eq!(head.status.as_u16(), 200);
    assert_eq!(head.media_type().as_deref(), Some("text/event-stream"));
    let first = events.next_data().unwrap().expect("a first event");
    (events, t0.elapsed(), Event::parse(&first).unwrap())
}

#[test]
fn opencode_real_health_through_event_within_5s() {
    let api = api();
    let mut monitor = HealthMonitor::new(HealthConfig::default());
    let start = Instant::now();
    let now = |t: Instant| plue_http_core::time::Instant::from_nanos(t.elapsed().as_nanos() as u64);
    monitor.start(now(start));
    assert_eq!(monitor.poll_output(), Some(HealthOutput::Subscribe));
    let (head, mut events) =
        blocking::subscribe(&api.event_request().unwrap(), Duration::from_secs(30)).unwrap();
    assert_eq!(head.status.as_u16(), 200);
    monitor.handle_stream(now(start), &StreamEvent::Connected);
    let data = events.next_data().unwrap().expect("first event");
    let first = Event::parse(&data).unwrap();
    assert!(first.is_connected(), "first event was {first:?}");
    // The monitor's own deadline decides "within 5 s": feed the timeout first, then the event.
    monitor.handle_timeout(now(start));
    monitor.handle_stream(
        now(start),
        &StreamEvent::Event(SseEvent {
            event: "message".into(),
            data,
            id: String::new(),
        }),
    );
    assert_eq!(monitor.poll_output(), Some(HealthOutput::FetchVersion));
    let health = run(api.health().unwrap()).unwrap();
    assert!(health.healthy);
    monitor.handle_version(now(start), Ok(health.version.clone()));
    assert_eq!(
        monitor.state(),
        &HealthState::Healthy {
            version: Some("1.18.34".into())
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn opencode_real_every_typed_call_parses() {
    let api = api();
    let (_, work) = shared();
    let path = run(api.path().unwrap()).unwrap();
    assert_eq!(
        std::fs::canonicalize(&path.directory).unwrap(),
        std::fs::canonicalize(&work).unwrap()
    );
    let project = run(api.project_current().unwrap()).unwrap();
    assert!(!project.id.is_empty());
    let config = run(api.config().unwrap()).unwrap();
    assert_eq!(config.model.as_deref(), Some("mock/echo"));
    assert_eq!(config.share.as_deref(), Some("disabled"));
    let providers = run(api.providers().unwrap()).unwrap();
    assert!(providers
        .all
        .iter()
        .any(|p| p.id == "mock" && p.models.contains_key("echo")));
    assert!(providers.connected.iter().any(|c| c == "mock"));
    let configured = run(api.config_providers().unwrap()).unwrap();
    assert_eq!(
        configured.default.get("mock").map(String::as_str),
        Some("echo")
    );
    let agents = run(api.agents().unwrap()).unwrap();
    assert!(agents.iter().any(|a| a.name == "build"));

    let parent = run(api
        .session_create(&SessionCreate {
            title: Some("typed calls".into()),
            parent_id: None,
        })
        .unwrap())
    .unwrap();
    assert!(parent.id.starts_with("ses_"));
    assert_eq!(parent.title, "typed calls");
    let child = run(api
        .session_create(&SessionCreate {
            title: Some("child".into()),
            parent_id: Some(parent.id.clone()),
        })
        .unwrap())
    .unwrap();
    assert_eq!(child.parent_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(
        run(api.session_get(&parent.id).unwrap()).unwrap().id,
        parent.id
    );
    let renamed = run(api.session_update_title(&parent.id, "renamed").unwrap()).unwrap();
    assert_eq!(renamed.title, "renamed");
    let kids = run(api.session_children(&parent.id).unwrap()).unwrap();
    assert_eq!(
        kids.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [child.id.as_str()]
    );
    let all = run(api.sessions().unwrap()).unwrap();
    assert!(all.iter().any(|s| s.id == parent.id));
    let status = run(api.session_status().unwrap()).unwrap();
    assert!(!status.contains_key(&parent.id) || status[&parent.id] == SessionStatus::Idle);
    assert!(run(api.messages(&parent.id).unwrap()).unwrap().is_empty());
    assert!(run(api.session_abort(&parent.id).unwrap()).unwrap());
    assert!(run(api.permissions().unwrap()).unwrap().is_empty());
    assert!(run(api.session_delete(&parent.id).unwrap()).unwrap());
    let gone = run(api.session_get(&child.id).unwrap()).unwrap_err();
    assert_eq!(
        ApiErrorKind::of_error(&gone),
        Some(ApiErrorKind::NotFound),
        "children go with the parent"
    );
}

#[test]
fn opencode_real_error_bodies_are_typed() {
    let api = api();
    let e = run(api.session_get("ses_doesnotexist").unwrap()).unwrap_err();
    let ErrorKind::Status(body) = &e else {
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
    assert_eq!(ApiErrorKind::of(body), ApiErrorKind::NotFound);

    // A body that is not JSON at all: `{"_tag":"BadRequest"}`.
    let req = api
        .builder(Method::POST, "/session")
        .header("content-type", "application/json")
        .body("{not json")
        .build()
        .unwrap();
    let resp = blocking::send(&req, Some(Duration::from_secs(30))).unwrap();
    let e = resp.error_for_status().unwrap_err();
    let ErrorKind::Status(body) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (body.status, body.name.as_deref()),
        (400, Some("BadRequest"))
    );
    assert_eq!(ApiErrorKind::of(body), ApiErrorKind::BadRequest);

    // JSON of the wrong shape: `{"name":"BadRequest","data":{"message":…}}`.
    let s = run(api.session_create(&SessionCreate::default()).unwrap()).unwrap();
    let req = api
        .builder(Method::POST, &format!("/session/{}/message", s.id))
        .json(&serde_json::json!({"parts": "x"}))
        .build()
        .unwrap();
    let resp = blocking::send(&req, Some(Duration::from_secs(30))).unwrap();
    let e = resp.error_for_status().unwrap_err();
    let ErrorKind::Status(body) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(body.status, 400);
    assert!(
        body.message.as_deref().unwrap_or("").contains("parts"),
        "{body:?}"
    );
    let e = run(api
        .permission_reply(
            "per_nope",
            plue_http_core::opencode::PermissionReply::Once,
            None,
        )
        .unwrap())
    .unwrap_err();
    assert_eq!(
        ApiErrorKind::of_error(&e),
        Some(ApiErrorKind::RequestNotFound)
    );
}

/// Follow this session's reply with the core's `ReplyFollower` until it goes idle; returns the text pieces.
fn follow(events: &mut EventReader, session: &str) -> (Vec<String>, bool) {
    let mut follower = ReplyFollower::new(session);
    let mut pieces = Vec::new();
    loop {
        let data = events.next_data().unwrap().expect("stream open");
        match follower.handle(&Event::parse(&data).unwrap()) {
            Some(ReplyUpdate::Text(t)) => pieces.push(t),
            Some(ReplyUpdate::Idle) => {
                assert_eq!(follower.text(), pieces.concat());
                return (pieces, true);
            }
            Some(ReplyUpdate::Error(e)) => panic!("session error: {e:?}"),
            None => {}
        }
    }
}

#[test]
fn opencode_real_chat_end_to_end_streams_deltas() {
    let api = api();
    let (mut events, first_after, first) = open_events(&api);
    assert!(first.is_connected());
    assert!(first_after < Duration::from_secs(5));
    let s = run(api.session_create(&SessionCreate::default()).unwrap()).unwrap();
    let prompt = api
        .prompt(
            &s.id,
            &PromptInput::text("Say hello")
                .model(plue_http_core::opencode::ModelRef::parse("mock/echo")),
        )
        .unwrap();
    // The blocking prompt answers only when the reply is complete, so it runs beside the event reader.
    let answer = std::thread::spawn(move || run(prompt));
    let (deltas, idle) = follow(&mut events, &s.id);
    assert!(idle);
    assert!(
        deltas.len() >= 2,
        "the reply streamed in pieces: {deltas:?}"
    );
    assert_eq!(deltas.concat(), MockModel::REPLY);
    let message = answer.join().unwrap().unwrap();
    assert_eq!(message.info.role, Role::Assistant);
    assert_eq!(message.text(), MockModel::REPLY);
    let history = run(api.messages(&s.id).unwrap()).unwrap();
    assert_eq!(
        history.last().map(|m| m.text()),
        Some(MockModel::REPLY.to_string())
    );
}

#[test]
fn opencode_real_prompt_async_is_followed_on_events() {
    let api = api();
    let (mut events, _, _) = open_events(&api);
    let s = run(api
        .session_create(&SessionCreate {
            title: Some("async".into()),
            parent_id: None,
        })
        .unwrap())
    .unwrap();
    run(api
        .prompt_async(&s.id, &PromptInput::text("Say hello"))
        .unwrap())
    .unwrap();
    let (deltas, _) = follow(&mut events, &s.id);
    assert_eq!(deltas.concat(), MockModel::REPLY);
}

#[test]
fn opencode_real_basic_auth_reaches_events_and_401_is_typed() {
    let server = OpenCodeServer::start(ServerOptions {
        password: Some("s3cret".into()),
        port: None,
    })
    .unwrap();
    let open = Api::new(&OpenCodeOptions::new(server.url())).unwrap();
    let e = run(open.sessions().unwrap()).unwrap_err();
    let ErrorKind::Status(body) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((body.status, body.body.as_str()), (401, ""));
    assert!(ApiErrorKind::of(body).is_terminal());
    let (head, _) =
        blocking::subscribe(&open.event_request().unwrap(), Duration::from_secs(10)).unwrap();
    assert_eq!(head.status.as_u16(), 401);

    let auth = plue_http_core::opencode::Auth::from_env_values(None, Some("s3cret"));
    let api = Api::new(&OpenCodeOptions::new(server.url()).auth(auth)).unwrap();
    assert!(run(api.sessions().unwrap()).unwrap().is_empty());
    let (_, _, first) = open_events(&api);
    assert!(first.is_connected());
    let pid = server.pid().unwrap();
    drop(server);
    // Stopped and reaped: no process, no zombie.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "server {pid} left behind"
    );
}

#[test]
fn opencode_real_directory_travels_as_query_or_header() {
    let (url, work) = shared();
    let dir = work.join("sub dir ä");
    std::fs::create_dir_all(&dir).unwrap();
    let dir_text = dir.to_str().unwrap().to_string();
    for opts in [
        OpenCodeOptions::new(url.clone()).directory(dir_text.clone()),
        OpenCodeOptions::new(url.clone())
            .directory(dir_text.clone())
            .directory_header(),
    ] {
        let api = Api::new(&opts).unwrap();
        let path = run(api.path().unwrap()).unwrap();
        assert_eq!(path.directory, dir_text, "{:?}", opts.directory_mode);
    }
}
