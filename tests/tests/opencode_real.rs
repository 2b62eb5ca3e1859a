//! The OpenCode layer against the real OpenCode 1.18.34 server (one per test binary) with the loopback mock
//! model, on tokio, smol and mio. The checks are written once (`plue_http_tests::opencode_checks`); the mio
//! tests also drive the blocking API itself.

use std::time::Duration;

use plue_http_tests::opencode_checks as checks;
use plue_http_tests::opencode_fixture::{shared, OpenCodeServer, ServerOptions};
use plue_opencode::{HealthConfig, HealthState, OpenCodeOptions};

fn options() -> OpenCodeOptions {
    OpenCodeOptions::new(shared().0)
}

mod tokio_rt {
    use super::*;
    use plue_http::tokio::opencode::{self as oc, OpenCodeClient};

    fn client() -> OpenCodeClient {
        OpenCodeClient::new(options()).unwrap()
    }

    #[tokio::test]
    async fn opencode_tokio_health_through_event_within_5s() {
        let c = client();
        let watch = oc::watch(&c, HealthConfig::default());
        checks::health_within_5s(&watch.reports()).await;
        watch.stop().await;
    }

    #[tokio::test]
    async fn opencode_tokio_every_typed_call() {
        checks::every_typed_call(&client(), &shared().1).await;
    }

    #[tokio::test]
    async fn opencode_tokio_moved_server_event_stream_follows_with_a_gap_marker() {
        let c = OpenCodeClient::new(OpenCodeOptions::new("http://127.0.0.1:1")).unwrap();
        checks::moved_stream_follows(&shared().0, &c).await;
    }

    #[tokio::test]
    async fn opencode_tokio_error_bodies() {
        checks::error_bodies(&client()).await;
    }

    #[tokio::test]
    async fn opencode_tokio_chat_end_to_end() {
        checks::chat_end_to_end(&client()).await;
    }

    #[tokio::test]
    async fn opencode_tokio_prompt_async_followed_on_events() {
        checks::prompt_async_followed(&client()).await;
    }

    #[tokio::test]
    async fn opencode_tokio_basic_auth_reaches_events_and_401_stops_the_monitor() {
        let server = OpenCodeServer::start(ServerOptions {
            password: Some("s3cret".into()),
            port: None,
        })
        .unwrap();
        let open = OpenCodeClient::new(OpenCodeOptions::new(server.url()).auth(None)).unwrap();
        // No credentials (and none in this process's environment): a 401 with an empty body, typed.
        if oc::env_auth().is_none() {
            let e = open.sessions().await.unwrap_err();
            let plue_http::core::ErrorKind::Status(body) = e.kind() else {
                panic!("{e:?}")
            };
            assert_eq!((body.status, body.body.as_str()), (401, ""));
            // The monitor stops at once on a 401: retrying cannot fix credentials.
            let watch = oc::watch(&open, HealthConfig::default());
            let r = checks::next_report(&watch.reports(), Duration::from_secs(30)).await;
            assert!(
                matches!(
                    r,
                    oc::Report::Health(HealthState::Stopped(oc::StopReason::Rejected(_)))
                ),
                "{r:?}"
            );
        }
        let auth = oc::Auth::from_env_values(None, Some("s3cret"));
        let c = OpenCodeClient::new(OpenCodeOptions::new(server.url()).auth(auth)).unwrap();
        assert!(c.sessions().await.unwrap().is_empty());
        drop(checks::open_events(&c).await);
        let pid = server.pid().unwrap();
        drop(server);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "server {pid} left behind"
        );
    }

    #[tokio::test]
    async fn opencode_tokio_directory_travels_as_query_or_header() {
        let (url, work) = shared();
        let dir = work.join("sub dir ä");
        std::fs::create_dir_all(&dir).unwrap();
        let dir_text = dir.to_str().unwrap().to_string();
        for opts in [
            OpenCodeOptions::new(url.clone()).directory(dir_text.clone()),
            OpenCodeOptions::new(url.clone())
                .directory(dir_text.clone())
                .directory_header(),
        ] {
            let c = OpenCodeClient::new(opts.clone()).unwrap();
            assert_eq!(c.path().await.unwrap().directory, dir_text, "{opts:?}");
        }
    }
}

mod smol_rt {
    use super::*;
    use plue_http::smol::opencode::{self as oc, OpenCodeClient};

    #[test]
    fn opencode_smol_health_typed_calls_and_chat() {
        smol::block_on(async {
            let c = OpenCodeClient::new(options()).unwrap();
            let watch = oc::watch(&c, HealthConfig::default());
            checks::health_within_5s(&watch.reports()).await;
            checks::every_typed_call(&c, &shared().1).await;
            checks::prompt_async_followed(&c).await;
            watch.stop().await;
        });
    }
}

mod mio_rt {
    use super::*;
    use futures_lite::future::block_on;
    use plue_http::mio::opencode::{EventItem, HealthWatch, OpenCodeClient, Report};
    use plue_http_tests::mock_model::MockModel;
    use plue_opencode::{PromptInput, ReplyFollower, ReplyUpdate};

    fn client() -> OpenCodeClient {
        OpenCodeClient::new(options()).unwrap()
    }

    #[test]
    fn opencode_mio_health_through_event_within_5s() {
        let c = client();
        let watch = HealthWatch::start(&c, HealthConfig::default());
        let first = watch.reports().recv_timeout(Duration::from_secs(30));
        assert_eq!(
            first,
            Some(Report::Health(HealthState::Healthy {
                version: Some("1.18.34".into())
            }))
        );
        watch.stop();
    }

    #[test]
    fn opencode_mio_every_typed_call() {
        block_on(checks::every_typed_call(client().opencode(), &shared().1));
    }

    #[test]
    fn opencode_mio_moved_server_event_stream_follows_with_a_gap_marker() {
        let c = OpenCodeClient::new(OpenCodeOptions::new("http://127.0.0.1:1")).unwrap();
        block_on(checks::moved_stream_follows(&shared().0, c.opencode()));
    }

    #[test]
    fn opencode_mio_error_bodies() {
        block_on(checks::error_bodies(client().opencode()));
    }

    #[test]
    fn opencode_mio_chat_end_to_end() {
        block_on(checks::chat_end_to_end(client().opencode()));
    }

    /// The blocking API itself: typed calls, prompt_async, and the reply followed on the blocking iterator.
    #[test]
    fn opencode_mio_blocking_prompt_async_followed_on_events() {
        let c = client();
        let mut events = c.events();
        loop {
            match events.next_timeout(Duration::from_secs(30)).unwrap() {
                Some(EventItem::Event(ev)) => {
                    assert!(ev.is_connected(), "{ev:?}");
                    break;
                }
                Some(_) => {}
                None => panic!("no first event within 30 s"),
            }
        }
        let s = c.session_create(Some("mio async"), None).unwrap();
        assert_eq!(c.session(&s.id).unwrap().title, "mio async");
        c.prompt_async(&s.id, &PromptInput::text("Say hello"))
            .unwrap();
        let mut follower = ReplyFollower::new(&s.id);
        let mut pieces = Vec::new();
        loop {
            let item = events
                .next_timeout(Duration::from_secs(60))
                .unwrap()
                .expect("the reply within 60 s");
            if let EventItem::Event(ev) = item {
                match follower.handle(&ev) {
                    Some(ReplyUpdate::Text(t)) => pieces.push(t),
                    Some(ReplyUpdate::Idle) => break,
                    Some(ReplyUpdate::Error(e)) => panic!("{e:?}"),
                    None => {}
                }
            }
        }
        assert!(pieces.len() >= 2, "{pieces:?}");
        assert_eq!(pieces.concat(), MockModel::REPLY);
        assert_eq!(
            c.messages(&s.id).unwrap().last().map(|m| m.text()),
            Some(MockModel::REPLY.into())
        );
        assert!(c.session_delete(&s.id).unwrap());
    }
}
