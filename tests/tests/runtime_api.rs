//! The public API on every runtime against the scripted server on loopback: JSON helpers and typed status
//! errors, the streaming body reader, and the callback form of event streams.

use std::ops::ControlFlow;
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http::driver::{Client, Runtime};
use plue_http::{ErrorKind, Method, Options, StreamEvent};
use plue_http_sim::server::{Reply, Route, Script, ScriptedServer, SseEnd, SseItem, SseScript};
use plue_http_tests::loopback::Loopback;
use serde_json::{json, Value};

fn server() -> Loopback {
    let items = ["one", "two", "three"]
        .into_iter()
        .map(|d| (Duration::ZERO, SseItem::event("note", d)))
        .collect();
    let script = Script::new()
        .route(Route::new(
            "/json",
            vec![Reply::json(200, &json!({"ok": true}))],
        ))
        .route(Route::new(
            "/missing",
            vec![Reply::json(
                404,
                &json!({"name": "NotFoundError", "data": {"message": "gone"}}),
            )],
        ))
        .route(Route::new(
            "/drip",
            vec![Reply::ok("abcdefghij").drip(2, Duration::from_millis(30))],
        ))
        .route(Route::new(
            "/events",
            vec![Reply::sse(SseScript {
                items,
                heartbeat: None,
                end: SseEnd::Hang,
                channel: None,
            })],
        ));
    Loopback::start(ScriptedServer::new(script)).unwrap()
}

fn options(lb: &Loopback) -> Options {
    Options {
        base_url: Some(lb.base_url()),
        ..Options::default()
    }
}

fn check_json_request(lb: &Loopback) {
    let server = lb.server();
    let r = server
        .requests()
        .iter()
        .find(|r| r.path() == "/json")
        .unwrap();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap(),
        json!({"a": 1})
    );
}

fn check_status_error(err: plue_http::Error) {
    match err.kind() {
        ErrorKind::Status(api) => {
            assert_eq!(api.status, 404);
            assert_eq!(api.name.as_deref(), Some("NotFoundError"));
            assert_eq!(api.message.as_deref(), Some("gone"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

fn collect_data(events: &mut Vec<String>, ev: StreamEvent) -> ControlFlow<()> {
    if let StreamEvent::Event(e) = ev {
        events.push(e.data);
    }
    if events.len() == 2 {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

async fn api<R: Runtime + Default>() {
    let lb = server();
    let client = Client::<R>::new(options(&lb)).unwrap();

    let v: Value = client
        .json(Method::POST, "/json", &json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!(v, json!({"ok": true}));
    check_json_request(&lb);
    let err = client
        .request_json::<Value>(client.builder(Method::GET, "/missing"))
        .await
        .unwrap_err();
    check_status_error(err);

    let req = client.builder(Method::GET, "/drip").build().unwrap();
    let resp = client.request_streaming(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let (mut chunks, mut text) = (0, String::new());
    while let Some(chunk) = body.next().await {
        chunks += 1;
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert_eq!(text, "abcdefghij");
    assert!(
        chunks > 1,
        "the body arrived as it was sent, not all at once"
    );

    let got = client
        .stream_sse("/events", collect_data, Vec::new())
        .await
        .unwrap();
    assert_eq!(got, ["one", "two"]);
}

#[test]
fn api_tokio_json_streaming_body_and_sse_callback() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(api::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn api_smol_json_streaming_body_and_sse_callback() {
    smol::block_on(api::<plue_http::smol::SmolRuntime>());
}

#[test]
fn api_mio_json_streaming_body_and_sse_callback() {
    let lb = server();
    let client = plue_http::mio::Client::new(options(&lb)).unwrap();

    let v: Value = client
        .json(Method::POST, "/json", &json!({"a": 1}))
        .unwrap();
    assert_eq!(v, json!({"ok": true}));
    check_json_request(&lb);
    let err = client
        .request_json::<Value>(client.builder(Method::GET, "/missing"))
        .unwrap_err();
    check_status_error(err);

    let req = client.builder(Method::GET, "/drip").build().unwrap();
    let (head, body) = client.request_streaming(req).unwrap().into_parts();
    assert_eq!(head.status, 200);
    let chunks: Vec<_> = body.map(Result::unwrap).collect();
    assert!(
        chunks.len() > 1,
        "the body arrived as it was sent, not all at once"
    );
    assert_eq!(chunks.concat(), b"abcdefghij");

    let got = client
        .stream_sse("/events", collect_data, Vec::new())
        .unwrap();
    assert_eq!(got, ["one", "two"]);
}
