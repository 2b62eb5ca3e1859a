//! Proxies on every runtime: HTTPS inside a `CONNECT` tunnel through tinyproxy with the proxy taken from an
//! `HTTPS_PROXY` snapshot (the TLS server's private CA given as a root), plain HTTP
//! forwarded through tinyproxy and tunnelled through microsocks (`socks5://`, the client resolving), and hostile
//! proxies — 200 then garbage, a 407 loop, a close mid-handshake, a wrong SOCKS version, silence — each a typed
//! error within the connect timeout, with no second connection to the proxy.

use std::time::{Duration, Instant};

use plue_http::core::proxy::{ProxyConfig, ProxyError, ProxyUrl};
use plue_http::driver::{Client, Runtime};
use plue_http::{ErrorKind, Options};
use plue_http_sim::fake_opencode::FakeOpenCode;
use plue_http_tests::bad_proxies::{BadProxy, Misbehaviour};
use plue_http_tests::loopback::Loopback;
use plue_http_tests::real_proxies::{Microsocks, Tinyproxy};
use plue_http_tests::tls_server::{Mode, TestCa, TlsServer, Validity};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

fn options(proxy: ProxyConfig, ca: Option<&TestCa>) -> Options {
    Options {
        proxy,
        root_certificates: ca.map(|c| vec![c.pem.clone()]).unwrap_or_default(),
        tls_built_in_roots: ca.is_none(),
        connect_timeout: CONNECT_TIMEOUT,
        read_timeout: Some(Duration::from_secs(5)),
        retry_delay: Duration::from_millis(5),
        ..Options::default()
    }
}

fn explicit(url: &str) -> ProxyConfig {
    ProxyConfig::explicit().all(ProxyUrl::parse(url).unwrap())
}

/// HTTPS through `CONNECT`, the proxy from an `HTTPS_PROXY` snapshot (what the driver reads from the environment).
async fn https_through_connect<R: Runtime + Default>() {
    let ca = TestCa::new("plue proxy test CA");
    let leaf = ca.leaf(&["127.0.0.1", "localhost"], Validity::Current);
    let server = TlsServer::start(&leaf, Mode::Echo, None);
    let proxy = Tinyproxy::start().unwrap();
    let proxy_url = proxy.url();
    let env = ProxyConfig::from_env(|name| (name == "HTTPS_PROXY").then(|| proxy_url.clone()));
    // A loopback target goes direct for an environment proxy: name the server as the proxy sees it, through an
    // explicit configuration built from the same snapshot's proxy.
    let https_proxy = ProxyConfig::explicit().https(ProxyUrl::parse(&proxy_url).unwrap());
    assert_eq!(
        env.route(&plue_http::Url::parse("https://example.test/").unwrap())
            .proxy(),
        https_proxy
            .route(&plue_http::Url::parse("https://example.test/").unwrap())
            .proxy(),
        "HTTPS_PROXY is the https proxy"
    );
    let client = Client::<R>::new(options(https_proxy, Some(&ca))).unwrap();
    for path in ["/one", "/two"] {
        let resp = client
            .get(&format!("{}{path}", server.base_url()))
            .await
            .unwrap();
        assert_eq!(&resp.body()[..], path.as_bytes());
    }
    proxy
        .wait_for_log(&format!("CONNECT 127.0.0.1:{}", server.addr.port()))
        .unwrap();
    // The origin saw ordinary origin-form requests inside the tunnel.
    let lines = server.requests.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("GET /one ")),
        "{lines:?}"
    );
}

/// Plain HTTP forwarded through tinyproxy and tunnelled through microsocks (`socks5://`: the client resolves).
async fn http_through_proxies<R: Runtime + Default>() {
    let origin = Loopback::start(FakeOpenCode::server()).unwrap();
    let health = format!("http://localhost:{}/global/health", origin.addr().port());
    let tp = Tinyproxy::start().unwrap();
    let client = Client::<R>::new(options(explicit(&tp.url()), None)).unwrap();
    let resp = client.get(&health).await.unwrap();
    assert_eq!(resp.status(), 200);
    tp.wait_for_log(&format!("GET {health}")).unwrap();

    let socks = Microsocks::start(None).unwrap();
    let client = Client::<R>::new(options(explicit(&socks.url("socks5", None)), None)).unwrap();
    let resp = client.get(&health).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(String::from_utf8_lossy(resp.body()).contains("\"healthy\":true"));
}

/// Each hostile proxy: a typed error within the connect timeout, one connection only (nothing retried).
async fn hostile<R: Runtime + Default>() {
    let cases = [
        (
            Misbehaviour::Always407,
            "http",
            Some(ErrorKind::Proxy(ProxyError::AuthRequired {
                credentials_sent: false,
            })),
        ),
        (
            Misbehaviour::CloseMidHandshake,
            "http",
            Some(ErrorKind::Proxy(ProxyError::ClosedDuringHandshake)),
        ),
        (
            Misbehaviour::WrongSocksVersion,
            "socks5h",
            Some(ErrorKind::Proxy(ProxyError::SocksVersion { got: 4 })),
        ),
        (Misbehaviour::Silent, "socks5h", None),
        (Misbehaviour::Silent, "http", None),
    ];
    for (how, scheme, want) in cases {
        let bad = BadProxy::start(how).unwrap();
        // An https target makes the HTTP proxy tunnel with CONNECT; its TLS never starts.
        let target = if scheme == "http" {
            "https://origin.test/x"
        } else {
            "http://origin.test/x"
        };
        let client = Client::<R>::new(options(explicit(&bad.url(scheme)), None)).unwrap();
        let started = Instant::now();
        let err = client.get(target).await.unwrap_err();
        let took = started.elapsed();
        match &want {
            Some(kind) => assert_eq!(err.kind(), kind, "{how:?}: {err}"),
            // Silence: the proxy handshake's deadline (the connect deadline) ends it, typed, without a retry.
            None => assert_eq!(
                err.kind(),
                &ErrorKind::Proxy(ProxyError::HandshakeTimeout),
                "{how:?}: {err}"
            ),
        }
        assert!(
            took < CONNECT_TIMEOUT + Duration::from_millis(800),
            "{how:?}: {took:?}"
        );
        assert_eq!(
            bad.connections(),
            1,
            "{how:?}: retried after a handshake failure"
        );
        assert!(err.is_proxy() || err.is_timeout(), "{how:?}: {err}");
    }

    // 200 then garbage: the garbage is the tunnel's (TLS fails on it), never a response from the proxy.
    let bad = BadProxy::start(Misbehaviour::ConnectOkThenGarbage).unwrap();
    let client = Client::<R>::new(options(explicit(&bad.url("http")), None)).unwrap();
    let err = client.get("https://origin.test/x").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls { .. }), "{err}");
    assert_eq!(bad.connections(), 1);
}

#[test]
fn proxy_tokio_https_through_connect() {
    plue_http_tests::tokio_rt().block_on(https_through_connect::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn proxy_tokio_http_forward_and_socks5() {
    plue_http_tests::tokio_rt().block_on(http_through_proxies::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn proxy_tokio_hostile_proxies() {
    plue_http_tests::tokio_rt().block_on(hostile::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn proxy_smol_https_through_connect() {
    smol::block_on(https_through_connect::<plue_http::smol::SmolRuntime>());
}

#[test]
fn proxy_smol_http_forward_and_socks5() {
    smol::block_on(http_through_proxies::<plue_http::smol::SmolRuntime>());
}

#[test]
fn proxy_smol_hostile_proxies() {
    smol::block_on(hostile::<plue_http::smol::SmolRuntime>());
}

#[test]
fn proxy_mio_https_forward_socks_and_hostile() {
    let ca = TestCa::new("plue proxy test CA");
    let leaf = ca.leaf(&["127.0.0.1"], Validity::Current);
    let server = TlsServer::start(&leaf, Mode::Echo, None);
    let tp = Tinyproxy::start().unwrap();
    let https = ProxyConfig::explicit().https(ProxyUrl::parse(&tp.url()).unwrap());
    let client = plue_http::mio::Client::new(options(https, Some(&ca))).unwrap();
    let resp = client.get(&format!("{}/mio", server.base_url())).unwrap();
    assert_eq!(&resp.body()[..], b"/mio");
    tp.wait_for_log(&format!("CONNECT 127.0.0.1:{}", server.addr.port()))
        .unwrap();

    let origin = Loopback::start(FakeOpenCode::server()).unwrap();
    let socks = Microsocks::start(Some(("u", "p"))).unwrap();
    let client = plue_http::mio::Client::new(options(
        explicit(&socks.url("socks5h", Some(("u", "p")))),
        None,
    ))
    .unwrap();
    let resp = client
        .get(&format!("{}/global/health", origin.base_url()))
        .unwrap();
    assert_eq!(resp.status(), 200);

    let bad = BadProxy::start(Misbehaviour::Always407).unwrap();
    let client = plue_http::mio::Client::new(options(explicit(&bad.url("http")), None)).unwrap();
    let err = client.get("https://origin.test/").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Proxy(ProxyError::AuthRequired {
            credentials_sent: false
        })
    );
    assert_eq!(bad.connections(), 1);
}
