//! quickcheck properties of the codec (issue 2): split-invariance, encode round trip, no panic and bounded
//! buffering on arbitrary bytes, pipelined sequences decoded in order.

use bytes::BytesMut;
use http::Method;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

use super::{encode_request, ConnEvent, Decoded, H1Connection, Limits, ResponseDecoder};
use crate::error::ErrorKind;
use crate::request::{Request, RequestBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    Close,
}

/// One generated response and what decoding it must give.
#[derive(Debug, Clone)]
struct Resp {
    interim: Vec<u16>,
    status: u16,
    head_request: bool,
    http10: bool,
    close: bool,
    framing: Framing,
    body: Vec<u8>,
    /// Chunk sizes for the chunked framing (cycled; 0 entries skipped).
    chunk_sizes: Vec<u8>,
    extensions: bool,
    trailers: bool,
    /// Empty lines before the final status line (RFC 9112 §2.2), `true` = CRLF, `false` = bare LF; between
    /// pipelined responses these are the stray empty lines a client skips.
    empty_lines: Vec<bool>,
    /// A non-framing header with an obs-fold continuation line (RFC 9112 §5.2).
    folded: bool,
}

fn pick<T: Copy>(g: &mut Gen, items: &[T]) -> T {
    *g.choose(items).expect("non-empty")
}

impl Resp {
    fn gen(g: &mut Gen, allow_close: bool) -> Resp {
        let framings: &[Framing] = if allow_close {
            &[Framing::Length, Framing::Chunked, Framing::Close]
        } else {
            &[Framing::Length, Framing::Chunked]
        };
        let body_len = usize::arbitrary(g) % 300;
        Resp {
            interim: (0..usize::arbitrary(g) % 3)
                .map(|_| pick(g, &[100, 102, 103]))
                .collect(),
            status: pick(g, &[200, 201, 204, 304, 404, 500]),
            head_request: u8::arbitrary(g) % 5 == 0,
            http10: u8::arbitrary(g) % 6 == 0,
            close: u8::arbitrary(g) % 6 == 0,
            framing: pick(g, framings),
            body: (0..body_len).map(|_| u8::arbitrary(g)).collect(),
            chunk_sizes: Vec::arbitrary(g),
            extensions: bool::arbitrary(g),
            trailers: bool::arbitrary(g),
            empty_lines: (0..usize::arbitrary(g) % 4)
                .map(|_| bool::arbitrary(g))
                .collect(),
            folded: u8::arbitrary(g) % 4 == 0,
        }
    }

    fn has_body(&self) -> bool {
        !self.head_request && self.status != 204 && self.status != 304
    }

    fn method(&self) -> Method {
        if self.head_request {
            Method::HEAD
        } else {
            Method::GET
        }
    }

    /// A close-delimited response only ends at EOF.
    fn needs_eof(&self) -> bool {
        self.has_body() && self.framing == Framing::Close
    }

    fn expected(&self) -> Expect {
        // HTTP/1.0 responses carry `Connection: keep-alive` unless `close` (see `encode`).
        let reusable = !self.close;
        Expect {
            status: self.status,
            body: if self.has_body() {
                self.body.clone()
            } else {
                vec![]
            },
            keep_alive: reusable && !self.needs_eof(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for code in &self.interim {
            out.extend_from_slice(format!("HTTP/1.1 {code} Interim\r\n").as_bytes());
            if *code == 103 {
                out.extend_from_slice(b"Link: </style.css>; rel=preload\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
        for crlf in &self.empty_lines {
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        let version = if self.http10 { "1.0" } else { "1.1" };
        out.extend_from_slice(
            format!("HTTP/{version} {} Reason\r\nServer: gen\r\n", self.status).as_bytes(),
        );
        if self.folded {
            out.extend_from_slice(b"X-Folded: first\r\n \tsecond\r\n");
        }
        // HTTP/1.0 keeps the connection only with `keep-alive`; 1.1 unless `close`.
        match (self.http10, self.close) {
            (true, false) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            (_, true) => out.extend_from_slice(b"Connection: close\r\n"),
            (false, false) => {}
        }
        let framed = self.status != 204 && self.status != 304;
        match self.framing {
            Framing::Length if framed => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes())
            }
            // HTTP/1.0 with Transfer-Encoding is faulty framing (forces close): keep it to 1.1 here.
            Framing::Chunked if framed && !self.http10 => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
            }
            Framing::Chunked if framed => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes())
            }
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        if !self.has_body() {
            return;
        }
        match self.framing {
            Framing::Chunked if !self.http10 => {
                let mut rest = &self.body[..];
                // Only non-zero sizes: cycling a filter over all-zero sizes would never yield (an endless test).
                let nonzero: Vec<usize> = self
                    .chunk_sizes
                    .iter()
                    .filter(|s| **s > 0)
                    .map(|s| usize::from(*s))
                    .collect();
                let mut sizes = nonzero.iter().cycle();
                while !rest.is_empty() {
                    let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
                    out.extend_from_slice(format!("{n:X}").as_bytes());
                    if self.extensions {
                        out.extend_from_slice(b" ;name=\"v;\\\"\"; flag");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n");
                if self.trailers {
                    out.extend_from_slice(b"X-Checksum: 1234\r\nX-Other:\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(&self.body),
        }
    }
}

impl Arbitrary for Resp {
    fn arbitrary(g: &mut Gen) -> Self {
        Resp::gen(g, true)
    }
}

/// A sequence of pipelined responses; only the last may be close-delimited or say close.
#[derive(Debug, Clone)]
struct Pipeline(Vec<Resp>);

impl Arbitrary for Pipeline {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = 1 + usize::arbitrary(g) % 5;
        Pipeline(
            (0..n)
                .map(|i| {
                    let last = i == n - 1;
                    let mut r = Resp::gen(g, last);
                    if !last {
                        r.close = false;
                        if r.http10 {
                            r.framing = Framing::Length;
                        }
                    }
                    r
                })
                .collect(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Expect {
    status: u16,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Cut `input` into pieces whose sizes come from `sizes` (cycled, each at least 1).
fn pieces<'a>(input: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s).max(1))
            .min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// Decode one response fed in `pieces`, then EOF when needed: (status, body, keep_alive) or the error.
fn decode_pieces(method: &Method, pieces: &[&[u8]], eof: bool) -> Result<Expect, ErrorKind> {
    let mut dec = ResponseDecoder::new(method, &Limits::default());
    let mut buf = BytesMut::new();
    let mut got = Expect {
        status: 0,
        body: vec![],
        keep_alive: false,
    };
    let handle = |d: Decoded, got: &mut Expect| match d {
        Decoded::Head(h) => got.status = h.status.as_u16(),
        Decoded::Body(b) => got.body.extend_from_slice(&b),
        Decoded::End { keep_alive } => got.keep_alive = keep_alive,
    };
    for p in pieces {
        buf.extend_from_slice(p);
        while let Some(d) = dec.decode(&mut buf)? {
            handle(d, &mut got);
        }
    }
    if eof {
        while let Some(d) = dec.decode_eof(&mut buf)? {
            handle(d, &mut got);
        }
    }
    assert!(dec.is_done(), "the response did not end");
    assert!(buf.is_empty(), "bytes left over");
    Ok(got)
}

fn quickcheck<A: quickcheck::Testable>(tests: u64, f: A) {
    QuickCheck::new()
        .tests(tests)
        .max_tests(tests * 10)
        .quickcheck(f);
}

#[test]
fn h1_prop_any_split_decodes_like_one_read() {
    fn prop(resp: Resp, sizes: Vec<u8>) -> bool {
        let mut input = Vec::new();
        resp.encode(&mut input);
        let eof = resp.needs_eof();
        let whole = decode_pieces(&resp.method(), &[&input], eof);
        let split = decode_pieces(&resp.method(), &pieces(&input, &sizes), eof);
        let bytewise = decode_pieces(&resp.method(), &pieces(&input, &[1]), eof);
        whole == Ok(resp.expected()) && split == whole && bytewise == whole
    }
    quickcheck(1000, prop as fn(Resp, Vec<u8>) -> bool);
}

/// A generated request: method, path segments, query, headers, body.
#[derive(Debug, Clone)]
struct Req {
    method: Method,
    path: Vec<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn token(g: &mut Gen, max: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    (0..1 + usize::arbitrary(g) % max)
        .map(|_| char::from(pick(g, CHARS)))
        .collect()
}

impl Arbitrary for Req {
    fn arbitrary(g: &mut Gen) -> Self {
        let method = pick(
            g,
            &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        );
        Req {
            method: Method::from_bytes(method.as_bytes()).expect("valid"),
            path: (0..usize::arbitrary(g) % 4).map(|_| token(g, 8)).collect(),
            query: (0..usize::arbitrary(g) % 3)
                .map(|_| (token(g, 5), String::arbitrary(g)))
                .collect(),
            headers: (0..usize::arbitrary(g) % 6)
                .map(|_| {
                    let name = pick(
                        g,
                        &[
                            "x-",
                            "content-length",
                            "transfer-encoding",
                            "user-agent",
                            "host",
                        ],
                    );
                    let name = if name == "x-" {
                        format!("x-{}", token(g, 10))
                    } else {
                        name.to_string()
                    };
                    let value: String = (0..usize::arbitrary(g) % 20)
                        .map(|_| char::from(0x20 + u8::arbitrary(g) % 0x5f))
                        .collect();
                    (name, value.trim().to_string())
                })
                .collect(),
            body: Option::<Vec<u8>>::arbitrary(g),
        }
    }
}

#[test]
fn h1_prop_encoded_request_parses_back() {
    fn prop(r: Req) -> TestResult {
        let url = format!("http://h.test:8080/{}", r.path.join("/"));
        let mut b = RequestBuilder::new(r.method.clone(), url);
        for (k, v) in &r.query {
            b = b.query(k, v);
        }
        for (k, v) in &r.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &r.body {
            b = b.body(body.clone());
        }
        let req: Request = match b.build() {
            Ok(req) => req,
            Err(_) => return TestResult::discard(),
        };
        let mut out = BytesMut::new();
        encode_request(&req, "Plue/1.0", &mut out);
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut slots);
        let Ok(httparse::Status::Complete(len)) = parsed.parse(&out) else {
            return TestResult::error(format!("did not parse: {out:?}"));
        };
        let sent: Vec<(String, Vec<u8>)> = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        let get = |n: &str| {
            sent.iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        // Caller headers, minus the framing ones the encoder owns, in order.
        let caller: Vec<(String, Vec<u8>)> = req
            .headers()
            .iter()
            .filter(|(n, _)| *n != "content-length" && *n != "transfer-encoding")
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        // What the encoder adds itself: framing, and Host / User-Agent when the caller did not set them.
        let added_by_encoder = |k: &str| match k {
            "content-length" => true,
            "host" | "user-agent" => !req.headers().contains_key(k),
            _ => false,
        };
        let sent_caller: Vec<(String, Vec<u8>)> = sent
            .iter()
            .filter(|(k, _)| !added_by_encoder(k))
            .cloned()
            .collect();
        let body = req.body().as_bytes();
        let expect_cl = match (req.body(), req.method().as_str()) {
            (crate::request::Body::Full(b), _) => vec![b.len().to_string().into_bytes()],
            (_, "POST" | "PUT" | "PATCH") => vec![b"0".to_vec()],
            _ => vec![],
        };
        let host = if req.headers().contains_key("host") {
            get("host")
        } else {
            vec![b"h.test:8080".to_vec()]
        };
        let ua_ok = req.headers().contains_key("user-agent")
            || get("user-agent") == vec![b"Plue/1.0".to_vec()];
        TestResult::from_bool(
            parsed.method == Some(req.method().as_str())
                && parsed.path == Some(req.url().path_and_query().as_str())
                && parsed.version == Some(1)
                && get("host") == host
                && ua_ok
                && get("content-length") == expect_cl
                && get("transfer-encoding").is_empty()
                && sent_caller == caller
                && &out[len..] == body,
        )
    }
    quickcheck(500, prop as fn(Req) -> TestResult);
}

/// Arbitrary bytes, optionally after a valid head so the body decoders see them too.
#[derive(Debug, Clone)]
struct Junk {
    prefix: u8,
    bytes: Vec<u8>,
    sizes: Vec<u8>,
}

impl Arbitrary for Junk {
    fn arbitrary(g: &mut Gen) -> Self {
        let len = usize::arbitrary(g) % 2000;
        // Mostly bytes that matter to the parsers, so the state machines get exercised.
        let alphabet = b"0123456789abcdefABCDEF;=\" \t\r\n:xHTP/1.";
        Junk {
            prefix: u8::arbitrary(g) % 4,
            bytes: (0..len)
                .map(|_| {
                    if bool::arbitrary(g) {
                        pick(g, alphabet)
                    } else {
                        u8::arbitrary(g)
                    }
                })
                .collect(),
            sizes: Vec::arbitrary(g),
        }
    }
}

const SMALL: Limits = Limits {
    max_head_size: 256,
    max_headers: 8,
    max_chunk_line: 16,
    max_trailer_size: 64,
};

#[test]
fn h1_prop_arbitrary_bytes_never_panic_and_stay_bounded() {
    fn prop(j: Junk) -> bool {
        let prefix: &[u8] = match j.prefix {
            0 => b"",
            1 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            2 => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            _ => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
        };
        let input = [prefix, &j.bytes].concat();
        let bound = SMALL
            .max_head_size
            .max(SMALL.max_chunk_line)
            .max(SMALL.max_trailer_size);
        // The decoder alone.
        let mut dec = ResponseDecoder::new(&Method::GET, &SMALL);
        let mut buf = BytesMut::new();
        for p in pieces(&input, &j.sizes) {
            buf.extend_from_slice(p);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) if !dec.is_done() && buf.len() >= bound => return false,
                    Ok(None) | Err(_) => break,
                }
            }
            if dec.is_done() {
                break;
            }
        }
        let _ = dec.decode_eof(&mut buf);
        // The connection, with a few requests in flight.
        let mut conn = H1Connection::new(SMALL);
        let req = Request::get("http://h/").expect("valid");
        let mut out = BytesMut::new();
        for tag in 0..3u8 {
            conn.send(tag, &req, "ua", &mut out);
        }
        let mut failed = 0;
        for p in pieces(&input, &j.sizes) {
            conn.handle_data(p);
            while let Some(e) = conn.poll_event() {
                failed += usize::from(matches!(e, ConnEvent::Failed { .. }));
            }
            if conn.buffered() >= bound {
                return false;
            }
        }
        conn.handle_eof();
        while let Some(e) = conn.poll_event() {
            failed += usize::from(matches!(e, ConnEvent::Failed { .. }));
        }
        failed <= 1 && conn.in_flight() == 0
    }
    quickcheck(1000, prop as fn(Junk) -> bool);
}

#[test]
fn h1_prop_pipelined_responses_decode_in_order() {
    fn prop(p: Pipeline, sizes: Vec<u8>) -> bool {
        let mut conn = H1Connection::new(Limits::default());
        let mut out = BytesMut::new();
        let mut input = Vec::new();
        for (tag, r) in p.0.iter().enumerate() {
            let req = RequestBuilder::new(r.method(), "http://h/")
                .build()
                .expect("valid");
            conn.send(tag, &req, "ua", &mut out);
            r.encode(&mut input);
        }
        let mut got: Vec<(usize, Expect)> = Vec::new();
        let mut events = Vec::new();
        for piece in pieces(&input, &sizes) {
            conn.handle_data(piece);
            events.extend(std::iter::from_fn(|| conn.poll_event()));
        }
        if p.0.last().is_some_and(Resp::needs_eof) {
            conn.handle_eof();
            events.extend(std::iter::from_fn(|| conn.poll_event()));
        }
        for e in events {
            match e {
                ConnEvent::Head(t, h) => got.push((
                    t,
                    Expect {
                        status: h.status.as_u16(),
                        body: vec![],
                        keep_alive: false,
                    },
                )),
                ConnEvent::Body(t, b) => match got.last_mut() {
                    Some((lt, e)) if *lt == t => e.body.extend_from_slice(&b),
                    _ => return false,
                },
                ConnEvent::Done(t) => match got.last_mut() {
                    Some((lt, _)) if *lt == t => {}
                    _ => return false,
                },
                ConnEvent::Failed { .. } => return false,
            }
        }
        let want: Vec<(usize, Expect)> =
            p.0.iter()
                .enumerate()
                .map(|(t, r)| {
                    let mut e = r.expected();
                    e.keep_alive = false;
                    (t, e)
                })
                .collect();
        let last_keeps = p.0.last().is_some_and(|r| r.expected().keep_alive);
        got == want && conn.in_flight() == 0 && conn.is_reusable() == last_keeps
    }
    quickcheck(500, prop as fn(Pipeline, Vec<u8>) -> bool);
}
