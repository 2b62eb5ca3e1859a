//! The core's proxy handshakes against real proxies (tinyproxy, microsocks) and hostile ones, over real
//! loopback sockets, driven by a small blocking pump. The origin is the fake OpenCode server on loopback.
//!
//! These prove the sans-IO machines speak the real protocols; the client-level tests (every runtime, the real
//! OpenCode) run the same stages inside the connection stack.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use plue_http_core::h1::{encode_request_via, Via};
use plue_http_core::proxy::{
    ConnectStage, ProxyError, ProxyUrl, Socks5Stage, SocksReply, SocksTarget,
};
use plue_http_core::stage::{Stage, StageEvent};
use plue_http_core::time::Instant;
use plue_http_core::{ErrorKind, Request, RequestBuilder};
use plue_http_sim::fake_opencode::FakeOpenCode;
use plue_http_tests::bad_proxies::{BadProxy, Misbehaviour, GARBAGE};
use plue_http_tests::loopback::Loopback;
use plue_http_tests::real_proxies::{Microsocks, Tinyproxy};

/// The connect timeout the handshakes get in these tests.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A core `Instant` on a clock that starts when the pump does.
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.elapsed().as_nanos() as u64)
    }
}

fn flush(sock: &mut TcpStream, stage: &mut dyn Stage) {
    let mut out = BytesMut::new();
    if stage.poll_transmit(&mut out) > 0 {
        sock.write_all(&out).expect("write to the proxy");
    }
}

/// Run the handshake to `Established` or the stage's error; bytes passed up early are returned.
fn handshake(
    sock: &mut TcpStream,
    stage: &mut dyn Stage,
    clock: &Clock,
) -> Result<Vec<u8>, ErrorKind> {
    let mut buf = [0u8; 4096];
    loop {
        flush(sock, stage);
        if let Some(ev) = stage.poll_event() {
            assert_eq!(ev, StageEvent::Established { alpn: None });
            let mut up = BytesMut::new();
            stage.poll_read(&mut up);
            return Ok(up.to_vec());
        }
        let deadline = stage.poll_timeout().expect("a handshake has a deadline");
        let now = clock.now();
        if now >= deadline {
            stage.handle_timeout(now)?;
            continue;
        }
        let wait = Duration::from_nanos(deadline.as_nanos() - now.as_nanos());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        match sock.read(&mut buf) {
            Ok(0) => stage.handle_eof(clock.now())?,
            Ok(n) => stage.handle_input(clock.now(), &buf[..n])?,
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whether `buf` holds a whole response framed by `Content-Length`.
fn complete(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = resp.parse(buf) else {
        return false;
    };
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .expect("the origin frames its responses with Content-Length");
    buf.len() >= head + len
}

/// Send `req` through an established stage; read the whole response; return everything passed up.
fn exchange(
    sock: &mut TcpStream,
    stage: &mut dyn Stage,
    clock: &Clock,
    early: Vec<u8>,
    req: &[u8],
) -> Vec<u8> {
    stage.write(req).unwrap();
    flush(sock, stage);
    let mut got = early;
    let mut buf = [0u8; 8192];
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while !complete(&got) {
        let n = sock.read(&mut buf).expect("read through the tunnel");
        if n == 0 {
            stage.handle_eof(clock.now()).unwrap();
            assert_eq!(stage.poll_event(), Some(StageEvent::Eof { clean: true }));
            break;
        }
        stage.handle_input(clock.now(), &buf[..n]).unwrap();
        let mut up = BytesMut::new();
        stage.poll_read(&mut up);
        got.extend_from_slice(&up);
    }
    got
}

fn health_request(origin: &str) -> Vec<u8> {
    let req = RequestBuilder::new(http::Method::GET, format!("{origin}/global/health"))
        .header("Connection", "close")
        .build()
        .unwrap();
    let mut out = BytesMut::new();
    encode_request_via(&req, "plue-test", Via::Direct, &mut out);
    out.to_vec()
}

fn assert_healthy(response: &[u8]) {
    let text = String::from_utf8_lossy(response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"healthy\":true"), "{text}");
}

fn origin() -> Loopback {
    Loopback::start(FakeOpenCode::server()).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the proxy")
}

fn deadline(clock: &Clock) -> Instant {
    clock.now() + CONNECT_TIMEOUT
}

fn proxy_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn proxy_tinyproxy_forwards_absolute_form() {
    let origin = origin();
    let proxy = Tinyproxy::start().unwrap();
    let req = Request::get(&format!("{}/global/health", origin.base_url())).unwrap();
    let mut out = BytesMut::new();
    encode_request_via(
        &req,
        "plue-test",
        Via::Proxy {
            authorization: None,
        },
        &mut out,
    );
    let mut sock = connect(proxy_addr(proxy.port()));
    sock.write_all(&out).unwrap();
    let mut response = Vec::new();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // tinyproxy speaks HTTP/1.0 upstream and closes after the response.
    sock.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.") && text.contains(" 200 "),
        "{text}"
    );
    assert!(text.contains("\"healthy\":true"), "{text}");
    proxy
        .wait_for_log(&format!("GET {}/global/health", origin.base_url()))
        .unwrap();
}

#[test]
fn proxy_tinyproxy_connect_tunnel() {
    let origin = origin();
    let proxy = Tinyproxy::start().unwrap();
    let clock = Clock(StdInstant::now());
    let url = ProxyUrl::parse(&proxy.url()).unwrap();
    let port = origin.addr().port();
    let mut stage =
        ConnectStage::new("127.0.0.1", port, &url, "plue-test", deadline(&clock)).unwrap();
    let mut sock = connect(proxy_addr(proxy.port()));
    let early = handshake(&mut sock, &mut stage, &clock).unwrap();
    let got = exchange(
        &mut sock,
        &mut stage,
        &clock,
        early,
        &health_request(&origin.base_url()),
    );
    assert_healthy(&got);
    proxy
        .wait_for_log(&format!("CONNECT 127.0.0.1:{port}"))
        .unwrap();
}

#[test]
fn proxy_tinyproxy_basic_auth() {
    let origin = origin();
    let proxy = Tinyproxy::start_with(Some(("plue", "s3cret"))).unwrap();
    let port = origin.addr().port();
    let attempt = |url: String| {
        let clock = Clock(StdInstant::now());
        let url = ProxyUrl::parse(&url).unwrap();
        let mut stage = ConnectStage::new("127.0.0.1", port, &url, "", deadline(&clock)).unwrap();
        let mut sock = connect(proxy_addr(proxy.port()));
        handshake(&mut sock, &mut stage, &clock).map(|early| {
            exchange(
                &mut sock,
                &mut stage,
                &clock,
                early,
                &health_request(&origin.base_url()),
            )
        })
    };
    assert_healthy(&attempt(format!("http://plue:s3cret@127.0.0.1:{}", proxy.port())).unwrap());
    assert_eq!(
        attempt(proxy.url()).unwrap_err(),
        ErrorKind::Proxy(ProxyError::AuthRequired {
            credentials_sent: false
        })
    );
    // tinyproxy 1.11 answers wrong credentials with 401, not 407: a refusal with its status, still typed as the
    // proxy's (only a 407 is read as "authentication required").
    assert_eq!(
        attempt(format!("http://plue:wrong@127.0.0.1:{}", proxy.port())).unwrap_err(),
        ErrorKind::Proxy(ProxyError::Refused { status: 401 })
    );
}

#[test]
fn proxy_tinyproxy_refuses_an_unreachable_target() {
    let proxy = Tinyproxy::start().unwrap();
    let clock = Clock(StdInstant::now());
    let url = ProxyUrl::parse(&proxy.url()).unwrap();
    // Port 1 on loopback: nothing listens, the proxy's own connect is refused.
    let mut stage = ConnectStage::new("127.0.0.1", 1, &url, "", deadline(&clock)).unwrap();
    let mut sock = connect(proxy_addr(proxy.port()));
    let err = handshake(&mut sock, &mut stage, &clock).unwrap_err();
    assert!(
        matches!(err, ErrorKind::Proxy(ProxyError::Refused { status }) if status >= 400),
        "{err:?}"
    );
}

#[test]
fn proxy_microsocks_socks5h_socks5_and_auth() {
    let origin = origin();
    let port = origin.addr().port();
    let open = Microsocks::start(None).unwrap();
    let auth = Microsocks::start(Some(("plue", "s0cks"))).unwrap();
    let run = |proxy_port: u16, target: SocksTarget, creds: Option<(&str, &str)>| {
        let clock = Clock(StdInstant::now());
        let c = creds.map(|(u, p)| plue_http_core::proxy::Credentials::new(u, p));
        let mut stage = Socks5Stage::new(&target, c.as_ref(), deadline(&clock)).unwrap();
        let mut sock = connect(proxy_addr(proxy_port));
        handshake(&mut sock, &mut stage, &clock).map(|early| {
            exchange(
                &mut sock,
                &mut stage,
                &clock,
                early,
                &health_request(&origin.base_url()),
            )
        })
    };
    // socks5h: the proxy resolves "localhost".
    let by_name = SocksTarget::from_host("localhost", port);
    assert!(matches!(by_name, SocksTarget::Domain { .. }));
    assert_healthy(&run(open.port(), by_name.clone(), None).unwrap());
    // socks5: the client sends the address.
    let by_addr = SocksTarget::Addr(origin.addr());
    assert_healthy(&run(open.port(), by_addr.clone(), None).unwrap());
    // RFC 1929.
    assert_healthy(&run(auth.port(), by_name.clone(), Some(("plue", "s0cks"))).unwrap());
    assert_eq!(
        run(auth.port(), by_name.clone(), Some(("plue", "nope"))).unwrap_err(),
        ErrorKind::Proxy(ProxyError::SocksAuthFailed)
    );
    assert_eq!(
        run(auth.port(), by_name, None).unwrap_err(),
        ErrorKind::Proxy(ProxyError::SocksNoAcceptableMethod)
    );
    // A closed target port: a SOCKS reply code, typed.
    let closed = SocksTarget::Addr(SocketAddr::from(([127, 0, 0, 1], 1)));
    assert_eq!(
        run(open.port(), closed, None).unwrap_err(),
        ErrorKind::Proxy(ProxyError::Socks(SocksReply::ConnectionRefused))
    );
}

/// Run a CONNECT handshake against a hostile proxy; return the error and how long it took.
fn against(bad: &BadProxy, socks: bool) -> (Result<Vec<u8>, ErrorKind>, Duration) {
    let clock = Clock(StdInstant::now());
    let mut sock = connect(bad.addr());
    let started = StdInstant::now();
    let result = if socks {
        let mut stage = Socks5Stage::new(
            &SocksTarget::from_host("h.test", 80),
            None,
            deadline(&clock),
        )
        .unwrap();
        stage.write(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        handshake(&mut sock, &mut stage, &clock)
    } else {
        let url = ProxyUrl::parse(&bad.url("http")).unwrap();
        let mut stage = ConnectStage::new("h.test", 443, &url, "", deadline(&clock)).unwrap();
        // The request waits for the tunnel: it must never reach a proxy that did not open one.
        stage.write(b"GET /secret HTTP/1.1\r\n\r\n").unwrap();
        handshake(&mut sock, &mut stage, &clock)
    };
    (result, started.elapsed())
}

#[test]
fn proxy_hostile_proxies_give_typed_errors_within_the_connect_timeout() {
    let limit = CONNECT_TIMEOUT + Duration::from_millis(500);
    for (how, socks, want) in [
        (
            Misbehaviour::Always407,
            false,
            ProxyError::AuthRequired {
                credentials_sent: false,
            },
        ),
        (
            Misbehaviour::CloseMidHandshake,
            false,
            ProxyError::ClosedDuringHandshake,
        ),
        (
            Misbehaviour::CloseMidHandshake,
            true,
            ProxyError::SocksVersion { got: b'H' },
        ),
        (
            Misbehaviour::WrongSocksVersion,
            true,
            ProxyError::SocksVersion { got: 4 },
        ),
        (Misbehaviour::Silent, false, ProxyError::HandshakeTimeout),
        (Misbehaviour::Silent, true, ProxyError::HandshakeTimeout),
    ] {
        let bad = BadProxy::start(how).unwrap();
        let (result, took) = against(&bad, socks);
        assert_eq!(result, Err(ErrorKind::Proxy(want)), "{how:?} socks={socks}");
        assert!(took < limit, "{how:?}: {took:?}");
        assert_eq!(bad.connections(), 1, "{how:?}: nothing retried");
        let sent = bad.received().concat();
        assert!(
            !String::from_utf8_lossy(&sent).contains("GET /"),
            "{how:?}: the request reached a proxy that never opened a tunnel"
        );
    }
}

#[test]
fn proxy_hostile_200_then_garbage_is_tunnel_data_not_a_body() {
    let bad = BadProxy::start(Misbehaviour::ConnectOkThenGarbage).unwrap();
    let (result, _) = against(&bad, false);
    let early = result.unwrap();
    // The garbage came with the 200 or right after; either way none of it was taken as part of the head.
    let clock = Clock(StdInstant::now());
    let mut sock = connect(bad.addr());
    let url = ProxyUrl::parse(&bad.url("http")).unwrap();
    let mut stage = ConnectStage::new("h.test", 443, &url, "", deadline(&clock)).unwrap();
    let mut got = handshake(&mut sock, &mut stage, &clock).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 256];
    while got.len() < GARBAGE.len() {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        stage.handle_input(clock.now(), &buf[..n]).unwrap();
        let mut up = BytesMut::new();
        stage.poll_read(&mut up);
        got.extend_from_slice(&up);
    }
    assert_eq!(got, GARBAGE);
    assert!(early.len() <= GARBAGE.len());
}
