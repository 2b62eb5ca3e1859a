//! Hostile content codings over real loopback sockets, on tokio, smol and mio: a gzip bomb (about 1 KB on the
//! wire claiming 10 GB), a truncated gzip, a wrong `Content-Encoding`, codings on HEAD/204/304, and an event
//! stream encoded although it asked for `identity`. Every case ends in a typed outcome with bounded memory.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::StreamExt;
use plue_http::core::error::{DecodeProblem, Limit};
use plue_http::core::Method;
use plue_http::driver::{Client, Runtime};
use plue_http::{ErrorKind, Options, Request, StreamEvent};

/// A server that answers every connection with `reply`, then either closes or (for streams) holds it open;
/// each request head it read is sent on the channel.
struct Server {
    base: String,
    heads: mpsc::Receiver<String>,
}

fn serve(reply: Vec<u8>, hold: bool) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let (tx, heads) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let reply = reply.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).to_ascii_lowercase());
                // The client stops reading at a limit and closes: a failed write just ends this connection.
                for part in reply.chunks(16 * 1024) {
                    if s.write_all(part).is_err() {
                        return;
                    }
                }
                if hold {
                    std::thread::sleep(Duration::from_secs(10));
                }
            });
        }
    });
    Server { base, heads }
}

fn reply(extra: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Bits, least significant first (RFC 1951 §3.1.1).
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// A Huffman code goes out most significant bit first.
    fn code(&mut self, code: u64, len: u32) {
        let rev = (0..len).fold(0, |r, i| r | ((code >> i) & 1) << (len - 1 - i));
        self.put(rev, len);
    }
    fn literal_zero(&mut self) {
        self.code(0b0011_0000, 8); // literal 0 in the fixed code
    }
    fn match_258_at_1(&mut self) {
        self.code(0b1100_0101, 8); // length code 285 = 258 bytes, no extra bits
        self.code(0, 5); // distance code 0 = distance 1
    }
}

/// A gzip member claiming `zeros` zero bytes, built by hand from one fixed-Huffman block (no CRC worth checking:
/// no client gets that far). 10 GB come to ~63 MB.
fn zero_member(zeros: u64) -> Vec<u8> {
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // last block
    b.put(1, 2); // fixed Huffman
    b.literal_zero();
    let mut matches = (zeros - 1) / 258;
    while b.n != 0 {
        b.match_258_at_1();
        matches -= 1;
    }
    // Eight matches are 104 bits = 13 bytes: the rest repeats that pattern.
    let start = b.out.len();
    for _ in 0..8 {
        b.match_258_at_1();
    }
    let period = b.out[start..].to_vec();
    matches -= 8;
    let reps = matches / 8;
    for _ in 0..reps {
        b.out.extend_from_slice(&period);
    }
    for _ in 0..matches % 8 {
        b.match_258_at_1();
    }
    b.code(0, 7); // end of block (256)
    b.put(0, 7);
    b.out.extend_from_slice(&[0; 8]);
    b.out
}

/// `Content-Encoding: gzip, gzip, gzip` bomb: about a kilobyte expanding to 10 GB.
fn bomb() -> Vec<u8> {
    gzip(&gzip(&zero_member(10_000_000_000)))
}

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        max_retries: 0,
        timeout: Some(Duration::from_secs(20)),
        ..Options::default()
    }
}

/// Every case against one client; `get` runs a request to completion.
async fn cases<R: Runtime + Default>(bomb: &[u8]) {
    // The bomb, with the default limits: the ratio stops it after the first MiB.
    let s = serve(reply("Content-Encoding: gzip, gzip, gzip\r\n", bomb), false);
    let c = Client::<R>::new(options(&s.base)).unwrap();
    let e = c.get("/bomb").await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::TooLarge {
            limit: Limit::DecompressionRatio,
            max: 100
        }
    );
    assert!(s
        .heads
        .recv()
        .unwrap()
        .contains("accept-encoding: gzip, deflate, br, zstd\r\n"));
    // Without the ratio check the size limit stops it; the streamed reader never holds more than the limit.
    let c = Client::<R>::new(Options {
        max_decompression_ratio: 0,
        max_decoded_size: 8 << 20,
        ..options(&s.base)
    })
    .unwrap();
    let req = Request::builder(Method::GET, format!("{}/bomb", s.base))
        .build()
        .unwrap();
    let mut body = c.request_streaming(req).await.unwrap().into_body();
    let mut seen = 0usize;
    let err = loop {
        match body.chunk().await {
            Ok(Some(p)) => seen += p.len(),
            Ok(None) => panic!("the bomb ended"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        err.kind(),
        &ErrorKind::TooLarge {
            limit: Limit::DecodedSize,
            max: 8 << 20
        }
    );
    assert!(seen <= 8 << 20, "{seen}");
    assert_eq!(
        err.kind().to_string(),
        "response body too large: decoded size exceeds the limit of 8388608 bytes"
    );

    // A gzip body whose check fails at its end, read as a stream of JSON elements: the decoding error is
    // reported, not the JSON the garbage before it could not be.
    let bad_crc: &[u8] =
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x8b\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00";
    let s = serve(reply("Content-Encoding: gzip\r\n", bad_crc), false);
    let req = Request::builder(Method::GET, format!("{}/crc", s.base))
        .build()
        .unwrap();
    let c = Client::<R>::new(options(&s.base)).unwrap();
    let mut body = c.request_streaming(req).await.unwrap().into_body();
    let e = body
        .json_elements::<serde_json::Value, serde_json::Value, _>("", Default::default(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ContentDecoding {
                problem: DecodeProblem::Corrupt,
                ..
            }
        ),
        "{e}"
    );

    // Truncated gzip inside a complete HTTP body.
    let z = gzip(&b"{\"ok\":true}".repeat(1000));
    let s = serve(
        reply("Content-Encoding: gzip\r\n", &z[..z.len() - 5]),
        false,
    );
    let e = Client::<R>::new(options(&s.base))
        .unwrap()
        .get("/t")
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::ContentDecoding {
            coding: "gzip".into(),
            problem: DecodeProblem::Truncated
        }
    );

    // Wrong Content-Encoding: gzip bytes labelled br, and plain JSON labelled gzip.
    let s = serve(reply("Content-Encoding: br\r\n", &z), false);
    let e = Client::<R>::new(options(&s.base))
        .unwrap()
        .get("/w")
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ContentDecoding { coding, problem: DecodeProblem::Corrupt } if coding == "br"),
        "{e}"
    );
    let s = serve(reply("Content-Encoding: gzip\r\n", b"{\"plain\":1}"), false);
    let e = Client::<R>::new(options(&s.base))
        .unwrap()
        .get("/w")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ContentDecoding {
                problem: DecodeProblem::Corrupt,
                ..
            }
        ),
        "{e}"
    );

    // Codings on answers without a body mean nothing.
    for (status, method) in [
        ("204 No Content", Method::GET),
        ("304 Not Modified", Method::GET),
        ("200 OK", Method::HEAD),
    ] {
        let r = format!("HTTP/1.1 {status}\r\nContent-Encoding: gzip\r\nContent-Length: 40\r\nConnection: close\r\n\r\n");
        let s = serve(r.into_bytes(), false);
        let req = Request::builder(method.clone(), format!("{}/n", s.base))
            .max_redirects(0)
            .build()
            .unwrap();
        let resp = Client::<R>::new(options(&s.base))
            .unwrap()
            .request(req)
            .await
            .unwrap();
        assert!(resp.body().is_empty(), "{status} {method}");
    }

    // An event stream that asked for identity but got gzip: events arrive before the stream ends.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"data: one\n\n").unwrap();
    z.flush().unwrap();
    let first = z.get_ref().clone();
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n\r\n"
            .to_vec();
    r.extend_from_slice(&first);
    let s = serve(r, true);
    let c = Client::<R>::new(options(&s.base)).unwrap();
    let mut events = c.events(&format!("{}/event", s.base));
    let mut data = None;
    while let Some(ev) = events.next().await {
        match ev.unwrap() {
            StreamEvent::Event(e) => {
                data = Some(e.data);
                break;
            }
            StreamEvent::Connected | StreamEvent::Comment(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data.as_deref(), Some("one"));
    assert!(s
        .heads
        .recv()
        .unwrap()
        .contains("accept-encoding: identity\r\n"));
    events.abort();
}

#[test]
fn hostile_bodies_bomb_is_about_a_kilobyte() {
    let b = bomb();
    eprintln!("bomb: {} bytes on the wire for 10 GB decoded", b.len());
    assert!(b.len() < 4096, "{}", b.len());
}

#[test]
fn hostile_bodies_tokio() {
    let b = bomb();
    plue_http_tests::tokio_rt().block_on(cases::<plue_http::tokio::TokioRuntime>(&b));
}

#[test]
fn hostile_bodies_smol() {
    let b = bomb();
    smol::block_on(cases::<plue_http::smol::SmolRuntime>(&b));
}

#[test]
fn hostile_bodies_mio_bomb_and_truncation() {
    let b = bomb();
    let s = serve(reply("Content-Encoding: gzip, gzip, gzip\r\n", &b), false);
    let c = plue_http::mio::Client::new(options(&s.base)).unwrap();
    let e = c.get("/bomb").unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::TooLarge {
            limit: Limit::DecompressionRatio,
            max: 100
        }
    );
    let z = gzip(b"abc");
    let s = serve(
        reply("Content-Encoding: gzip\r\n", &z[..z.len() - 2]),
        false,
    );
    let e = plue_http::mio::Client::new(options(&s.base))
        .unwrap()
        .get("/t")
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ContentDecoding {
                problem: DecodeProblem::Truncated,
                ..
            }
        ),
        "{e}"
    );
}
