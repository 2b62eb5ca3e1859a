//! The client machine alone (encode, decode, pool, events; no I/O): the sans-IO floor under every runtime.
//!
//! `cargo bench -p plue-http-benches --bench machine`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plue_http_core::client::{ClientMachine, Event, Input, Options, Output};
use plue_http_core::time::Instant;
use plue_http_core::Request;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"healthy\":true,\"v\":\"1.0\"}\n";

/// One keep-alive GET through the machine, answered at once; returns the body length seen.
fn one_request(m: &mut ClientMachine, now: Instant, req: &Request) -> usize {
    let id = m.request(now, req.clone());
    let mut body = 0;
    loop {
        match m.poll_output(now) {
            Output::Connect { conn, .. } => m.handle_input(now, Input::Connected(conn)),
            Output::Transmit { conn, data } => {
                m.handle_input(now, Input::Written(conn, data.len()));
                m.handle_input(now, Input::Data(conn, RESPONSE));
            }
            Output::Event(Event::Body { id: i, data }) => {
                body += data.len();
                m.consumed(now, i, data.len());
            }
            Output::Event(Event::Done { id: i }) if i == id => {}
            Output::Event(Event::Failed { error, .. }) => panic!("{error}"),
            Output::Wait(_) => return body,
            _ => {}
        }
    }
}

fn machine(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine");
    g.throughput(Throughput::Elements(1));
    g.bench_function("keep_alive_get", |b| {
        let mut m = ClientMachine::new(Options::default(), 1).unwrap();
        let req = Request::get("http://127.0.0.1:4096/global/health").unwrap();
        let mut now = Instant::ZERO;
        b.iter(|| {
            now += Duration::from_micros(10);
            assert_eq!(black_box(one_request(&mut m, now, &req)), 27);
        });
    });
    g.finish();
}

criterion_group!(benches, machine);
criterion_main!(benches);
