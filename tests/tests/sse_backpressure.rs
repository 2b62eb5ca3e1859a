//! Event-stream backpressure on every runtime, against a raw-socket server that writes a large SSE stream as
//! fast as it can: while the consumer does not poll, the client stops reading (at most 1 MiB of events waits
//! undelivered), so the server's writes block on full socket buffers instead of the client's memory growing;
//! once the consumer resumes, every event arrives, in order.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use futures_lite::StreamExt;
use plue_http::driver::{Client, Runtime};
use plue_http::{Options, StreamEvent};

/// Events the server sends.
const EVENTS: usize = 6_000;
/// Bytes of `data` per event: EVENTS × PAYLOAD ≈ 47 MiB in all.
const PAYLOAD: usize = 8 * 1024;
/// The server may get at most this far ahead of a consumer that does not poll: 1 MiB undelivered in the
/// client plus the kernel's socket buffers (the receive buffer autotunes to a few MiB on loopback).
const BOUND: usize = 20 * 1024 * 1024;

/// A one-connection SSE server; `written` counts the bytes the kernel accepted, `finished` is set once all
/// events are written.
struct Flood {
    base: String,
    written: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
}

impl Flood {
    fn start() -> Flood {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let written = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let (w, f) = (written.clone(), finished.clone());
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            // Small send buffer: what the server gets ahead is mostly what the client holds.
            let _ = socket2::SockRef::from(&s).set_send_buffer_size(64 * 1024);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let hdr = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
            if s.write_all(hdr).is_err() {
                return;
            }
            let payload = "x".repeat(PAYLOAD);
            for i in 0..EVENTS {
                let frame = format!("id: {i}\ndata: {payload}\n\n");
                if s.write_all(frame.as_bytes()).is_err() {
                    return;
                }
                w.fetch_add(frame.len(), Ordering::SeqCst);
            }
            f.store(true, Ordering::SeqCst);
            // Keep the connection open until the client is done: no reconnect to account for.
            let _ = s.read(&mut buf);
        });
        Flood {
            base,
            written,
            finished,
        }
    }

    /// Wait until the server's writes stop making progress; the bytes written by then.
    fn wait_blocked(&self) -> usize {
        let start = Instant::now();
        let mut last = usize::MAX;
        let mut still = 0;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.written.load(Ordering::SeqCst);
            assert!(
                !self.finished.load(Ordering::SeqCst),
                "the server wrote the whole stream ({now} bytes) while the consumer did not poll"
            );
            still = if now == last { still + 1 } else { 0 };
            last = now;
            if still >= 5 {
                return now;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server writes never blocked"
            );
        }
    }
}

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        ..Options::default()
    }
}

/// Check the stream's events in order: `Connected` first, then ids `from..EVENTS`; returns the next id.
fn check(event: StreamEvent, next: &mut usize) {
    match event {
        StreamEvent::Connected => assert_eq!(*next, 0, "Connected only first"),
        StreamEvent::Event(e) => {
            assert_eq!(e.id, next.to_string(), "events in order, none lost");
            assert_eq!(e.data.len(), PAYLOAD);
            *next += 1;
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn backpressure<R: Runtime + Default>() {
    let server = Flood::start();
    let client = Client::<R>::new(options(&server.base)).unwrap();
    let mut events = client.events("/flood");
    let mut next = 0;
    // Take the first event, then stop polling.
    while next == 0 {
        let ev = block_on(events.next()).expect("stream open").unwrap();
        check(ev, &mut next);
    }
    let ahead = server.wait_blocked();
    eprintln!("server blocked after {ahead} bytes");
    assert!(
        ahead < BOUND,
        "server got {ahead} bytes ahead (bound {BOUND})"
    );
    while next < EVENTS {
        let ev = block_on(events.next()).expect("stream open").unwrap();
        check(ev, &mut next);
    }
    assert!(server.finished.load(Ordering::SeqCst));
}

#[test]
fn sse_backpressure_tokio_slow_consumer_bounds_read_ahead() {
    // Outside a runtime: the client runs on its shared tokio runtime while this thread does not poll.
    backpressure::<plue_http::tokio::TokioRuntime>();
}

#[test]
fn sse_backpressure_smol_slow_consumer_bounds_read_ahead() {
    backpressure::<plue_http::smol::SmolRuntime>();
}

#[test]
fn sse_backpressure_mio_slow_consumer_bounds_read_ahead() {
    let server = Flood::start();
    let client = plue_http::mio::Client::new(options(&server.base)).unwrap();
    let mut events = client.events("/flood");
    let mut next = 0;
    while next == 0 {
        check(events.next().expect("stream open").unwrap(), &mut next);
    }
    let ahead = server.wait_blocked();
    eprintln!("server blocked after {ahead} bytes");
    assert!(
        ahead < BOUND,
        "server got {ahead} bytes ahead (bound {BOUND})"
    );
    while next < EVENTS {
        check(events.next().expect("stream open").unwrap(), &mut next);
    }
    assert!(server.finished.load(Ordering::SeqCst));
}
