//! Driver plumbing on every runtime, against raw sockets: typed connect errors, a head timeout, abort
//! handles, and dropping a request or an event stream closes its connection.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http::core::error::{NetError, Phase};
use plue_http::driver::{Client, Runtime};
use plue_http::{ErrorKind, Options};

/// A server that accepts and reads but never answers; it reports when a connection is accepted and when the
/// client closes it.
struct Silent {
    base: String,
    events: Receiver<&'static str>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let tx = tx.clone();
                if tx.send("accepted").is_err() {
                    return;
                }
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    let _ = tx.send("closed");
                });
            }
        });
        Silent { base, events }
    }

    fn expect(&self, what: &str) {
        let got = self.events.recv_timeout(Duration::from_secs(10));
        assert_eq!(got.ok(), Some(what), "server side: expected {what}");
    }
}

fn refused_base() -> String {
    // Bind then drop: nothing listens on that port any more.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    assert!(TcpStream::connect(addr).is_err());
    format!("http://{addr}")
}

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        max_retries: 0,
        retry_delay: Duration::from_millis(5),
        read_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    }
}

async fn refused<R: Runtime + Default>() {
    let client = Client::<R>::new(options(&refused_base())).unwrap();
    let err = client.get("/x").await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ConnectionFailed {
            cause: NetError::Refused
        }
    );
    let err = client.get("ftp://127.0.0.1/").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnsupportedScheme { .. }),
        "{err}"
    );
}

async fn head_timeout<R: Runtime + Default>() {
    let server = Silent::start();
    let client = Client::<R>::new(options(&server.base)).unwrap();
    let err = client.get("/slow").await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Timeout {
            phase: Phase::ResponseHead
        }
    );
    server.expect("accepted");
    server.expect("closed");
}

async fn abort_and_drop<R: Runtime + Default>() {
    let server = Silent::start();
    let mut opts = options(&server.base);
    opts.read_timeout = None;
    let client = Client::<R>::new(opts).unwrap();
    // An abort handle ends the request with `Aborted` and closes its connection.
    let fut = client.get("/a");
    server.expect("accepted");
    fut.abort_handle().abort();
    assert_eq!(fut.await.unwrap_err().kind(), &ErrorKind::Aborted);
    server.expect("closed");
    // One controller cancels several requests.
    let controller = plue_http::core::abort::AbortController::new();
    let (a, b) = (client.get("/c"), client.get("/d"));
    a.abort_handle().abort_on(&controller.signal());
    b.abort_handle().abort_on(&controller.signal());
    server.expect("accepted");
    server.expect("accepted");
    controller.abort();
    assert!(a.await.unwrap_err().is_aborted());
    assert!(b.await.unwrap_err().is_aborted());
    server.expect("closed");
    server.expect("closed");
    // Dropping the future aborts too.
    let fut = client.get("/b");
    server.expect("accepted");
    drop(fut);
    server.expect("closed");
    // Dropping an event stream aborts it.
    let mut events = client.events("/events");
    server.expect("accepted");
    events.abort();
    let end = events.next().await;
    assert!(matches!(end, Some(Err(e)) if e.is_aborted()));
    assert!(events.next().await.is_none());
    server.expect("closed");
    let events = client.events("/events");
    server.expect("accepted");
    drop(events);
    server.expect("closed");
}

#[test]
fn runtime_tokio_refused_connect_is_typed() {
    plue_http_tests::tokio_rt().block_on(refused::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn runtime_tokio_head_timeout() {
    plue_http_tests::tokio_rt().block_on(head_timeout::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn runtime_tokio_abort_and_drop_close_the_connection() {
    plue_http_tests::tokio_rt().block_on(abort_and_drop::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn runtime_tokio_client_outside_a_runtime() {
    // No tokio context here: the client starts its shared runtime; any executor can await it.
    smol::block_on(refused::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn runtime_smol_refused_connect_is_typed() {
    smol::block_on(refused::<plue_http::smol::SmolRuntime>());
}

#[test]
fn runtime_smol_head_timeout() {
    smol::block_on(head_timeout::<plue_http::smol::SmolRuntime>());
}

#[test]
fn runtime_smol_abort_and_drop_close_the_connection() {
    smol::block_on(abort_and_drop::<plue_http::smol::SmolRuntime>());
}

#[test]
fn runtime_mio_refused_head_timeout_abort_and_drop() {
    let client = plue_http::mio::Client::new(options(&refused_base())).unwrap();
    let err = client.get("/x").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ConnectionFailed {
            cause: NetError::Refused
        }
    );

    let server = Silent::start();
    let client = plue_http::mio::Client::new(options(&server.base)).unwrap();
    let err = client.get("/slow").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Timeout {
            phase: Phase::ResponseHead
        }
    );
    server.expect("accepted");
    server.expect("closed");

    let mut opts = options(&server.base);
    opts.read_timeout = None;
    let client = plue_http::mio::Client::new(opts).unwrap();
    let handle = client.start(
        client
            .builder(plue_http::Method::GET, "/a")
            .build()
            .unwrap(),
    );
    server.expect("accepted");
    handle.abort_handle().abort();
    assert_eq!(handle.wait().unwrap_err().kind(), &ErrorKind::Aborted);
    server.expect("closed");
    let controller = plue_http::mio::AbortController::new();
    let handle = client.start(
        client
            .builder(plue_http::Method::GET, "/c")
            .build()
            .unwrap(),
    );
    handle.abort_handle().abort_on(&controller.signal());
    server.expect("accepted");
    controller.abort();
    assert!(handle.wait().unwrap_err().is_aborted());
    server.expect("closed");
    let handle = client.start(
        client
            .builder(plue_http::Method::GET, "/b")
            .build()
            .unwrap(),
    );
    server.expect("accepted");
    drop(handle);
    server.expect("closed");
    let mut events = client.events("/events");
    server.expect("accepted");
    assert_eq!(
        events.next_timeout(Duration::from_millis(50)).ok(),
        Some(None)
    );
    events.abort();
    assert!(matches!(events.next(), Some(Err(e)) if e.is_aborted()));
    assert!(events.next().is_none());
    server.expect("closed");
}

/// Clients are cheap to clone and shared across tasks and threads; handles move between threads.
#[test]
fn runtime_types_are_send_sync_and_clone() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    fn sendable<T: Send + 'static>() {}
    shared::<plue_http::tokio::Client>();
    shared::<plue_http::smol::Client>();
    shared::<plue_http::mio::Client>();
    shared::<plue_http::tokio::AbortHandle>();
    sendable::<plue_http::tokio::ResponseFuture>();
    sendable::<plue_http::tokio::StreamingFuture>();
    sendable::<plue_http::tokio::BodyReader>();
    sendable::<plue_http::tokio::EventStream>();
    sendable::<plue_http::mio::RequestHandle>();
    sendable::<plue_http::mio::BodyReader>();
    sendable::<plue_http::mio::EventStream>();
    shared::<plue_http::mio::AbortHandle>();
}
