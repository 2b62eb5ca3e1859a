//! `plue --proxy` and the proxy environment, run as a process against the real OpenCode server (1.18.34): through
//! tinyproxy (its log shows the request) and microsocks with `socks5h://` on every runtime; `HTTP_PROXY` in the
//! environment never captures the loopback server.

use std::process::{Command, Output, Stdio};

use plue_http_tests::bad_proxies::{BadProxy, Misbehaviour};
use plue_http_tests::opencode_fixture::shared;
use plue_http_tests::real_proxies::{Microsocks, Tinyproxy};

const PROXY_VARS: [&str; 9] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
];

fn plue(env: &[(&str, String)], args: &[&str]) -> (Output, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_plue"));
    c.env_remove("OPENCODE_URL")
        .env_remove("OPENCODE_BIN")
        .env_remove("OPENCODE_SERVER_PASSWORD")
        .stdin(Stdio::null());
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().expect("run plue");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn cli_proxy_health_through_tinyproxy_on_every_runtime() {
    let server = shared().0;
    let proxy = Tinyproxy::start().unwrap();
    for rt in ["tokio", "smol", "mio"] {
        let (out, text) = plue(
            &[],
            &[
                "--runtime",
                rt,
                "--proxy",
                &proxy.url(),
                "--url",
                &server,
                "health",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{rt}: {text}");
    }
    // The request went through the proxy, in absolute form, to the loopback server.
    proxy.wait_for_log(&format!("GET {server}/")).unwrap();
}

#[test]
fn cli_proxy_health_through_microsocks_socks5h_on_every_runtime() {
    let server = shared().0;
    let socks = Microsocks::start(Some(("plue", "s0cks"))).unwrap();
    let url = socks.url("socks5h", Some(("plue", "s0cks")));
    for rt in ["tokio", "smol", "mio"] {
        let (out, text) = plue(
            &[],
            &["--runtime", rt, "--proxy", &url, "--url", &server, "health"],
        );
        assert_eq!(out.status.code(), Some(0), "{rt}: {text}");
        assert!(!text.contains("s0cks"), "{rt}: credentials printed: {text}");
    }
    // Wrong credentials: a typed proxy failure (exit 3), the password never printed.
    let bad = socks.url("socks5h", Some(("plue", "wrong-pw")));
    let (out, text) = plue(&[], &["--proxy", &bad, "--url", &server, "health"]);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(!text.contains("wrong-pw"), "{text}");
}

#[test]
fn cli_proxy_environment_never_captures_loopback() {
    let server = shared().0;
    // A proxy that would hang every request if it were used.
    let trap = BadProxy::start(Misbehaviour::Silent).unwrap();
    for var in ["HTTP_PROXY", "http_proxy", "all_proxy"] {
        let (out, text) = plue(&[(var, trap.url("http"))], &["--url", &server, "health"]);
        assert_eq!(out.status.code(), Some(0), "{var}: {text}");
    }
    assert_eq!(
        trap.connections(),
        0,
        "the environment's proxy captured the loopback server"
    );
}
