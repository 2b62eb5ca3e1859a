//! Content decoding against real servers on every runtime: nginx with `gzip on`, and the real OpenCode server's
//! `GET /provider` (6.5 MB of JSON, ~386 KB gzip on the wire).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plue_http::core::Method;
use plue_http::driver::{Client, Runtime};
use plue_http::{Options, Request};
use plue_http_tests::opencode_fixture::shared;
use plue_opencode::ProviderList;

/// nginx with `gzip on` for JSON, serving one ~2 MB JSON file from its own temp dir on a free loopback port.
struct Nginx {
    child: Child,
    base: String,
    json: Vec<u8>,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// JSON shaped like OpenCode's provider list, varied enough to compress about 10:1 (under the 100:1 limit).
fn provider_json(n: usize) -> Vec<u8> {
    let mut s = String::from("{\"all\":[");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        s.push_str(&format!(
            "{{\"id\":\"provider-{i}\",\"name\":\"Provider {h:x}\",\"models\":{{\"m{i}\":{{\"cost\":{},\"limit\":{}}}}}}}",
            h % 1000,
            h % 200_000
        ));
    }
    s.push_str("],\"default\":{},\"connected\":[]}");
    s.into_bytes()
}

impl Nginx {
    fn start() -> Nginx {
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/install-deps.sh"
            ))
            .arg("nginx")
            .status()
            .expect("run scripts/install-deps.sh");
        assert!(out.success(), "scripts/install-deps.sh nginx failed");
        let dir = std::env::temp_dir().join(format!(
            "plue-body-nginx-{}-{:x}",
            std::process::id(),
            rand_seed()
        ));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        let json = provider_json(20_000);
        std::fs::write(dir.join("www/p.json"), &json).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n \
             fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n \
             types {{ application/json json; }}\n gzip on;\n gzip_types application/json;\n gzip_min_length 0;\n \
             server {{ listen 127.0.0.1:{port}; root {d}/www; }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            json,
            _dir: TempDir(dir),
        }
    }
}

fn rand_seed() -> u64 {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    u64::from_le_bytes(b)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        ..Options::default()
    }
}

fn gunzip(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(z)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The checks against nginx, for one runtime.
async fn nginx_checks<R: Runtime + Default>(n: &Nginx) {
    let client = Client::<R>::new(options(&n.base)).unwrap();
    // Decoded by default; the head no longer claims an encoding.
    let resp = client.get("/p.json").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("content-encoding"), None);
    assert!(resp.body()[..] == n.json[..], "decoded body differs");
    // The same body as a stream of pieces, through the streaming reader.
    let req = Request::builder(Method::GET, format!("{}/p.json", n.base))
        .build()
        .unwrap();
    let mut body = client.request_streaming(req).await.unwrap().into_body();
    let mut got = Vec::new();
    while let Some(piece) = body.chunk().await.unwrap() {
        assert!(piece.len() <= plue_http::core::body::PIECE);
        got.extend_from_slice(&piece);
    }
    assert!(got == n.json, "streamed decoded body differs");
    // Raw bytes on request: nginx compressed them (the Accept-Encoding is the caller's own).
    let raw = Request::builder(Method::GET, format!("{}/p.json", n.base))
        .header("accept-encoding", "gzip")
        .raw_body(true)
        .build()
        .unwrap();
    let resp = client.request(raw).await.unwrap();
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert!(
        resp.body().len() < n.json.len() / 2,
        "{}",
        resp.body().len()
    );
    assert!(gunzip(resp.body()) == n.json);
    // HEAD: nginx labels it gzip, there is no body, nothing to decode.
    let resp = client.head("/p.json").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.body().is_empty());
}

#[test]
fn body_nginx_gzip_tokio() {
    let n = Nginx::start();
    plue_http_tests::tokio_rt().block_on(nginx_checks::<plue_http::tokio::TokioRuntime>(&n));
}

#[test]
fn body_nginx_gzip_smol() {
    let n = Nginx::start();
    smol::block_on(nginx_checks::<plue_http::smol::SmolRuntime>(&n));
}

#[test]
fn body_nginx_gzip_mio() {
    let n = Nginx::start();
    let client = plue_http::mio::Client::new(options(&n.base)).unwrap();
    let resp = client.get("/p.json").unwrap();
    assert_eq!(resp.header("content-encoding"), None);
    assert!(resp.body()[..] == n.json[..]);
    let raw = Request::builder(Method::GET, format!("{}/p.json", n.base))
        .header("accept-encoding", "gzip")
        .raw_body(true)
        .build()
        .unwrap();
    let resp = client.request(raw).unwrap();
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert!(gunzip(resp.body()) == n.json);
}

// ---------------------------------------------------------------- the real OpenCode server's /provider

fn provider_request(base: &str, raw: Option<&str>) -> Request {
    let b = Request::builder(Method::GET, format!("{base}/provider"));
    match raw {
        Some(ae) => b.header("accept-encoding", ae).raw_body(true),
        None => b,
    }
    .build()
    .unwrap()
}

/// What each runtime must show: gzip on the wire is ~386 KB (a 6.5 MB body), and the decoded body is the same
/// typed value as the plain one.
fn check_provider(
    gz: &plue_http::Response,
    plain: &plue_http::Response,
    decoded: &plue_http::Response,
) {
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let wire = gz.body().len();
    assert!(
        (300_000..500_000).contains(&wire),
        "gzip body is {wire} bytes"
    );
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body().len() > 5_000_000, "{}", plain.body().len());
    assert_eq!(decoded.header("content-encoding"), None);
    let plain: ProviderList = plain.json().unwrap();
    let decoded: ProviderList = decoded.json().unwrap();
    assert!(!plain.all.is_empty());
    assert!(
        plain == decoded,
        "decoded provider list differs from the plain one"
    );
    assert!(gunzip(gz.body()).len() > 5_000_000);
}

async fn provider_checks<R: Runtime + Default>() {
    let base = shared().0;
    let client = Client::<R>::new(Options::default()).unwrap();
    let gz = client
        .request(provider_request(&base, Some("gzip")))
        .await
        .unwrap();
    let plain = client
        .request(provider_request(&base, Some("identity")))
        .await
        .unwrap();
    let decoded = client.request(provider_request(&base, None)).await.unwrap();
    check_provider(&gz, &plain, &decoded);
}

#[test]
fn body_opencode_provider_gzip_tokio() {
    plue_http_tests::tokio_rt().block_on(provider_checks::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn body_opencode_provider_gzip_smol() {
    smol::block_on(provider_checks::<plue_http::smol::SmolRuntime>());
}

#[test]
fn body_opencode_provider_gzip_mio() {
    let base = shared().0;
    let client = plue_http::mio::Client::new(Options::default()).unwrap();
    let gz = client
        .request(provider_request(&base, Some("gzip")))
        .unwrap();
    let plain = client
        .request(provider_request(&base, Some("identity")))
        .unwrap();
    let decoded = client.request(provider_request(&base, None)).unwrap();
    check_provider(&gz, &plain, &decoded);
}

// ---------------------------------------------------------------- streaming JSON over the gzip /provider

/// The typed provider list decoded element by element from the (gzip, decoded on the fly) stream of `/all`.
fn assemble(mut rest: ProviderList, all: Vec<plue_opencode::Provider>) -> ProviderList {
    assert!(
        rest.all.is_empty(),
        "the array was streamed, not left in the rest"
    );
    rest.all = all;
    rest
}

async fn provider_streamed<R: Runtime + Default>() {
    let base = shared().0;
    let client = Client::<R>::new(Options::default()).unwrap();
    let plain: ProviderList = client
        .request(provider_request(&base, Some("identity")))
        .await
        .unwrap()
        .json()
        .unwrap();
    let mut body = client
        .request_streaming(provider_request(&base, None))
        .await
        .unwrap()
        .into_body();
    let mut all = Vec::new();
    let rest: ProviderList = body
        .json_elements("/all", Default::default(), |p| all.push(p))
        .await
        .unwrap();
    assert!(assemble(rest, all) == plain);
}

#[test]
fn body_opencode_provider_streamed_json_tokio() {
    plue_http_tests::tokio_rt().block_on(provider_streamed::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn body_opencode_provider_streamed_json_smol() {
    smol::block_on(provider_streamed::<plue_http::smol::SmolRuntime>());
}

#[test]
fn body_opencode_provider_streamed_json_mio() {
    let base = shared().0;
    let client = plue_http::mio::Client::new(Options::default()).unwrap();
    let plain: ProviderList = client
        .request(provider_request(&base, Some("identity")))
        .unwrap()
        .json()
        .unwrap();
    let (_, mut body) = client
        .request_streaming(provider_request(&base, None))
        .unwrap()
        .into_parts();
    let mut all = Vec::new();
    let rest: ProviderList = body
        .json_elements("/all", Default::default(), |p| all.push(p))
        .unwrap();
    assert!(assemble(rest, all) == plain);
}

/// The OpenCode call itself (`providers()`, streamed over gzip) gives the plain typed value.
#[test]
fn body_opencode_typed_providers_call_streams_to_the_plain_value() {
    use plue_http::tokio::opencode::OpenCodeClient;
    let base = shared().0;
    plue_http_tests::tokio_rt().block_on(async {
        let client = Client::<plue_http::tokio::TokioRuntime>::new(Options::default()).unwrap();
        let plain: ProviderList = client
            .request(provider_request(&base, Some("identity")))
            .await
            .unwrap()
            .json()
            .unwrap();
        let oc = OpenCodeClient::new(plue_opencode::OpenCodeOptions::new(base.clone())).unwrap();
        let typed = oc.providers().await.unwrap();
        assert!(
            typed == plain,
            "streamed providers() differs from the plain decode"
        );
        let sessions = oc.sessions().await.unwrap();
        let plain_sessions: Vec<plue_opencode::Session> = client
            .request(
                Request::builder(Method::GET, format!("{base}/session"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(sessions.len(), plain_sessions.len());
    });
}
