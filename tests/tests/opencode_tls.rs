//! The real OpenCode server (with `OPENCODE_SERVER_PASSWORD`) behind nginx TLS termination with a CA the test
//! made: health, the event stream and a streamed chat over `https` on tokio, smol and mio; nginx refusing
//! what it should (untrusted without the CA, TLS 1.0 only).

use std::sync::OnceLock;
use std::time::Duration;

use plue_http::core::error::TlsReason;
use plue_http::{ErrorKind, Options};
use plue_http_tests::nginx::{Backend, Nginx};
use plue_http_tests::opencode_checks as checks;
use plue_http_tests::opencode_fixture::{OpenCodeServer, ServerOptions};
use plue_http_tests::tls_server::{TestCa, Validity};
use plue_opencode::{HealthConfig, OpenCodeOptions};

const PASSWORD: &str = "tls-s3cret";

struct Fixture {
    ca: TestCa,
    _server: OpenCodeServer,
    nginx: Nginx,
}

// The CA and nginx live for the whole test binary; the server is stopped by its Drop at exit of the holder.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let server = OpenCodeServer::start(ServerOptions {
            password: Some(PASSWORD.into()),
            port: None,
        })
        .unwrap_or_else(|e| panic!("cannot start the real OpenCode server: {e}"));
        let ca = TestCa::new("plue nginx test CA");
        let leaf = ca.leaf(&["127.0.0.1", "localhost"], Validity::Current);
        let nginx = Nginx::start(
            &leaf,
            Backend::Proxy(server.url().to_string()),
            "TLSv1.2 TLSv1.3",
            "HIGH:!aNULL",
        );
        Fixture {
            ca,
            _server: server,
            nginx,
        }
    })
}

fn http_options(ca: &TestCa) -> Options {
    Options {
        root_certificates: vec![ca.pem.clone()],
        tls_built_in_roots: false,
        ..Options::default()
    }
}

fn oc_options() -> OpenCodeOptions {
    let auth = plue_http::tokio::opencode::Auth::from_env_values(None, Some(PASSWORD));
    OpenCodeOptions::new(fixture().nginx.url()).auth(auth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_tls_tokio_health_events_and_streamed_chat() {
    use plue_http::tokio::opencode::{self as oc, OpenCodeClient};
    let f = fixture();
    let client = plue_http::tokio::Client::new(http_options(&f.ca)).unwrap();
    let c = OpenCodeClient::with_client(client, oc_options()).unwrap();
    let watch = oc::watch(&c, HealthConfig::default());
    checks::health_within_5s(&watch.reports()).await;
    watch.stop().await;
    drop(checks::open_events(&c).await);
    checks::chat_end_to_end(&c).await;
}

#[test]
fn opencode_tls_smol_health_events_and_streamed_chat() {
    use plue_http::smol::opencode::{self as oc, OpenCodeClient};
    smol::block_on(async {
        let f = fixture();
        let client = plue_http::smol::Client::new(http_options(&f.ca)).unwrap();
        let c = OpenCodeClient::with_client(client, oc_options()).unwrap();
        let watch = oc::watch(&c, HealthConfig::default());
        checks::health_within_5s(&watch.reports()).await;
        watch.stop().await;
        checks::prompt_async_followed(&c).await;
    });
}

#[test]
fn opencode_tls_mio_health_events_and_streamed_chat() {
    use plue_http::mio::opencode::{HealthWatch, OpenCodeClient, Report};
    let f = fixture();
    let client = plue_http::mio::Client::new(http_options(&f.ca)).unwrap();
    let c = OpenCodeClient::with_client(&client, oc_options()).unwrap();
    let watch = HealthWatch::start(&c, HealthConfig::default());
    let first = watch.reports().recv_timeout(Duration::from_secs(30));
    assert!(
        matches!(
            first,
            Some(Report::Health(plue_opencode::HealthState::Healthy { .. }))
        ),
        "{first:?}"
    );
    watch.stop();
    futures_lite::future::block_on(checks::chat_end_to_end(c.opencode()));
}

#[test]
fn opencode_tls_nginx_untrusted_without_the_ca_and_tls10_refused() {
    let f = fixture();
    smol::block_on(async {
        // The OS trust store does not know the test CA.
        let client = plue_http::smol::Client::new(Options::default()).unwrap();
        let err = client
            .get(&format!("{}/global/health", f.nginx.url()))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Tls {
                host: "127.0.0.1".into(),
                reason: TlsReason::UnknownIssuer
            }
        );
        // An nginx that speaks only TLS 1.0: refused as a protocol version failure (rustls speaks 1.2 and 1.3).
        let leaf = f.ca.leaf(&["127.0.0.1"], Validity::Current);
        let old = Nginx::start(&leaf, Backend::Fixed, "TLSv1", "DEFAULT:@SECLEVEL=0");
        let client = plue_http::smol::Client::new(http_options(&f.ca)).unwrap();
        let err = client.get(&old.url()).await.unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Tls {
                host: "127.0.0.1".into(),
                reason: TlsReason::ProtocolVersion
            },
            "{err}"
        );
    });
}
