//! Behaviour the unit tests left unmeasured (found by `scripts/coverage.sh`): what users read in error messages,
//! the request builder's less used paths, the response helpers, and the abort handles' debug output.

use std::collections::BTreeMap;
use std::time::Duration;

use plue_http_core::abort::AbortController;
use plue_http_core::error::{Context, JsonOp, Limit, NetError, Phase, Violation};
use plue_http_core::request::{base64_encode, validate_header};
use plue_http_core::response::ResponseHead;
use plue_http_core::{ApiError, Body, Error, ErrorKind, Method, RequestBuilder, Response};

fn every_violation() -> Vec<Violation> {
    use Violation::*;
    vec![
        MalformedHead,
        InvalidStatus,
        InvalidHeader,
        InvalidContentLength,
        ContentLengthWithTransferEncoding,
        UnsupportedTransferEncoding,
        InvalidChunkSize,
        MissingChunkCrlf,
        InvalidTrailer,
        UnexpectedSwitchingProtocols,
        UnsolicitedResponse,
        IncompleteBody,
        IncompleteHead,
        InvalidVersion,
    ]
}

#[test]
fn error_messages_are_distinct_and_say_what_broke() {
    // Every framing violation reads differently: a user can tell them apart from the message alone.
    let texts: Vec<String> = every_violation()
        .into_iter()
        .map(|v| ErrorKind::InvalidResponse { violation: v }.to_string())
        .collect();
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "{texts:#?}");
    assert!(texts.iter().all(|t| t.starts_with("invalid response: ")));
    assert!(ErrorKind::InvalidResponse {
        violation: Violation::ContentLengthWithTransferEncoding
    }
    .to_string()
    .contains("Transfer-Encoding and Content-Length"));

    // Limits name the limit and its value.
    let limits = [
        (Limit::HeadSize, "response head size"),
        (Limit::HeaderCount, "response header count"),
        (Limit::ChunkLine, "chunk size line"),
        (Limit::TrailerSize, "trailer size"),
        (Limit::BodySize, "body"),
        (Limit::EventSize, "event"),
        (Limit::QueueLength, "queue"),
        (Limit::RequestBodySize, "request body size"),
    ];
    for (limit, words) in limits {
        let t = ErrorKind::TooLarge { limit, max: 4096 }.to_string();
        assert!(t.contains(words) && t.contains("4096"), "{t}");
    }

    // Timeouts name the phase and the option that governs it.
    for (phase, option) in [
        (Phase::Connect, "connect_timeout"),
        (Phase::ResponseHead, "read_timeout"),
        (Phase::BodyIdle, "read_timeout"),
        (Phase::Request, "(timeout)"),
        (Phase::EventIdle, "event_idle_timeout"),
    ] {
        let t = ErrorKind::Timeout { phase }.to_string();
        assert!(t.starts_with("timed out") && t.contains(option), "{t}");
    }

    // Network causes read as what happened.
    let causes = [
        (NetError::Refused, "refused"),
        (NetError::Reset, "reset"),
        (NetError::Closed, "closed"),
        (NetError::Unreachable, "unreachable"),
        (NetError::Resolve, "resolve"),
        (NetError::Other, "network"),
    ];
    for (cause, word) in causes {
        assert!(ErrorKind::ConnectionFailed { cause }
            .to_string()
            .contains(word));
        let maybe = ErrorKind::MaybeProcessed { cause }.to_string();
        assert!(
            maybe.contains(word) && maybe.contains("may or may not have processed"),
            "{maybe}"
        );
    }
}

#[test]
fn error_messages_for_caller_mistakes_name_the_field() {
    let t = ErrorKind::InvalidHeader {
        name: "X-Bad".into(),
        reason: "value contains CR or LF",
    }
    .to_string();
    assert_eq!(t, "invalid header \"X-Bad\": value contains CR or LF");
    let t = ErrorKind::InvalidRequest {
        field: "method",
        reason: "not a valid method token",
    }
    .to_string();
    assert_eq!(t, "invalid request method: not a valid method token");
    let t = ErrorKind::UnsupportedScheme {
        scheme: "https".into(),
    }
    .to_string();
    assert!(t.contains("\"https\"") && t.contains("only http"), "{t}");
    let t = ErrorKind::Json {
        op: JsonOp::Encode,
        message: "key must be a string".into(),
        excerpt: String::new(),
    }
    .to_string();
    assert_eq!(t, "could not encode the JSON body: key must be a string");
    let t = ErrorKind::Json {
        op: JsonOp::Decode,
        message: "EOF".into(),
        excerpt: "{\"a\"".into(),
    }
    .to_string();
    assert!(t.contains("decode") && t.contains("{\\\"a\\\""), "{t}");
    assert_eq!(
        ErrorKind::TooManyRedirects { max: 5 }.to_string(),
        "more than 5 redirects"
    );
    assert!(ErrorKind::RedirectBodyNotReplayable
        .to_string()
        .contains("307/308"));
    assert_eq!(ErrorKind::Aborted.to_string(), "aborted");
    assert_eq!(ErrorKind::Shutdown.to_string(), "the client shut down");
    let t = ErrorKind::NotAnEventStream {
        content_type: "text/html".into(),
    }
    .to_string();
    assert!(
        t.contains("text/event-stream") && t.contains("text/html"),
        "{t}"
    );
}

#[test]
fn error_with_context_reads_as_one_sentence_without_credentials() {
    let url = plue_http_core::Url::parse("http://user:hunter22@127.0.0.1:4096/session").unwrap();
    let e = Error::new(ErrorKind::Timeout {
        phase: Phase::ResponseHead,
    })
    .with_context(Context {
        method: Method::POST,
        url: url.redacted(),
        attempt: 3,
        last_success: Some("GET /health 200 in 2 ms, 1 s ago".into()),
    });
    let t = e.to_string();
    assert!(
        t.starts_with("POST http://127.0.0.1:4096/session failed on attempt 3"),
        "{t}"
    );
    assert!(
        t.contains("read_timeout") && t.contains("GET /health"),
        "{t}"
    );
    assert!(!t.contains("hunter22") && !t.contains("user"), "{t}");
    assert!(e.is_timeout() && !e.is_aborted());
    assert_eq!(
        e,
        ErrorKind::Timeout {
            phase: Phase::ResponseHead
        }
    );
    assert_eq!(e.context().map(|c| c.attempt), Some(3));
    assert_eq!(
        e.clone().into_kind(),
        ErrorKind::Timeout {
            phase: Phase::ResponseHead
        }
    );
    let aborted: Error = ErrorKind::Aborted.into();
    assert!(aborted.is_aborted() && !aborted.is_timeout() && aborted.api_error().is_none());
    let status = Error::new(ErrorKind::Status(ApiError::from_body(
        404,
        br#"{"name":"NotFound","data":{"message":"no such session"}}"#,
    )));
    let api = status.api_error().expect("status error carries the body");
    assert_eq!(
        (api.name.as_deref(), api.message.as_deref()),
        (Some("NotFound"), Some("no such session"))
    );
    let t = status.to_string();
    assert!(t.contains("404") && t.contains("no such session"), "{t}");
}

#[test]
fn request_builder_paths() {
    // A later `url` replaces the first; a valid method string replaces the method.
    let r = RequestBuilder::new(Method::GET, "http://h/a")
        .url("http://h/b")
        .method_str("PROPFIND")
        .build()
        .unwrap();
    assert_eq!((r.method().as_str(), r.url().path()), ("PROPFIND", "/b"));
    assert!(!r.is_idempotent_method() && !r.is_replay_safe());

    // Per-request options are recorded.
    let r = RequestBuilder::new(Method::POST, "http://h/")
        .timeout(Some(Duration::from_secs(9)))
        .read_timeout(None)
        .connect_timeout(Duration::from_secs(2))
        .max_retries(7)
        .retry_non_idempotent(true)
        .max_redirects(0)
        .build()
        .unwrap();
    let o = r.options();
    assert_eq!(o.timeout, Some(Some(Duration::from_secs(9))));
    assert_eq!(o.read_timeout, Some(None));
    assert_eq!(o.connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(
        (o.max_retries, o.retry_non_idempotent, o.max_redirects),
        (Some(7), true, Some(0))
    );
    assert!(
        r.is_replay_safe(),
        "the caller opted in to replaying a POST"
    );

    // Two bodies conflict, and the error names the body.
    let e = RequestBuilder::new(Method::POST, "http://h/")
        .body("a")
        .json(&1)
        .build()
        .unwrap_err();
    assert!(
        matches!(e, ErrorKind::InvalidRequest { field: "body", .. }),
        "{e:?}"
    );

    // Form bodies: scalars percent-encoded, nulls skipped, nested values refused by name.
    let mut form = BTreeMap::new();
    form.insert("a b", serde_json::json!("x&y"));
    form.insert("n", serde_json::json!(3));
    form.insert("t", serde_json::json!(true));
    form.insert("z", serde_json::Value::Null);
    let r = RequestBuilder::new(Method::POST, "http://h/")
        .form(&form)
        .build()
        .unwrap();
    assert_eq!(r.body().as_bytes(), b"a%20b=x%26y&n=3&t=true");
    assert_eq!(
        r.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    let mut nested = BTreeMap::new();
    nested.insert("obj", serde_json::json!({"k": 1}));
    let e = RequestBuilder::new(Method::POST, "http://h/")
        .form(&nested)
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, ErrorKind::Json { op: JsonOp::Encode, message, .. } if message.contains("\"obj\"")),
        "{e:?}"
    );
    let e = RequestBuilder::new(Method::POST, "http://h/")
        .form(&[1, 2])
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, ErrorKind::Json { message, .. } if message.contains("struct or a map")),
        "{e:?}"
    );

    // A caller's Content-Type wins over the JSON default.
    let r = RequestBuilder::new(Method::POST, "http://h/")
        .header("content-type", "application/vnd.x+json")
        .json(&serde_json::json!({"a": 1}))
        .build()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/vnd.x+json");
    assert_eq!(
        r.body(),
        &Body::Full(bytes::Bytes::from_static(b"{\"a\":1}"))
    );

    // Credentials become Basic auth, marked sensitive, and leave the URL; a caller's Authorization wins.
    let r = RequestBuilder::new(Method::GET, "http://al:pw@h/")
        .build()
        .unwrap();
    assert_eq!(r.headers()["authorization"], "Basic YWw6cHc=");
    assert!(r.headers()["authorization"].is_sensitive());
    assert_eq!(r.url().credentials(), None);
    let r = RequestBuilder::new(Method::GET, "http://al:pw@h/")
        .header("Authorization", "Bearer t")
        .build()
        .unwrap();
    assert_eq!(r.headers()["authorization"], "Bearer t");
}

#[test]
fn request_header_validation_reasons() {
    let reason = |n: &[u8], v: &[u8]| match validate_header(n, v) {
        Err(ErrorKind::InvalidHeader { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(reason(b"a\rb", b"v"), "name contains CR or LF");
    assert_eq!(reason(b"a\0", b"v"), "name contains NUL");
    assert_eq!(reason(b"a b", b"v"), "name is not a valid token");
    assert_eq!(reason(b"", b"v"), "name is not a valid token");
    assert_eq!(reason(b"a", b"x\ny"), "value contains CR or LF");
    assert_eq!(reason(b"a", b"x\0"), "value contains NUL");
    assert_eq!(reason(b"a", b"x\x01"), "value contains a control character");
    assert_eq!(reason(b"a", b"x\x7f"), "value contains a control character");
    for secret in ["authorization", "Proxy-Authorization", "cookie"] {
        let (_, v) = validate_header(secret.as_bytes(), b"s3cret").unwrap();
        assert!(v.is_sensitive(), "{secret}");
    }
    let (_, v) = validate_header(b"x-trace", b"1").unwrap();
    assert!(!v.is_sensitive());
}

#[test]
fn request_basic_auth_base64_vectors() {
    // RFC 4648 §10 test vectors.
    for (plain, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_encode(plain.as_bytes()), enc);
    }
}

fn response(status: u16, body: &'static [u8]) -> Response {
    let head = ResponseHead {
        status: http::StatusCode::from_u16(status).unwrap(),
        version: http::Version::HTTP_11,
        headers: http::HeaderMap::new(),
    };
    Response::new(head, bytes::Bytes::from_static(body))
}

#[test]
fn response_helpers() {
    let ok = response(200, br#"{"id":"s1"}"#);
    assert_eq!(ok.version(), http::Version::HTTP_11);
    assert!(ok.headers().is_empty());
    assert_eq!(ok.text(), r#"{"id":"s1"}"#);
    let v: serde_json::Value = ok.success_json().unwrap();
    assert_eq!(v["id"], "s1");
    assert_eq!(ok.error_for_status(), Ok(()));
    let (head, body) = ok.clone().into_parts();
    assert_eq!(
        (head.status.as_u16(), &body[..]),
        (200, &br#"{"id":"s1"}"#[..])
    );

    let missing = response(
        404,
        br#"{"name":"NotFoundError","data":{"message":"Session not found"}}"#,
    );
    let e = missing.success_json::<serde_json::Value>().unwrap_err();
    match &e {
        ErrorKind::Status(api) => {
            assert_eq!(api.status, 404);
            assert_eq!(api.message.as_deref(), Some("Session not found"));
        }
        other => panic!("{other:?}"),
    }
    let bad = response(200, b"<html>");
    let e = bad.json::<serde_json::Value>().unwrap_err();
    assert!(
        matches!(&e, ErrorKind::Json { op: JsonOp::Decode, excerpt, .. } if excerpt == "<html>"),
        "{e:?}"
    );
}

#[test]
fn abort_handles_debug_shows_state() {
    let c = AbortController::new();
    let s = c.signal();
    assert_eq!(format!("{c:?}"), "AbortController { aborted: false }");
    c.abort();
    assert_eq!(format!("{s:?}"), "AbortSignal { aborted: true }");
}
