//! Codec microbenchmark: head parse + body decode of a small JSON response and of a 1 MiB chunked body,
//! with `httparse`'s raw head parse of the same heads as the reference, in the same run.
//!
//! `cargo bench -p plue-http-benches --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use plue_http_core::h1::{ConnEvent, Decoded, H1Connection, Limits, ResponseDecoder};
use plue_http_core::{Method, Request};

const JSON_HEAD: &str = "HTTP/1.1 200 OK\r\n\
    Content-Type: application/json\r\n\
    Date: Tue, 24 Nov 2026 22:00:00 GMT\r\n\
    Vary: Origin\r\n\
    Access-Control-Allow-Origin: *\r\n\
    Content-Length: 200\r\n\r\n";

const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\n\
    Content-Type: application/octet-stream\r\n\
    Date: Tue, 24 Nov 2026 22:00:00 GMT\r\n\
    Transfer-Encoding: chunked\r\n\r\n";

fn json_response() -> Vec<u8> {
    let mut body = br#"{"id":"ses_5a1b2c3d4e5f","title":"Refactor the codec","version":"1.18.34","time":{"created":1764021600000,"updated":1764021655000},"share":null,"projectID":"prj_01","directory":"/work"#.to_vec();
    while body.len() < 199 {
        body.push(b' ');
    }
    body.push(b'}');
    assert_eq!(body.len(), 200);
    [JSON_HEAD.as_bytes(), &body].concat()
}

/// 1 MiB of data in 16 KiB chunks.
fn chunked_response() -> (Vec<u8>, usize) {
    let mut out = CHUNKED_HEAD.as_bytes().to_vec();
    let chunk = vec![b'x'; 16 * 1024];
    let total = 1024 * 1024;
    for _ in 0..total / chunk.len() {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    (out, total)
}

fn httparse_head(head: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) => n + resp.headers.len(),
        _ => panic!("bad head"),
    }
}

/// Decode one whole response from `buf`; returns body bytes seen.
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut dec = ResponseDecoder::new(&Method::GET, &Limits::default());
    let mut body = 0;
    loop {
        match dec.decode(buf).expect("valid") {
            Some(Decoded::Head(h)) => {
                black_box(h);
            }
            Some(Decoded::Body(b)) => body += b.len(),
            Some(Decoded::End { keep_alive }) => {
                assert!(keep_alive);
                return body;
            }
            None => panic!("incomplete"),
        }
    }
}

/// Feed `input` to a connection with one GET in flight, `read` bytes at a time (a socket read size).
fn conn_all(input: &[u8], read: usize) -> usize {
    let req = Request::get("http://127.0.0.1:4096/session").expect("valid");
    let mut conn = H1Connection::new(Limits::default());
    let mut out = BytesMut::new();
    conn.send(1u32, &req, "Plue/1.0", &mut out);
    let mut body = 0;
    for piece in input.chunks(read) {
        conn.handle_data(piece);
        while let Some(e) = conn.poll_event() {
            match e {
                ConnEvent::Body(_, b) => body += b.len(),
                ConnEvent::Failed { error, .. } => panic!("{error}"),
                other => {
                    black_box(other);
                }
            }
        }
    }
    body
}

fn small_json(c: &mut Criterion) {
    let input = json_response();
    let mut g = c.benchmark_group("small_json");
    // The reference parses the head only; its throughput is per head byte.
    g.throughput(Throughput::Bytes(JSON_HEAD.len() as u64));
    g.bench_function("httparse_head_reference", |b| {
        b.iter(|| httparse_head(black_box(JSON_HEAD.as_bytes())))
    });
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("decoder_head_and_body", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| assert_eq!(decode_all(buf), 200),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("connection_send_and_receive", |b| {
        b.iter(|| assert_eq!(conn_all(black_box(&input), 64 * 1024), 200))
    });
    g.finish();
}

fn chunked_1mib(c: &mut Criterion) {
    let (input, total) = chunked_response();
    let mut g = c.benchmark_group("chunked_1mib");
    g.throughput(Throughput::Bytes(CHUNKED_HEAD.len() as u64));
    g.bench_function("httparse_head_reference", |b| {
        b.iter(|| httparse_head(black_box(CHUNKED_HEAD.as_bytes())))
    });
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("decoder_one_buffer", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&input[..]),
            |buf| assert_eq!(decode_all(buf), total),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("connection_64k_reads", |b| {
        b.iter(|| assert_eq!(conn_all(black_box(&input), 64 * 1024), total))
    });
    g.finish();
}

criterion_group!(benches, small_json, chunked_1mib);
criterion_main!(benches);
