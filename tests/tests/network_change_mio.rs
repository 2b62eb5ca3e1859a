//! `network_change_mio`: the namespace scenario of `plue_http_tests::netns` on the mio event loop (its own test
//! binary; the loop thread starts inside the namespace).

use std::net::Ipv4Addr;
use std::sync::mpsc::Sender;

use plue_http::mio::{Client, StreamEvent};
use plue_http::Options;
use plue_http_tests::netns::{network_change, NetClient};

struct Mio(Client);

impl NetClient for Mio {
    fn events(&self, url: String, tx: Sender<Result<bool, String>>) {
        let events = self.0.events(&url);
        std::thread::spawn(move || {
            for ev in events {
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
        let client = self.0.clone();
        std::thread::spawn(move || {
            let status = client
                .post(&url)
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string());
            let _ = tx.send((n, status));
        });
    }
}

#[test]
fn network_change_mio() {
    network_change("mio", Ipv4Addr::new(10, 213, 3, 1), |_| {
        Mio(Client::new(Options::default()).expect("client"))
    });
}
