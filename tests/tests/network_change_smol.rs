//! `network_change_smol`: the namespace scenario of `plue_http_tests::netns` on smol (its own test binary, so
//! smol's global executor and reactor threads start inside the namespace).

use std::net::Ipv4Addr;
use std::sync::mpsc::Sender;

use futures_lite::StreamExt;
use plue_http::smol::{Client, StreamEvent};
use plue_http::Options;
use plue_http_tests::netns::{network_change, NetClient};

struct Smol(Client);

impl NetClient for Smol {
    fn events(&self, url: String, tx: Sender<Result<bool, String>>) {
        let mut events = self.0.events(&url);
        smol::spawn(async move {
            while let Some(ev) = events.next().await {
                let item = ev
                    .map(|e| matches!(e, StreamEvent::Connected))
                    .map_err(|e| e.to_string());
                let end = item.is_err();
                if tx.send(item).is_err() || end {
                    return;
                }
            }
        })
        .detach();
    }

    fn post(&self, url: String, n: u32, tx: Sender<(u32, Result<u16, String>)>) {
        let fut = self.0.post(&url);
        smol::spawn(async move {
            let status = fut
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string());
            let _ = tx.send((n, status));
        })
        .detach();
    }
}

#[test]
fn network_change_smol() {
    network_change("smol", Ipv4Addr::new(10, 213, 2, 1), |_| {
        Smol(Client::new(Options::default()).expect("client"))
    });
}
