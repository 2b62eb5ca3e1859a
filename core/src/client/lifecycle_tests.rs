//! Network change, sleep and memory-pressure decisions, driven by hand with a virtual clock.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use super::*;
use crate::request::Request;
use crate::sse::StreamEvent;
use crate::time::Instant;

const OK_HI: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 1\ndata: a\n\n";

struct H {
    m: ClientMachine,
    now: Instant,
    connects: Vec<(ConnId, SocketAddr)>,
    closes: Vec<ConnId>,
    resolves: usize,
    sent: Vec<(ConnId, Vec<u8>)>,
    events: Vec<Event>,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

impl H {
    fn new() -> H {
        H {
            m: ClientMachine::new(Options::default(), 3).unwrap(),
            now: Instant::ZERO,
            connects: Vec::new(),
            closes: Vec::new(),
            resolves: 0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        loop {
            match self.m.poll_output(self.now) {
                Output::Wait(_) => return,
                Output::Resolve { .. } => self.resolves += 1,
                Output::Connect { conn, addr } => self.connects.push((conn, addr)),
                Output::Transmit { conn, data } => {
                    self.sent.push((conn, data.to_vec()));
                    self.m
                        .handle_input(self.now, Input::Written(conn, data.len()));
                }
                Output::Close(c) => self.closes.push(c),
                Output::Event(e) => self.events.push(e),
                Output::Read(_) | Output::PauseRead(_) => {}
            }
        }
    }

    fn input(&mut self, i: Input<'_>) {
        self.m.handle_input(self.now, i);
        self.drain();
    }

    /// Accept the last connect from local address `local`.
    fn connect_last(&mut self, local: &str) -> ConnId {
        let (c, _) = *self.connects.last().expect("a connect");
        self.m.set_local_addr(c, SocketAddr::new(ip(local), 40_000));
        self.input(Input::Connected(c));
        c
    }

    fn get(&mut self, url: &str) -> RequestId {
        let id = self.m.request(self.now, Request::get(url).unwrap());
        self.drain();
        id
    }

    fn done(&self, id: RequestId) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Done { id: d } if *d == id))
            .count()
    }

    fn reconnecting(&self) -> usize {
        self.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Stream {
                        event: StreamEvent::Reconnecting { .. },
                        ..
                    }
                )
            })
            .count()
    }
}

#[test]
fn network_change_closes_idle_and_gone_connections_and_reconnects_the_stream_at_once() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c1 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c1, OK_HI));
    assert_eq!(h.done(a), 1);
    let s = h.m.subscribe(
        h.now,
        Request::get("http://10.1.0.1:80/ev").unwrap(),
        StreamOptions::default(),
    );
    h.drain();
    let c2 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c2, SSE_HEAD));
    assert_eq!(h.m.stream_connections(s), 1);
    let connects = h.connects.len();

    let r = h.m.network_changed(h.now, &[ip("10.1.0.2")]);
    h.drain();
    assert_eq!(r.idle_closed, 1);
    assert_eq!(r.dead_closed, 1);
    assert!(h.closes.contains(&c1) && h.closes.contains(&c2));
    assert_eq!(
        h.connects.len(),
        connects + 1,
        "the stream connects again at once, without waiting for a backoff"
    );
    assert_eq!(h.reconnecting(), 1);
    let c3 = h.connect_last("10.1.0.5");
    let resent = h.sent.iter().rev().find(|(c, _)| *c == c3).unwrap();
    assert!(
        String::from_utf8_lossy(&resent.1).contains("last-event-id: 1"),
        "resumes after the last event"
    );
}

#[test]
fn network_change_keeps_connections_whose_address_is_still_there() {
    let mut h = H::new();
    let s = h.m.subscribe(
        h.now,
        Request::get("http://10.1.0.1:80/ev").unwrap(),
        StreamOptions::default(),
    );
    h.drain();
    let c = h.connect_last("10.1.0.2");
    h.input(Input::Data(c, SSE_HEAD));
    let r = h.m.network_changed(h.now, &[ip("192.168.9.9")]);
    h.drain();
    assert_eq!(r.dead_closed, 0);
    assert!(!h.closes.contains(&c));
    assert_eq!(h.m.stream_connections(s), 1);
    assert_eq!(h.reconnecting(), 0);
}

#[test]
fn network_change_replays_an_in_flight_get_once_on_a_new_connection() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c1 = h.connect_last("10.1.0.2");
    assert_eq!(h.sent.len(), 1, "the request left");
    h.m.network_changed(h.now, &[ip("10.1.0.2")]);
    h.drain();
    assert!(h.closes.contains(&c1));
    // Whether the replay waits for a backoff or goes at once, it must go exactly once and be answered once.
    h.now += Duration::from_secs(5);
    h.drain();
    let c2 = h.connect_last("10.1.0.3");
    h.input(Input::Data(c2, OK_HI));
    assert_eq!(h.done(a), 1);
    let on_new: usize = h.sent.iter().filter(|(c, _)| *c == c2).count();
    assert_eq!(on_new, 1, "sent once on the new connection");
    assert!(!h.events.iter().any(|e| matches!(e, Event::Failed { .. })));
}

#[test]
fn network_change_holds_new_requests_behind_one_probe_until_it_connects() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c1 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c1, OK_HI));
    assert_eq!(h.done(a), 1);
    h.m.network_changed(h.now, &[]);
    h.drain();
    let before = h.connects.len();
    let ids: Vec<RequestId> = (0..3).map(|_| h.get("http://10.1.0.1:80/b")).collect();
    assert_eq!(h.connects.len(), before + 1, "one probe, the rest wait");
    h.connect_last("10.1.0.2");
    assert_eq!(
        h.connects.len(),
        before + 3,
        "the queue drains once the probe connected"
    );
    let fresh: Vec<ConnId> = h.connects[before..].iter().map(|c| c.0).collect();
    for &c in &fresh[1..] {
        h.m.set_local_addr(c, SocketAddr::new(ip("10.1.0.2"), 1));
        h.input(Input::Connected(c));
    }
    for c in fresh {
        h.input(Input::Data(c, OK_HI));
    }
    for id in ids {
        assert_eq!(h.done(id), 1);
    }
}

#[test]
fn network_change_forgets_dns_answers() {
    let mut h = H::new();
    let a = h.get("http://api.example:80/a");
    assert_eq!(h.resolves, 1);
    h.input(Input::Resolved {
        host: "api.example".into(),
        port: 80,
        result: Ok(vec![SocketAddr::new(ip("10.1.0.1"), 80)]),
    });
    let c = h.connect_last("10.1.0.2");
    h.input(Input::Data(c, OK_HI));
    assert_eq!(h.done(a), 1);
    let r = h.m.network_changed(h.now, &[]);
    h.drain();
    assert_eq!(r.dns_forgotten, 1);
    h.get("http://api.example:80/b");
    assert_eq!(h.resolves, 2, "asked again after the change");
}

#[test]
fn network_change_ends_a_streams_backoff_wait() {
    let mut h = H::new();
    h.m.subscribe(
        h.now,
        Request::get("http://10.1.0.1:80/ev").unwrap(),
        StreamOptions::default(),
    );
    h.drain();
    let (c, _) = *h.connects.last().unwrap();
    h.input(Input::ConnectFailed(c, crate::error::NetError::Unreachable));
    let n = h.connects.len();
    h.m.network_changed(h.now, &[]);
    h.drain();
    assert_eq!(
        h.connects.len(),
        n + 1,
        "connects now, not after the backoff"
    );
}

#[test]
fn resumed_from_sleep_closes_idle_connections_and_reconnects_streams() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c1 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c1, OK_HI));
    assert_eq!(h.done(a), 1);
    h.m.subscribe(
        h.now,
        Request::get("http://10.1.0.1:80/ev").unwrap(),
        StreamOptions::default(),
    );
    h.drain();
    let c2 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c2, SSE_HEAD));
    let n = h.connects.len();
    h.m.resumed_from_sleep(h.now);
    h.drain();
    assert!(h.closes.contains(&c1) && h.closes.contains(&c2));
    assert_eq!(h.connects.len(), n + 1);
    assert_eq!(h.m.open_connections(), 1);
}

#[test]
fn memory_pressure_releases_idle_connections_and_reports_bytes() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c1 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c1, OK_HI));
    assert_eq!(h.done(a), 1);
    assert_eq!(h.m.open_connections(), 1);
    let r = h.m.memory_pressure(h.now, MemoryPressure::Critical);
    h.drain();
    assert_eq!(r.connections, 1);
    assert!(r.bytes >= 1024, "the encode buffer at least: {r:?}");
    assert_eq!(h.m.open_connections(), 0);
    assert!(h.closes.contains(&c1));
    // The client still works afterwards.
    let b = h.get("http://10.1.0.1:80/b");
    let c2 = h.connect_last("10.1.0.2");
    h.input(Input::Data(c2, OK_HI));
    assert_eq!(h.done(b), 1);
}

#[test]
fn network_change_failed_probes_spend_no_attempts_until_a_connect_succeeds() {
    let mut h = H::new();
    let a = h.get("http://10.1.0.1:80/a");
    let c = h.connect_last("10.1.0.2");
    h.input(Input::Data(c, OK_HI));
    assert_eq!(h.done(a), 1);
    h.m.network_changed(h.now, &[ip("10.1.0.2")]);
    h.drain();
    let post = crate::request::RequestBuilder::new(http::Method::POST, "http://10.1.0.1:80/b")
        .build()
        .unwrap();
    let b = h.m.request(h.now, post);
    h.drain();
    // More failed probes than `max_retries` allows attempts: the request keeps waiting.
    for _ in 0..6 {
        let (c, _) = *h.connects.last().unwrap();
        h.input(Input::ConnectFailed(c, crate::error::NetError::Unreachable));
        h.now += Duration::from_secs(3);
        h.drain();
    }
    assert!(!h.events.iter().any(|e| e.id() == b), "{:?}", h.events);
    let c = h.connect_last("10.1.0.2");
    h.input(Input::Data(c, OK_HI));
    assert_eq!(h.done(b), 1);
    let sent_b = h
        .sent
        .iter()
        .filter(|(_, d)| d.starts_with(b"POST /b"))
        .count();
    assert_eq!(sent_b, 1, "sent exactly once");
}

#[test]
fn dns_a_resolution_the_driver_never_answers_fails_at_connect_timeout_and_is_asked_again() {
    let mut h = H::new();
    let a = h.get("http://slow.example:80/a");
    assert_eq!(h.resolves, 1);
    // The machine's Wait deadline covers the resolution: a driver sleeping until it is woken.
    h.now += Duration::from_secs(10);
    h.drain();
    assert!(
        !h.events.iter().any(|e| e.id() == a),
        "one attempt spent, not the request"
    );
    h.now += Duration::from_secs(3);
    h.drain();
    assert_eq!(h.resolves, 2, "asked again after the backoff");
    h.input(Input::Resolved {
        host: "slow.example".into(),
        port: 80,
        result: Ok(vec![SocketAddr::new(ip("10.1.0.1"), 80)]),
    });
    let c = h.connect_last("10.1.0.2");
    h.input(Input::Data(c, OK_HI));
    assert_eq!(h.done(a), 1);
}
