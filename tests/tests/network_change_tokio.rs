//! `network_change_tokio`: the namespace scenario of `plue_http_tests::netns` on the tokio runtime (its own
//! test binary, so every runtime thread starts inside the namespace).

use std::net::Ipv4Addr;
use std::sync::mpsc::Sender;

use futures_lite::StreamExt;
use plue_http::tokio::{Client, StreamEvent, TokioRuntime};
use plue_http::Options;
use plue_http_tests::netns::{network_change, NetClient};

struct Tokio {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl NetClient for Tokio {
    fn events(&self, url: String, tx: Sender<Result<bool, String>>) {
        let mut events = self.client.events(&url);
        self.rt.spawn(async move {
            while let Some(ev) = events.next().await {
                let item = ev
                    .map(|e| matches!(e, StreamEvent::Connected))
                    .map_err(|e| e.to_string());
                let end = item.is_err();
                if tx.send(item).is_err() || end {
                    return;
                }
            }
        });
    }

    fn post(&self, url: String, n: u32, tx: Sender<(u32, Result<u16, String>)>) {
        let fut = self.client.post(&url);
        self.rt.spawn(async move {
            let status = fut
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string());
            let _ = tx.send((n, status));
        });
    }
}

#[test]
fn network_change_tokio() {
    network_change("tokio", Ipv4Addr::new(10, 213, 1, 1), |_| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let client =
            Client::with_runtime(TokioRuntime::new(rt.handle().clone()), Options::default())
                .expect("client");
        Tokio { rt, client }
    });
}
