//! HTTPS on every runtime against an in-process rustls server with certificates made by the test: a GET,
//! keep-alive reuse, session resumption (pool refill and event-stream reconnect), a body cut without
//! `close_notify`, and the hostile cases (self-signed, expired, wrong name, pins, stalled handshake, a plaintext
//! answer to the hello, a reset mid-body), each a typed error.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http::core::error::{Phase, TlsReason};
use plue_http::core::sse::StreamEvent;
use plue_http::driver::{Client, Runtime};
use plue_http::{ErrorKind, Options};
use plue_http_tests::tls_server::{self_signed, Mode, TestCa, TlsServer, Validity};
use rustls::HandshakeKind;

/// Options trusting only `ca` (curl's `--cacert`).
fn options(ca: &TestCa) -> Options {
    Options {
        root_certificates: vec![ca.pem.clone()],
        tls_built_in_roots: false,
        max_retries: 0,
        retry_delay: Duration::from_millis(5),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Some(Duration::from_secs(5)),
        ..Options::default()
    }
}

fn tls_reason(kind: &ErrorKind) -> Option<&TlsReason> {
    match kind {
        ErrorKind::Tls { reason, .. } => Some(reason),
        _ => None,
    }
}

async fn get_reuse_and_resume<R: Runtime + Default>() {
    let ca = TestCa::new("plue test CA");
    let leaf = ca.leaf(&["127.0.0.1", "localhost"], Validity::Current);
    // Keep-alive: two requests, one handshake.
    let server = TlsServer::start(&leaf, Mode::Echo, None);
    let client = Client::<R>::new(options(&ca)).unwrap();
    for path in ["/one", "/two"] {
        let resp = client
            .get(&format!("{}{path}", server.base_url()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(&resp.body()[..], path.as_bytes());
    }
    assert_eq!(server.handshakes(), vec![HandshakeKind::Full]);
    // SNI and name checks by DNS name work too.
    let resp = client
        .get(&format!("{}/dns", server.localhost_url()))
        .await
        .unwrap();
    assert_eq!(&resp.body()[..], b"/dns");

    // Each response closes the connection (with close_notify): the pool refills, and the second handshake
    // resumes the first one's session. A body delimited by a clean close is complete.
    let server = TlsServer::start(&leaf, Mode::CloseDelimited { close_notify: true }, None);
    let client = Client::<R>::new(options(&ca)).unwrap();
    for _ in 0..2 {
        let resp = client
            .get(&format!("{}/c", server.base_url()))
            .await
            .unwrap();
        assert_eq!(&resp.body()[..], b"partial body");
    }
    assert_eq!(
        server.handshakes(),
        vec![HandshakeKind::Full, HandshakeKind::Resumed]
    );

    // Without close_notify the same body is a truncation, never a short body taken as whole.
    let server = TlsServer::start(
        &leaf,
        Mode::CloseDelimited {
            close_notify: false,
        },
        None,
    );
    let err = client
        .get(&format!("{}/t", server.base_url()))
        .await
        .unwrap_err();
    assert_eq!(tls_reason(err.kind()), Some(&TlsReason::Truncated), "{err}");

    // An event stream over TLS; its reconnect resumes the session.
    let server = TlsServer::start(&leaf, Mode::EventStream, None);
    let mut events = client.events(&format!("{}/event", server.base_url()));
    let mut data = Vec::new();
    while data.len() < 2 {
        match events.next().await {
            Some(Ok(StreamEvent::Event(e))) => data.push(e.data),
            Some(Ok(_)) => {}
            other => panic!("event stream ended: {other:?}"),
        }
    }
    drop(events);
    assert_eq!(data, vec!["hello".to_string(), "hello".to_string()]);
    let kinds = server.handshakes();
    assert_eq!(kinds[0], HandshakeKind::Full);
    assert_eq!(kinds[1], HandshakeKind::Resumed);
}

async fn hostile<R: Runtime + Default>() {
    let ca = TestCa::new("plue test CA");
    let good = ca.leaf(&["127.0.0.1"], Validity::Current);

    // Self-signed: nobody vouches for it.
    let server = TlsServer::start(&self_signed(&["127.0.0.1"]), Mode::Echo, None);
    let client = Client::<R>::new(options(&ca)).unwrap();
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Tls {
            host: "127.0.0.1".into(),
            reason: TlsReason::UnknownIssuer
        }
    );
    assert_eq!(
        err.kind().to_string(),
        "TLS: the certificate of 127.0.0.1 is not trusted (unknown issuer)"
    );

    // Expired.
    let server = TlsServer::start(
        &ca.leaf(&["127.0.0.1"], Validity::Expired),
        Mode::Echo,
        None,
    );
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert_eq!(tls_reason(err.kind()), Some(&TlsReason::Expired), "{err}");

    // Valid, but for another name.
    let server = TlsServer::start(
        &ca.leaf(&["example.com"], Validity::Current),
        Mode::Echo,
        None,
    );
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert_eq!(
        tls_reason(err.kind()),
        Some(&TlsReason::NameMismatch),
        "{err}"
    );

    // Pins: a wrong one fails naming the presented key; the right one (among alternatives) works.
    let server = TlsServer::start(&good, Mode::Echo, None);
    let wrong = format!("sha256//{}=", "A".repeat(43));
    let mut opts = options(&ca);
    opts.pinned_public_keys = BTreeMap::from([("127.0.0.1".to_string(), vec![wrong.clone()])]);
    let pinned = Client::<R>::new(opts).unwrap();
    let err = pinned.get(&server.base_url()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Tls {
            host: "127.0.0.1".into(),
            reason: TlsReason::PinMismatch {
                presented: good.pin()
            }
        }
    );
    assert_eq!(
        err.kind().to_string(),
        format!(
            "TLS: pin mismatch for 127.0.0.1: the server's key is {}",
            good.pin()
        )
    );
    let mut opts = options(&ca);
    opts.pinned_public_keys = BTreeMap::from([("127.0.0.1".to_string(), vec![wrong, good.pin()])]);
    let pinned = Client::<R>::new(opts).unwrap();
    assert_eq!(pinned.get(&server.base_url()).await.unwrap().status(), 200);

    // A server that never finishes the handshake: the connect timeout covers it.
    let server = TlsServer::start(&good, Mode::StallHandshake, None);
    let mut opts = options(&ca);
    opts.connect_timeout = Duration::from_millis(300);
    let impatient = Client::<R>::new(opts).unwrap();
    let err = impatient.get(&server.base_url()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Timeout {
            phase: Phase::Connect
        }
    );

    // A plaintext HTTP answer to the hello.
    let server = TlsServer::start(&good, Mode::PlaintextAnswer, None);
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert!(
        matches!(
            tls_reason(err.kind()),
            Some(TlsReason::InvalidMessage { .. })
        ),
        "{err}"
    );

    // A reset in the middle of a Content-Length body.
    let server = TlsServer::start(&good, Mode::ResetMidBody, None);
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BodyInterrupted { .. } | ErrorKind::ConnectionFailed { .. }
        ),
        "{err}"
    );

    // A server that speaks only TLS 1.2 still works (1.2 and 1.3 are both offered).
    let server = TlsServer::start_with(&good, Mode::Echo, None, Some(&[&rustls::version::TLS12]));
    assert_eq!(client.get(&server.base_url()).await.unwrap().status(), 200);
}

async fn mutual_tls<R: Runtime + Default>() {
    let ca = TestCa::new("plue test CA");
    let client_ca = TestCa::new("plue client CA");
    let leaf = ca.leaf(&["127.0.0.1"], Validity::Current);
    let server = TlsServer::start(&leaf, Mode::Echo, Some(&client_ca));
    // Without a client certificate the server refuses.
    let client = Client::<R>::new(options(&ca)).unwrap();
    let err = client.get(&server.base_url()).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Tls { .. } | ErrorKind::ConnectionFailed { .. }
        ),
        "{err}"
    );
    // With one it works.
    let id = client_ca.leaf(&["plue-client"], Validity::Current);
    let mut opts = options(&ca);
    opts.client_identity = Some(plue_http::core::tls::ClientIdentity {
        cert_pem: id.cert_pem.clone(),
        key_pem: id.key_pem.clone(),
    });
    let client = Client::<R>::new(opts).unwrap();
    let resp = client
        .get(&format!("{}/m", server.base_url()))
        .await
        .unwrap();
    assert_eq!(&resp.body()[..], b"/m");
}

#[test]
fn tls_tokio_get_reuse_resume_truncation() {
    plue_http_tests::tokio_rt().block_on(get_reuse_and_resume::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn tls_tokio_hostile() {
    plue_http_tests::tokio_rt().block_on(hostile::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn tls_tokio_mutual_tls() {
    plue_http_tests::tokio_rt().block_on(mutual_tls::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn tls_smol_get_reuse_resume_truncation() {
    smol::block_on(get_reuse_and_resume::<plue_http::smol::SmolRuntime>());
}

#[test]
fn tls_smol_hostile() {
    smol::block_on(hostile::<plue_http::smol::SmolRuntime>());
}

#[test]
fn tls_mio_get_pins_and_truncation() {
    let ca = TestCa::new("plue test CA");
    let leaf = ca.leaf(&["127.0.0.1"], Validity::Current);
    let server = TlsServer::start(&leaf, Mode::Echo, None);
    let client = plue_http::mio::Client::new(options(&ca)).unwrap();
    let resp = client.get(&format!("{}/mio", server.base_url())).unwrap();
    assert_eq!(&resp.body()[..], b"/mio");
    let resp = client.get(&format!("{}/again", server.base_url())).unwrap();
    assert_eq!(&resp.body()[..], b"/again");
    assert_eq!(server.handshakes(), vec![HandshakeKind::Full]);

    let server = TlsServer::start(&self_signed(&["127.0.0.1"]), Mode::Echo, None);
    let err = client.get(&server.base_url()).unwrap_err();
    assert_eq!(tls_reason(err.kind()), Some(&TlsReason::UnknownIssuer));

    let server = TlsServer::start(
        &leaf,
        Mode::CloseDelimited {
            close_notify: false,
        },
        None,
    );
    let err = client.get(&server.base_url()).unwrap_err();
    assert_eq!(tls_reason(err.kind()), Some(&TlsReason::Truncated));

    let server = TlsServer::start(&leaf, Mode::Echo, None);
    let mut opts = options(&ca);
    opts.pinned_public_keys = BTreeMap::from([(
        "127.0.0.1".to_string(),
        vec![format!("sha256//{}=", "B".repeat(43))],
    )]);
    let pinned = plue_http::mio::Client::new(opts).unwrap();
    let err = pinned.get(&server.base_url()).unwrap_err();
    assert_eq!(
        tls_reason(err.kind()),
        Some(&TlsReason::PinMismatch {
            presented: leaf.pin()
        })
    );
}
