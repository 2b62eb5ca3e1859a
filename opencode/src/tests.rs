//! Typed calls and events against real OpenCode 1.18.34 responses (`tests/fixtures/opencode/`).

use http::Method;

use super::*;
use plue_http_core::error::ErrorKind;
use plue_http_core::response::{Response, ResponseHead};

/// A whole response: `status`, HTTP/1.1, these fields in order.
fn test_response(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let head = ResponseHead {
        status: http::StatusCode::from_u16(status).unwrap(),
        version: http::Version::HTTP_11,
        headers: map,
    };
    Response::new(head, plue_http_core::Bytes::from_static(body.as_bytes()))
}

fn resp(status: u16, body: &'static str) -> Response {
    test_response(status, &[("content-type", "application/json")], body)
}

fn api() -> Api {
    Api::new(&OpenCodeOptions::new("http://127.0.0.1:4096")).unwrap()
}

#[test]
fn opencode_calls_parse_real_server_responses() {
    let a = api();
    let h = a
        .health()
        .unwrap()
        .parse(&resp(200, fixture!("health.json")))
        .unwrap();
    assert_eq!((h.healthy, h.version.as_str()), (true, "1.18.34"));
    let p = a
        .path()
        .unwrap()
        .parse(&resp(200, fixture!("path.json")))
        .unwrap();
    assert_eq!(p.directory, "/tmp/oc/work");
    let pr = a
        .project_current()
        .unwrap()
        .parse(&resp(200, fixture!("project_current.json")))
        .unwrap();
    assert_eq!(pr.id, "global");
    let c = a
        .config()
        .unwrap()
        .parse(&resp(200, fixture!("config.json")))
        .unwrap();
    assert_eq!(c.model.as_deref(), Some("mock/echo"));
    assert!(c.rest.contains_key("provider"));
    let pl = a
        .providers()
        .unwrap()
        .parse(&resp(200, fixture!("provider.json")))
        .unwrap();
    let mock = pl.all.iter().find(|p| p.id == "mock").unwrap();
    assert_eq!(mock.models["echo"].provider_id, "mock");
    assert_eq!(pl.default["mock"], "echo");
    let cp = a
        .config_providers()
        .unwrap()
        .parse(&resp(200, fixture!("config_providers.json")))
        .unwrap();
    assert!(cp.providers.iter().any(|p| p.id == "mock"));
    let agents = a
        .agents()
        .unwrap()
        .parse(&resp(200, fixture!("agent.json")))
        .unwrap();
    assert!(agents
        .iter()
        .any(|g| g.name == "build" && g.mode == "primary"));
}

#[test]
fn opencode_session_calls_parse_real_server_responses() {
    let a = api();
    let s = a
        .session_create(&SessionCreate::default())
        .unwrap()
        .parse(&resp(200, fixture!("session_create.json")))
        .unwrap();
    assert!(s.id.starts_with("ses_"));
    assert_eq!(s.title, "fixture session");
    let child = a
        .session_create(&SessionCreate::default())
        .unwrap()
        .parse(&resp(200, fixture!("session_create_child.json")))
        .unwrap();
    assert_eq!(child.parent_id.as_deref(), Some(s.id.as_str()));
    let g = a
        .session_get(&s.id)
        .unwrap()
        .parse(&resp(200, fixture!("session_get.json")))
        .unwrap();
    assert_eq!(g.id, s.id);
    let u = a
        .session_update_title(&s.id, "renamed")
        .unwrap()
        .parse(&resp(200, fixture!("session_update.json")))
        .unwrap();
    assert_eq!(u.title, "renamed");
    let kids = a
        .session_children(&s.id)
        .unwrap()
        .parse(&resp(200, fixture!("session_children.json")))
        .unwrap();
    assert_eq!(kids.len(), 1);
    let st = a
        .session_status()
        .unwrap()
        .parse(&resp(200, fixture!("session_status.json")))
        .unwrap();
    assert_eq!(st[&s.id], SessionStatus::Busy);
    assert!(a
        .session_delete(&s.id)
        .unwrap()
        .parse(&resp(200, fixture!("session_delete.json")))
        .unwrap());
    assert!(a
        .session_abort(&s.id)
        .unwrap()
        .parse(&resp(200, fixture!("session_abort.json")))
        .unwrap());
    let list = a.sessions().unwrap().parse(&resp(200, "[]")).unwrap();
    assert!(list.is_empty());
}

#[test]
fn opencode_message_calls_parse_real_server_responses() {
    let a = api();
    let m = a
        .prompt("ses_1", &PromptInput::text("Say hello"))
        .unwrap()
        .parse(&resp(200, fixture!("prompt.json")))
        .unwrap();
    assert_eq!(m.info.role, Role::Assistant);
    assert_eq!(m.info.finish.as_deref(), Some("stop"));
    assert_eq!(m.text(), "Hello from the mock.");
    assert_eq!(m.parts.first().map(|p| p.kind.as_str()), Some("step-start"));
    let list = a
        .messages("ses_1")
        .unwrap()
        .parse(&resp(200, fixture!("messages.json")))
        .unwrap();
    assert_eq!(
        list.iter().map(|m| m.info.role).collect::<Vec<_>>(),
        [Role::User, Role::Assistant]
    );
    assert_eq!(list[0].text(), "Say hello");
    let one = a
        .message("ses_1", "msg_1")
        .unwrap()
        .parse(&resp(200, fixture!("message_get.json")))
        .unwrap();
    assert_eq!(one.text(), "Hello from the mock.");
    let empty = test_response(204, &[], "");
    a.prompt_async("ses_1", &PromptInput::text("x"))
        .unwrap()
        .parse(&empty)
        .unwrap();
}

#[test]
fn opencode_calls_turn_error_bodies_into_typed_errors() {
    let a = api();
    let e = a
        .session_get("ses_nope")
        .unwrap()
        .parse(&resp(404, fixture!("err_notfound.json")))
        .unwrap_err();
    let ErrorKind::Status(api_err) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(ApiErrorKind::of(api_err), ApiErrorKind::NotFound);
    assert_eq!(
        api_err.message.as_deref(),
        Some("Session not found: ses_nope")
    );
    let e = a
        .prompt("ses_1", &PromptInput::text("x"))
        .unwrap()
        .parse(&resp(400, fixture!("err_badjson.json")))
        .unwrap_err();
    assert_eq!(ApiErrorKind::of_error(&e), Some(ApiErrorKind::BadRequest));
    let e = a
        .permission_reply("per_nope", PermissionReply::Once, None)
        .unwrap()
        .parse(&resp(404, fixture!("perm_reply.json")))
        .unwrap_err();
    assert_eq!(
        ApiErrorKind::of_error(&e),
        Some(ApiErrorKind::RequestNotFound)
    );
    // A 200 whose body is not the promised shape is a decode error, not a panic.
    let e = a
        .session_get("ses_1")
        .unwrap()
        .parse(&resp(200, "[1,2]"))
        .unwrap_err();
    assert!(matches!(e, ErrorKind::Json { .. }), "{e:?}");
}

#[test]
fn opencode_requests_have_the_right_method_path_and_body() {
    let a = api();
    let r = a
        .session_create(&SessionCreate {
            title: Some("t".into()),
            parent_id: Some("ses_p".into()),
        })
        .unwrap()
        .request;
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.url().path_and_query(), "/session");
    assert_eq!(r.body().as_bytes(), br#"{"title":"t","parentID":"ses_p"}"#);
    let r = a.session_create(&SessionCreate::default()).unwrap().request;
    assert_eq!(r.body().as_bytes(), b"{}");
    let r = a.session_update_title("ses_1", "new").unwrap().request;
    assert_eq!(
        (r.method(), r.url().path()),
        (&Method::PATCH, "/session/ses_1")
    );
    assert_eq!(r.body().as_bytes(), br#"{"title":"new"}"#);
    let r = a.session_delete("ses_1").unwrap().request;
    assert_eq!(r.method(), Method::DELETE);
    let r = a.session_abort("ses_1").unwrap().request;
    assert_eq!(
        (r.method(), r.url().path()),
        (&Method::POST, "/session/ses_1/abort")
    );
    let r = a.message("ses_1", "msg_2").unwrap().request;
    assert_eq!(r.url().path(), "/session/ses_1/message/msg_2");
    let r = a
        .permission_reply("per_1", PermissionReply::Reject, Some("no"))
        .unwrap()
        .request;
    assert_eq!(r.url().path(), "/permission/per_1/reply");
    assert_eq!(r.body().as_bytes(), br#"{"reply":"reject","message":"no"}"#);
    // Ids cannot change the path.
    let r = a.session_get("a/../b").unwrap().request;
    assert_eq!(r.url().path(), "/session/a%2F..%2Fb");
    assert!(matches!(
        a.session_get("..").unwrap_err(),
        ErrorKind::InvalidRequest { field: "path", .. }
    ));
    assert!(a.session_get("").is_err());
}

#[test]
fn opencode_prompts_are_never_retried_and_have_only_a_connect_timeout() {
    let a = api();
    let input = PromptInput::text("hi").model(ModelRef::parse("mock/echo"));
    let r = a.prompt("ses_1", &input).unwrap().request;
    assert_eq!(r.url().path(), "/session/ses_1/message");
    assert_eq!(
        r.body().as_bytes(),
        br#"{"parts":[{"type":"text","text":"hi"}],"model":{"providerID":"mock","modelID":"echo"}}"#
    );
    let o = r.options();
    assert_eq!(o.max_retries, Some(0));
    assert_eq!(o.timeout, Some(None));
    assert_eq!(o.read_timeout, Some(None));
    assert_eq!(
        o.connect_timeout, None,
        "the client's connect timeout applies"
    );
    assert!(!r.is_replay_safe());
    let r = a.prompt_async("ses_1", &input).unwrap().request;
    assert_eq!(r.url().path(), "/session/ses_1/prompt_async");
    assert_eq!(r.options().max_retries, Some(0));
    assert_eq!(
        ModelRef::parse("openrouter/anthropic/claude"),
        Some(ModelRef::new("openrouter", "anthropic/claude"))
    );
    assert_eq!(ModelRef::parse("nomodel"), None);
    assert_eq!(ModelRef::parse("/x"), None);
}

#[test]
fn opencode_directory_and_auth_reach_every_request_including_events() {
    let opts = OpenCodeOptions::new("http://127.0.0.1:4096")
        .directory("/tmp/my project")
        .auth(Auth::from_env_values(None, Some("pw")));
    let a = Api::new(&opts).unwrap();
    let calls = [
        a.sessions().unwrap().request,
        a.prompt("ses_1", &PromptInput::text("x")).unwrap().request,
        a.event_request().unwrap(),
    ];
    for r in &calls {
        assert_eq!(r.headers()["authorization"], "Basic b3BlbmNvZGU6cHc=");
        assert_eq!(r.url().query(), Some("directory=%2Ftmp%2Fmy%20project"));
    }
    let ev = a.event_request().unwrap();
    assert_eq!(ev.url().path(), "/event");
    assert_eq!(ev.headers()["accept"], "text/event-stream");
    // Server-wide endpoints carry no directory.
    let g = a.global_event_request().unwrap();
    assert_eq!((g.url().path(), g.url().query()), ("/global/event", None));
    assert_eq!(g.headers()["authorization"], "Basic b3BlbmNvZGU6cHc=");

    let h = Api::new(&opts.clone().directory_header()).unwrap();
    let r = h.sessions().unwrap().request;
    assert_eq!(r.url().query(), None);
    assert_eq!(r.headers()["x-opencode-directory"], "/tmp/my%20project");
    // Credentials in the URL work too, and never show in the URL text.
    let u = Api::new(&OpenCodeOptions::new("http://me:pw@127.0.0.1:4096")).unwrap();
    let r = u.health().unwrap().request;
    assert_eq!(r.headers()["authorization"], "Basic bWU6cHc=");
    assert!(!r.url().redacted().contains("pw"));
    assert!(
        !format!("{u:?} {a:?}").contains("pw"),
        "Debug leaks credentials"
    );
    assert!(!format!("{a:?}").contains("b3BlbmNvZGU6cHc="));
    assert!(matches!(
        Api::new(&OpenCodeOptions::new("ftp://h")).unwrap_err(),
        ErrorKind::UnsupportedScheme { .. }
    ));
}

/// The `data:` payloads of a captured SSE stream (the fixtures hold only single-line `data:` events).
fn sse_payloads(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

#[test]
fn opencode_events_parse_a_real_chat_stream() {
    let payloads = sse_payloads(fixture!("event_chat.txt"));
    let events: Vec<Event> = payloads.iter().map(|d| Event::parse(d).unwrap()).collect();
    assert_eq!(events[0], Event::ServerConnected);
    assert_eq!(events[1], Event::ServerHeartbeat);
    assert!(
        matches!(&events[2], Event::SessionCreated { info } if info.title == "fixture session")
    );
    // The capture holds three chats (one blocking prompt, two prompt_async): each reply streams as deltas
    // that add up to the mock's text.
    let mut replies: Vec<(String, String)> = Vec::new();
    for e in &events {
        if let Event::MessagePartDelta {
            message_id,
            field,
            delta,
            ..
        } = e
        {
            assert_eq!(field, "text");
            match replies.iter_mut().find(|(m, _)| m == message_id) {
                Some((_, text)) => text.push_str(delta),
                None => replies.push((message_id.clone(), delta.clone())),
            }
        }
    }
    assert_eq!(replies.len(), 3);
    assert!(
        replies
            .iter()
            .all(|(_, text)| text == "Hello from the mock."),
        "{replies:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SessionStatus {
            status: SessionStatus::Busy,
            ..
        }
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SessionIdle { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SessionDiff { .. })));
    assert!(events.iter().any(
        |e| matches!(e, Event::MessagePartUpdated { part } if part.as_text() == Some("Hello from the mock."))
    ));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::MessageUpdated { info } if info.role == Role::Assistant)));
    // Every known type parsed into its variant; only types this client does not model are Unknown.
    for e in &events {
        if let Event::Unknown { kind, .. } = e {
            assert!(
                [
                    "plugin.added",
                    "catalog.updated",
                    "reference.updated",
                    "integration.updated"
                ]
                .contains(&kind.as_str()),
                "unexpected unknown {kind}"
            );
        }
        if e.kind().starts_with("message.") || e.kind().starts_with("session.") {
            assert!(
                e.session_id().is_some_and(|s| s.starts_with("ses_")),
                "{e:?}"
            );
        }
    }
}

#[test]
fn opencode_global_events_unwrap_payload_and_directory() {
    let payloads = sse_payloads(fixture!("global_event_chat.txt"));
    let events: Vec<GlobalEvent> = payloads
        .iter()
        .map(|d| GlobalEvent::parse(d).unwrap())
        .collect();
    assert_eq!(events[0].payload, Event::ServerConnected);
    assert_eq!(events[0].directory, None);
    let created = events
        .iter()
        .find(|g| matches!(g.payload, Event::SessionCreated { .. }))
        .unwrap();
    assert_eq!(created.directory.as_deref(), Some("/tmp/oc/work"));
    assert_eq!(created.project.as_deref(), Some("global"));
    // `sync` payloads (the server's replication log) are kept raw.
    assert!(events
        .iter()
        .any(|g| matches!(&g.payload, Event::Unknown { kind, .. } if kind == "sync")));
    let deltas = events
        .iter()
        .filter(|g| matches!(g.payload, Event::MessagePartDelta { .. }))
        .count();
    assert_eq!(deltas, 12, "three chats of four chunks");
}

#[test]
fn opencode_events_accept_legacy_and_unknown_shapes_and_reject_non_objects() {
    assert_eq!(Event::parse("{}").unwrap(), Event::LegacyConnected);
    assert!(Event::parse("{}").unwrap().is_connected());
    assert_eq!(
        GlobalEvent::parse("{}").unwrap().payload,
        Event::LegacyConnected
    );
    let e = Event::parse(r#"{"type":"brand.new","properties":{"x":1}}"#).unwrap();
    assert!(
        matches!(&e, Event::Unknown { kind, raw } if kind == "brand.new" && raw["properties"]["x"] == 1)
    );
    // A known type with a shape this client does not expect falls back to Unknown, never an error.
    let e = Event::parse(r#"{"type":"message.part.delta","properties":{"delta":5}}"#).unwrap();
    assert_eq!(e.kind(), "message.part.delta");
    assert!(matches!(e, Event::Unknown { .. }));
    let e = Event::parse(
        r#"{"type":"permission.asked","properties":{"id":"per_1","sessionID":"ses_1","permission":"bash","patterns":["ls"],"always":["ls *"],"metadata":{}}}"#,
    )
    .unwrap();
    assert!(matches!(&e, Event::PermissionAsked(p) if p.id == "per_1" && p.permission == "bash"));
    let e = Event::parse(
        r#"{"type":"permission.replied","properties":{"sessionID":"ses_1","requestID":"per_1","reply":"always"}}"#,
    )
    .unwrap();
    assert!(matches!(
        e,
        Event::PermissionReplied {
            reply: PermissionReply::Always,
            ..
        }
    ));
    let e = Event::parse(r#"{"type":"server.instance.disposed","properties":{"directory":"/d"}}"#)
        .unwrap();
    assert_eq!(
        e,
        Event::ServerInstanceDisposed {
            directory: Some("/d".into())
        }
    );
    let e =
        Event::parse(r#"{"type":"todo.updated","properties":{"sessionID":"ses_1","todos":[]}}"#)
            .unwrap();
    assert_eq!(e.session_id(), Some("ses_1"));
    let e = Event::parse(r#"{"type":"file.edited","properties":{"file":"a.rs"}}"#).unwrap();
    assert_eq!(
        e,
        Event::FileEdited {
            file: "a.rs".into()
        }
    );
    let e = Event::parse(r#"{"type":"session.error","properties":{"error":{"name":"UnknownError","data":{"message":"boom"}}}}"#).unwrap();
    assert!(
        matches!(&e, Event::SessionError { session_id: None, error: Some(v) } if v["data"]["message"] == "boom")
    );
    for bad in ["", "[]", "1", "\"x\"", "{", "null"] {
        assert!(
            matches!(Event::parse(bad), Err(ErrorKind::Json { .. })),
            "{bad:?}"
        );
        assert!(GlobalEvent::parse(bad).is_err(), "{bad:?}");
    }
    assert!(GlobalEvent::parse(r#"{"directory":"/d"}"#).is_err());
}

quickcheck::quickcheck! {
    fn opencode_event_parse_never_panics(data: String) -> bool {
        let _ = Event::parse(&data);
        let _ = GlobalEvent::parse(&data);
        true
    }

    fn opencode_ids_never_escape_their_path_segment(id: String) -> bool {
        match api().session_get(&id) {
            Ok(call) => {
                let path = call.request.url().path().to_string();
                path.matches('/').count() == 2 && path.starts_with("/session/")
            }
            Err(_) => id.is_empty() || id == "." || id == "..",
        }
    }
}
