//! Requests built for generated operations: routing, parameters, bodies, and the typed refusals.

use plue_http_core::error::ErrorKind;
use plue_http_core::response::{Response, ResponseHead};

use super::call::CallOptions;
use super::operation::{find, Operation, ResponseKind};
use crate::generated::{ops, types, OPERATIONS};
use crate::{Api, OpenCodeOptions};

fn api() -> Api {
    Api::new(&OpenCodeOptions::new("http://127.0.0.1:4096")).unwrap()
}

fn response(status: u16, content_type: &str, body: &'static str) -> Response {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    let head = ResponseHead {
        status: http::StatusCode::from_u16(status).unwrap(),
        version: http::Version::HTTP_11,
        headers,
    };
    Response::new(head, plue_http_core::Bytes::from_static(body.as_bytes()))
}

#[test]
fn opencode_api_table_lists_every_operation_once() {
    assert_eq!(OPERATIONS.len(), 188);
    let mut ids: Vec<&str> = OPERATIONS.iter().map(|o| o.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 188);
    assert_eq!(find("session.list").unwrap().path, "/session");
    assert!(find("session.nope").is_none());
}

#[test]
fn opencode_api_sends_no_directory_or_workspace_unless_asked() {
    let call = api()
        .op(&ops::SessionList::default(), &CallOptions::default())
        .unwrap();
    assert_eq!(call.request.url().path_and_query(), "/session");
    assert!(call.request.headers().get("x-opencode-directory").is_none());
    let body = ops::SessionCreate::default();
    let call = api().op(&body, &CallOptions::default()).unwrap();
    assert!(call.request.headers().get("x-opencode-directory").is_none());
    assert!(call.request.headers().get("x-opencode-workspace").is_none());
}

#[test]
fn opencode_api_routes_by_query_on_get_and_by_header_otherwise() {
    let opts = CallOptions::default()
        .directory("/tmp/a b")
        .workspace("wrk_1");
    let call = api().op(&ops::SessionList::default(), &opts).unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/session?directory=%2Ftmp%2Fa%20b&workspace=wrk_1"
    );
    let call = api()
        .op(
            &ops::SessionCreate {
                body: Some(types::SessionCreateBody {
                    title: Some("t".into()),
                    ..Default::default()
                }),
            },
            &opts,
        )
        .unwrap();
    assert_eq!(call.request.url().path_and_query(), "/session");
    assert_eq!(call.request.headers()["x-opencode-directory"], "/tmp/a%20b");
    assert_eq!(call.request.headers()["x-opencode-workspace"], "wrk_1");
    assert_eq!(call.request.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(call.request.body().as_bytes()).unwrap();
    assert_eq!(body, serde_json::json!({"title": "t"}));
    // The client's own directory applies when the call sets none; the call's wins.
    let client =
        Api::new(&OpenCodeOptions::new("http://127.0.0.1:4096").directory("/srv")).unwrap();
    let call = client
        .op(&ops::SessionList::default(), &CallOptions::default())
        .unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/session?directory=%2Fsrv"
    );
    let call = client
        .op(
            &ops::SessionList::default(),
            &CallOptions::default().directory("/x"),
        )
        .unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/session?directory=%2Fx"
    );
}

#[test]
fn opencode_api_v2_routes_through_location_and_encodes_path_params() {
    let call = api()
        .op(
            &ops::V2AgentList::default(),
            &CallOptions::default().directory("/p"),
        )
        .unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/api/agent?location%5Bdirectory%5D=%2Fp"
    );
    let call = api()
        .op(
            &ops::SessionMessages {
                session_id: "ses_a/b".into(),
                limit: Some(5),
                before: None,
            },
            &CallOptions::default(),
        )
        .unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/session/ses_a%2Fb/message?limit=5"
    );
    let err = api()
        .op(
            &ops::SessionGet {
                session_id: "..".into(),
            },
            &CallOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        ErrorKind::InvalidRequest { field: "path", .. }
    ));
}

#[test]
fn opencode_api_websocket_and_stream_operations_are_typed_unsupported() {
    let err = api()
        .op(
            &ops::PtyConnect {
                pty_id: "pty_1".into(),
                cursor: None,
                ticket: None,
            },
            &CallOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            ErrorKind::Unsupported {
                operation: "pty.connect",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        find("v2.pty.connect").unwrap().response,
        ResponseKind::WebSocket
    );
    let err = api()
        .op(&ops::EventSubscribe::default(), &CallOptions::default())
        .unwrap_err();
    assert!(matches!(
        err,
        ErrorKind::Unsupported {
            operation: "event.subscribe",
            ..
        }
    ));
    let r = api()
        .op_stream(&ops::EventSubscribe::default(), &CallOptions::default())
        .unwrap();
    assert_eq!(r.headers()["accept"], "text/event-stream");
}

#[test]
fn opencode_api_html_answer_is_unsupported_by_server() {
    let call = api()
        .op(&ops::SessionList::default(), &CallOptions::default())
        .unwrap();
    let err = call
        .parse(&response(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><html></html>",
        ))
        .unwrap_err();
    match err {
        ErrorKind::UnsupportedByServer {
            operation,
            client_version,
            ..
        } => {
            assert_eq!(operation, "session.list");
            assert_eq!(client_version, "1.18.34");
        }
        other => panic!("{other:?}"),
    }
    let sessions = call
        .parse(&response(200, "application/json", "[]"))
        .unwrap();
    assert!(sessions.is_empty());
    assert!(matches!(
        call.parse(&response(
            404,
            "application/json",
            r#"{"name":"NotFoundError"}"#
        )),
        Err(ErrorKind::Status(_))
    ));
}

#[test]
fn opencode_api_raw_call_fills_path_and_query_by_name() {
    let info = find("session.messages").unwrap();
    let args = vec![
        ("sessionID".to_string(), "ses_1".to_string()),
        ("limit".to_string(), "2".to_string()),
    ];
    let call = api()
        .op_raw(info, &args, None, &CallOptions::default())
        .unwrap();
    assert_eq!(
        call.request.url().path_and_query(),
        "/session/ses_1/message?limit=2"
    );
    let v = call
        .parse(&response(200, "application/json", "[1]"))
        .unwrap();
    assert_eq!(v, serde_json::json!([1]));
    let err = api()
        .op_raw(info, &[], None, &CallOptions::default())
        .unwrap_err();
    assert!(matches!(
        err,
        ErrorKind::InvalidRequest { field: "path", .. }
    ));
    assert_eq!(<ops::SessionList as Operation>::INFO.id, "session.list");
}
