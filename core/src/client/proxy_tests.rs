//! The machine with a proxy: where TCP goes, what is written, typed proxy errors, no retry of a refused
//! handshake, loopback direct for an environment proxy, pool keys per proxy and credentials, redirects routed
//! again.

use core::net::SocketAddr;
use core::time::Duration;

use super::*;
use crate::error::{ErrorKind, NetError};
use crate::proxy::{NoProxy, ProxyConfig, ProxyError, ProxyUrl};
use crate::request::Request;
use crate::time::Instant;

const OK_HI: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

/// What one drain produced.
#[derive(Default, Debug)]
struct Seen {
    connects: Vec<(ConnId, SocketAddr)>,
    sent: Vec<(ConnId, Vec<u8>)>,
    events: Vec<Event>,
    resolves: Vec<(String, u16)>,
}

impl Seen {
    fn text(&self, c: ConnId) -> String {
        let bytes: Vec<u8> = self
            .sent
            .iter()
            .filter(|(k, _)| *k == c)
            .flat_map(|(_, b)| b.clone())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn drain(m: &mut ClientMachine, now: Instant, seen: &mut Seen) {
    loop {
        match m.poll_output(now) {
            Output::Wait(_) => return,
            Output::Connect { conn, addr } => seen.connects.push((conn, addr)),
            Output::Resolve { host, port } => seen.resolves.push((host, port)),
            Output::Transmit { conn, data } => {
                m.handle_input(now, Input::Written(conn, data.len()));
                seen.sent.push((conn, data.to_vec()));
            }
            Output::Event(ev) => seen.events.push(ev),
            _ => {}
        }
    }
}

fn machine(proxy: ProxyConfig) -> ClientMachine {
    let options = Options {
        proxy,
        max_retries: 0,
        ..Options::default()
    };
    ClientMachine::new(options, 7).unwrap()
}

fn explicit(url: &str) -> ProxyConfig {
    ProxyConfig::explicit().all(ProxyUrl::parse(url).unwrap())
}

fn failed(seen: &Seen) -> Option<ErrorKind> {
    seen.events.iter().find_map(|e| match e {
        Event::Failed { error, .. } => Some(error.kind().clone()),
        _ => None,
    })
}

#[test]
fn proxy_machine_forwards_http_with_absolute_form_through_the_proxy() {
    let mut m = machine(explicit("http://al:pw@10.0.0.9:3128"));
    let now = Instant::ZERO;
    let mut seen = Seen::default();
    m.request(now, Request::get("http://a.test/x?y=1").unwrap());
    drain(&mut m, now, &mut seen);
    // TCP goes to the proxy; the origin's name is never resolved by the client.
    assert_eq!(seen.connects[0].1, "10.0.0.9:3128".parse().unwrap());
    assert!(seen.resolves.is_empty(), "{:?}", seen.resolves);
    let c = seen.connects[0].0;
    m.handle_input(now, Input::Connected(c));
    drain(&mut m, now, &mut seen);
    let text = seen.text(c);
    assert!(
        text.starts_with("GET http://a.test/x?y=1 HTTP/1.1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("proxy-authorization: Basic YWw6cHc=\r\n"),
        "{text}"
    );
    m.handle_input(now, Input::Data(c, OK_HI));
    drain(&mut m, now, &mut seen);
    assert!(
        seen.events.iter().any(|e| matches!(e, Event::Done { .. })),
        "{:?}",
        seen.events
    );
}

#[test]
fn proxy_machine_tunnels_with_connect_then_sends_origin_form() {
    let mut m = machine(explicit("http://10.0.0.9:3128").tunnel_http(true));
    let now = Instant::ZERO;
    let mut seen = Seen::default();
    m.request(now, Request::get("http://a.test:8080/x").unwrap());
    drain(&mut m, now, &mut seen);
    let c = seen.connects[0].0;
    m.handle_input(now, Input::Connected(c));
    drain(&mut m, now, &mut seen);
    assert_eq!(
        seen.text(c),
        "CONNECT a.test:8080 HTTP/1.1\r\nHost: a.test:8080\r\nUser-Agent: Plue/1.0\r\n\r\n",
        "nothing of the request before the tunnel"
    );
    // The proxy's 200 and the origin's first bytes in one read: the head is the proxy's, the rest the origin's.
    let mut reply = b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec();
    m.handle_input(now, Input::Data(c, &reply));
    drain(&mut m, now, &mut seen);
    let text = seen.text(c);
    assert!(
        text.ends_with(
            "GET /x HTTP/1.1\r\nhost: a.test:8080\r\nuser-agent: Plue/1.0\r\naccept-encoding: gzip, deflate, br, zstd\r\n\r\n"
        ),
        "{text}"
    );
    reply.clear();
    m.handle_input(now, Input::Data(c, OK_HI));
    drain(&mut m, now, &mut seen);
    assert!(
        seen.events.iter().any(|e| matches!(e, Event::Done { .. })),
        "{:?}",
        seen.events
    );
}

#[test]
fn proxy_machine_handshake_refusals_are_typed_and_not_retried() {
    for (answer, want) in [
        (
            &b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"[..],
            ErrorKind::Proxy(ProxyError::AuthRequired {
                credentials_sent: false,
            }),
        ),
        (
            &b"HTTP/1.1 403 Forbidden\r\n\r\n"[..],
            ErrorKind::Proxy(ProxyError::Refused { status: 403 }),
        ),
    ] {
        let options = Options {
            proxy: explicit("http://10.0.0.9:3128").tunnel_http(true),
            ..Options::default()
        };
        let mut m = ClientMachine::new(options, 7).unwrap();
        let now = Instant::ZERO;
        let mut seen = Seen::default();
        m.request(now, Request::get("http://a.test/x").unwrap());
        drain(&mut m, now, &mut seen);
        let c = seen.connects[0].0;
        m.handle_input(now, Input::Connected(c));
        m.handle_input(now, Input::Data(c, answer));
        drain(&mut m, now, &mut seen);
        assert_eq!(failed(&seen), Some(want));
        assert_eq!(seen.connects.len(), 1, "a refused handshake is not retried");
    }
}

#[test]
fn proxy_machine_unreachable_proxy_and_handshake_deadline() {
    let mut m = machine(explicit("socks5h://10.0.0.9:1080"));
    let now = Instant::ZERO;
    let mut seen = Seen::default();
    m.request(now, Request::get("http://a.test/x").unwrap());
    drain(&mut m, now, &mut seen);
    let c = seen.connects[0].0;
    m.handle_input(now, Input::ConnectFailed(c, NetError::Refused));
    drain(&mut m, now, &mut seen);
    assert_eq!(
        failed(&seen),
        Some(ErrorKind::ProxyUnreachable {
            cause: NetError::Refused
        })
    );

    // A proxy that accepts and never answers: a typed error once connect_timeout has passed, never later.
    let mut m = machine(explicit("socks5h://10.0.0.9:1080"));
    let mut seen = Seen::default();
    m.request(now, Request::get("http://a.test/x").unwrap());
    drain(&mut m, now, &mut seen);
    let c = seen.connects[0].0;
    m.handle_input(now, Input::Connected(c));
    drain(&mut m, now, &mut seen);
    assert_eq!(seen.text(c).as_bytes(), [5, 1, 0]);
    let later = now + Duration::from_secs(10);
    m.handle_input(later, Input::Timeout);
    drain(&mut m, later, &mut seen);
    assert_eq!(
        failed(&seen),
        Some(ErrorKind::Proxy(ProxyError::HandshakeTimeout)),
        "the proxy's silence is its typed failure at the connect deadline"
    );
    assert_eq!(seen.connects.len(), 1, "not retried");
}

#[test]
fn proxy_machine_environment_proxy_never_captures_loopback() {
    let env =
        ProxyConfig::from_env(|name| (name == "HTTP_PROXY").then(|| "http://10.0.0.9:3128".into()));
    let mut m = machine(env);
    let now = Instant::ZERO;
    let mut seen = Seen::default();
    m.request(now, Request::get("http://127.0.0.1:4096/x").unwrap());
    m.request(now, Request::get("http://remote.test/x").unwrap());
    drain(&mut m, now, &mut seen);
    assert_eq!(seen.connects[0].1, "127.0.0.1:4096".parse().unwrap());
    assert_eq!(seen.connects[1].1, "10.0.0.9:3128".parse().unwrap());
}

#[test]
fn proxy_machine_pool_keys_separate_proxies_and_credentials() {
    let url = crate::url::Url::parse("http://a.test/").unwrap();
    let a = crate::pool::PoolKey::routed(&url, &explicit("http://u:one@p:1"));
    let b = crate::pool::PoolKey::routed(&url, &explicit("http://u:two@p:1"));
    let direct = crate::pool::PoolKey::routed(&url, &ProxyConfig::none());
    assert_ne!(a, b);
    assert_ne!(a, direct);
    assert_eq!(
        a,
        crate::pool::PoolKey::routed(&url, &explicit("http://u:one@p:1"))
    );
    assert!(!format!("{a:?}").contains("one"), "{a:?}");
    // The no-proxy list and the scheme decide per origin: a redirect to another origin is routed again.
    let cfg = explicit("http://p:1").no_proxy(NoProxy::parse("inside.test"));
    let inside = crate::url::Url::parse("http://inside.test/").unwrap();
    assert!(crate::pool::PoolKey::routed(&inside, &cfg).hop.is_none());
    assert!(crate::pool::PoolKey::routed(&url, &cfg).hop.is_some());
}

#[test]
fn proxy_machine_redirect_to_a_bypassed_origin_goes_direct() {
    let cfg = explicit("http://10.0.0.9:3128").no_proxy(NoProxy::parse("10.0.0.7"));
    let mut m = machine(cfg);
    let now = Instant::ZERO;
    let mut seen = Seen::default();
    m.request(now, Request::get("http://a.test/x").unwrap());
    drain(&mut m, now, &mut seen);
    let c = seen.connects[0].0;
    m.handle_input(now, Input::Connected(c));
    m.handle_input(
        now,
        Input::Data(
            c,
            b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.7:8080/y\r\nContent-Length: 0\r\n\r\n",
        ),
    );
    drain(&mut m, now, &mut seen);
    assert_eq!(seen.connects.len(), 2, "{:?}", seen.events);
    assert_eq!(seen.connects[1].1, "10.0.0.7:8080".parse().unwrap());
}
