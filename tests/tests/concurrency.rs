//! 64 tasks (or threads) share one client and make 10,000 requests against one loopback server: no deadlock,
//! the pool cap holds on the server's side, and every response belongs to its request (the server echoes a
//! per-request tag).

use std::sync::Arc;
use std::time::Duration;

use plue_http_sim::server::{ScriptedServer, ServerConfig};
use plue_http_tests::echo::{Echo, TAG_HEADER};
use plue_http_tests::loopback::Loopback;

const TASKS: usize = 64;
const REQUESTS: usize = 10_000;
const POOL: usize = 8;

fn server() -> Loopback {
    Loopback::start(ScriptedServer::with_handler(
        Box::new(Echo),
        ServerConfig::default(),
    ))
    .expect("loopback server")
}

fn options(lb: &Loopback) -> plue_http::core::client::Options {
    plue_http::core::client::Options {
        base_url: Some(lb.base_url()),
        pool_size: POOL,
        timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    }
}

/// Requests `task`, `task + TASKS`, … so the tasks together make exactly `REQUESTS`.
fn tags(task: usize) -> impl Iterator<Item = String> {
    (task..REQUESTS).step_by(TASKS).map(|i| format!("req-{i}"))
}

fn verify(lb: &Loopback, matched: usize) {
    assert_eq!(matched, REQUESTS, "every response matched its request");
    assert_eq!(lb.server().requests().len(), REQUESTS);
    let seen = lb.accepted();
    assert!(
        seen.peak <= POOL,
        "pool_size {POOL} exceeded: {} connections open at once",
        seen.peak
    );
}

async fn hammer<R: plue_http::driver::Runtime>(
    client: plue_http::driver::Client<R>,
    task: usize,
) -> usize {
    let mut matched = 0;
    for tag in tags(task) {
        let resp = client
            .send(
                client
                    .builder(http::Method::GET, "/echo")
                    .header(TAG_HEADER, &tag),
            )
            .await
            .expect("request");
        assert_eq!(
            resp.text(),
            tag,
            "a response was matched to the wrong request"
        );
        matched += 1;
    }
    matched
}

#[test]
fn concurrency_tokio_64_tasks_10k_requests() {
    let lb = server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let matched = rt.block_on(async {
        let client = plue_http::tokio::Client::new(options(&lb)).unwrap();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| tokio::spawn(hammer(client.clone(), t)))
            .collect();
        let mut matched = 0;
        for t in tasks {
            matched += t.await.unwrap();
        }
        matched
    });
    verify(&lb, matched);
}

#[test]
fn concurrency_smol_64_tasks_10k_requests() {
    let lb = server();
    let matched = smol::block_on(async {
        let client = plue_http::smol::Client::new(options(&lb)).unwrap();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| smol::spawn(hammer(client.clone(), t)))
            .collect();
        let mut matched = 0;
        for t in tasks {
            matched += t.await;
        }
        matched
    });
    verify(&lb, matched);
}

#[test]
fn concurrency_mio_64_threads_10k_requests() {
    let lb = server();
    let client = Arc::new(plue_http::mio::Client::new(options(&lb)).unwrap());
    let threads: Vec<_> = (0..TASKS)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut matched = 0;
                for tag in tags(t) {
                    let resp = client
                        .send(
                            client
                                .builder(http::Method::GET, "/echo")
                                .header(TAG_HEADER, &tag),
                        )
                        .expect("request");
                    assert_eq!(
                        resp.text(),
                        tag,
                        "a response was matched to the wrong request"
                    );
                    matched += 1;
                }
                matched
            })
        })
        .collect();
    let matched: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    verify(&lb, matched);
}
