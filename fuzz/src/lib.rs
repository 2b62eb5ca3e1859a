//! Fuzz targets for plue-http-core, shared by the libFuzzer entry points (`fuzz_targets/`, run with `cargo fuzz`)
//! and the stable-toolchain harness (`src/bin/harness.rs`, structured generation + mutation + arbitrary bytes).
//!
//! Every target takes raw bytes, decodes them into a scenario with a few control bytes in front, and checks
//! invariants with `assert!`: a panic is a crash. Invariants checked:
//!
//! - **no panic** on any input;
//! - **split invariance**: feeding the input in arbitrary pieces gives the same events as one read;
//! - **bounded buffering**: what a decoder keeps between reads never exceeds its largest limit;
//! - **protocol bookkeeping**: exactly one terminal event per pipelined request, responses in FIFO order, no
//!   body for `HEAD`, no SSE event larger than its limit, an accepted request encodes to a head `httparse`
//!   parses back to the same method, target and headers.

use bytes::BytesMut;
use http::Method;
use plue_http_core::h1::{
    encode_request, ConnEvent, Decoded, H1Connection, Limits, ResponseDecoder,
};
use plue_opencode::{ApiErrorKind, Event, GlobalEvent};
use plue_http_core::sse::{SseDecoder, SseItem};
use plue_http_core::{ApiError, ErrorKind, Request, RequestBuilder, Url};

/// Small limits, so the limit paths are reached by short inputs.
pub const SMALL: Limits = Limits {
    max_head_size: 256,
    max_headers: 8,
    max_chunk_line: 16,
    max_trailer_size: 64,
};

fn bound(l: &Limits) -> usize {
    l.max_head_size
        .max(l.max_chunk_line)
        .max(l.max_trailer_size)
}

/// Cut `input` into pieces whose sizes come from a tiny LCG seeded by `seed` (1..=17 bytes, sometimes larger).
pub fn pieces(input: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let r = (state >> 16) as usize;
        let n = if r.is_multiple_of(8) {
            1 + r % 300
        } else {
            1 + r % 17
        };
        let n = n.min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// h1_stream: a pipelined connection (H1Connection) over a whole response stream.

/// Events with consecutive body slices of one request merged (slicing depends on how bytes arrived).
fn push_conn_event(out: &mut Vec<ConnEvent<u8>>, ev: ConnEvent<u8>) {
    if let ConnEvent::Body(tag, b) = &ev {
        if let Some(ConnEvent::Body(last, prev)) = out.last_mut() {
            if last == tag {
                let mut joined = BytesMut::from(&prev[..]);
                joined.extend_from_slice(b);
                *prev = joined.freeze();
                return;
            }
        }
    }
    out.push(ev);
}

fn run_conn(limits: Limits, methods: &[Method], parts: &[&[u8]]) -> Vec<ConnEvent<u8>> {
    let mut conn: H1Connection<u8> = H1Connection::new(limits);
    let mut out = BytesMut::new();
    for (tag, m) in methods.iter().enumerate() {
        let req = Request::builder(m.clone(), "http://h/")
            .build()
            .expect("valid request");
        conn.send(tag as u8, &req, "fuzz", &mut out);
    }
    let mut events = Vec::new();
    let drain = |conn: &mut H1Connection<u8>, events: &mut Vec<ConnEvent<u8>>| {
        while let Some(e) = conn.poll_event() {
            push_conn_event(events, e);
        }
    };
    drain(&mut conn, &mut events);
    for p in parts {
        conn.handle_data(p);
        drain(&mut conn, &mut events);
        assert!(
            conn.buffered() < bound(&limits).max(1) + 8,
            "connection buffered {} bytes (limits {limits:?})",
            conn.buffered()
        );
    }
    conn.handle_eof();
    drain(&mut conn, &mut events);
    assert_eq!(conn.in_flight(), 0, "requests left in flight after EOF");
    assert!(
        !conn.can_send(),
        "a connection that saw EOF must refuse sends"
    );
    events
}

/// Check the per-request bookkeeping of one connection's events.
fn check_conn_events(methods: &[Method], events: &[ConnEvent<u8>], input_len: usize) {
    let n = methods.len();
    let mut terminal = vec![0u32; n];
    let mut head_seen = vec![false; n];
    let mut next_done = 0usize;
    let mut failed = 0;
    let mut body_total = 0usize;
    for e in events {
        match e {
            ConnEvent::Head(t, _) => {
                let t = usize::from(*t);
                assert!(!head_seen[t], "two final heads for request {t}");
                assert_eq!(terminal[t], 0, "head after the end of request {t}");
                assert_eq!(
                    t, next_done,
                    "head for {t} while {next_done} is answered first (FIFO)"
                );
                head_seen[t] = true;
            }
            ConnEvent::Body(t, b) => {
                let t = usize::from(*t);
                assert!(head_seen[t], "body before head for request {t}");
                assert_ne!(methods[t], Method::HEAD, "a HEAD response got a body");
                body_total += b.len();
            }
            ConnEvent::Done(t) => {
                let t = usize::from(*t);
                assert!(head_seen[t], "done without head for request {t}");
                assert_eq!(t, next_done, "done out of order");
                terminal[t] += 1;
                next_done += 1;
            }
            ConnEvent::Failed {
                responding,
                unanswered,
                ..
            } => {
                failed += 1;
                for t in responding.iter().chain(unanswered.iter()) {
                    terminal[usize::from(*t)] += 1;
                }
                if let Some(r) = responding {
                    assert_eq!(
                        usize::from(*r),
                        next_done,
                        "the failing response is not the front one"
                    );
                }
            }
        }
    }
    assert!(failed <= 1, "{failed} Failed events on one connection");
    assert!(
        body_total <= input_len,
        "more body bytes ({body_total}) than input ({input_len})"
    );
    for (t, c) in terminal.iter().enumerate() {
        assert_eq!(*c, 1, "request {t} ended {c} times: {events:?}");
    }
}

/// Control bytes: `[0]` bit 7 small limits, bits 0–1 requests − 1, bits 2–5 which are HEAD; `[1]` split seed.
pub fn h1_stream(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let ctrl = data[0];
    let limits = if ctrl & 0x80 != 0 {
        SMALL
    } else {
        Limits::default()
    };
    let n = 1 + usize::from(ctrl & 3);
    let methods: Vec<Method> = (0..n)
        .map(|i| {
            if ctrl >> (2 + i) & 1 == 1 {
                Method::HEAD
            } else {
                Method::GET
            }
        })
        .collect();
    let stream = &data[2..];
    let whole = run_conn(limits, &methods, &[stream]);
    check_conn_events(&methods, &whole, stream.len());
    let split = run_conn(limits, &methods, &pieces(stream, data[1]));
    assert_eq!(whole, split, "split changed the events");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    if stream.len() <= 512 {
        let one_by_one = run_conn(limits, &methods, &bytes);
        assert_eq!(whole, one_by_one, "byte-by-byte changed the events");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// chunked: the response decoder on a chunked body (and on any body framing the fuzzer writes itself).

#[derive(Debug, PartialEq)]
enum Dec {
    Head(u16),
    Body(Vec<u8>),
    End(bool),
    Err(ErrorKind),
}

fn push_dec(out: &mut Vec<Dec>, d: Dec) {
    if let (Dec::Body(b), Some(Dec::Body(prev))) = (&d, out.last_mut()) {
        prev.extend_from_slice(b);
        return;
    }
    out.push(d);
}

fn run_decoder(limits: &Limits, method: &Method, parts: &[&[u8]]) -> Vec<Dec> {
    /// What one `decode` call did.
    enum Step {
        Item,
        Wait,
        Stop,
    }
    fn step(d: Result<Option<Decoded>, ErrorKind>, out: &mut Vec<Dec>) -> Step {
        match d {
            Ok(Some(Decoded::Head(h))) => push_dec(out, Dec::Head(h.status.as_u16())),
            Ok(Some(Decoded::Body(b))) => push_dec(out, Dec::Body(b.to_vec())),
            Ok(Some(Decoded::End { keep_alive })) => {
                push_dec(out, Dec::End(keep_alive));
                return Step::Stop;
            }
            Ok(None) => return Step::Wait,
            Err(e) => {
                push_dec(out, Dec::Err(e));
                return Step::Stop;
            }
        }
        Step::Item
    }
    let mut dec = ResponseDecoder::new(method, limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in parts {
        buf.extend_from_slice(p);
        loop {
            match step(dec.decode(&mut buf), &mut out) {
                Step::Item => {}
                Step::Wait => break,
                Step::Stop => return out,
            }
        }
        assert!(
            buf.len() < bound(limits) + 8,
            "decoder buffered {} bytes (limits {limits:?})",
            buf.len()
        );
    }
    loop {
        match step(dec.decode_eof(&mut buf), &mut out) {
            Step::Item => {}
            Step::Wait | Step::Stop => return out,
        }
    }
}

/// `[0]` bit 7 small limits, bit 6 HEAD, bits 0–1 pick the head written in front; `[1]` split seed.
pub fn chunked(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let ctrl = data[0];
    let limits = if ctrl & 0x80 != 0 {
        SMALL
    } else {
        Limits::default()
    };
    let method = if ctrl & 0x40 != 0 {
        Method::HEAD
    } else {
        Method::GET
    };
    let prefix: &[u8] = match ctrl & 3 {
        0 | 1 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        2 => b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        _ => b"",
    };
    let input = [prefix, &data[2..]].concat();
    let whole = run_decoder(&limits, &method, &[&input]);
    let split = run_decoder(&limits, &method, &pieces(&input, data[1]));
    assert_eq!(whole, split, "split changed the decoding");
    let mut heads = 0;
    for d in &whole {
        match d {
            Dec::Head(s) => {
                heads += 1;
                assert!(
                    *s >= 200 || *s == 101,
                    "an interim status {s} surfaced as the head"
                );
            }
            Dec::Body(b) => {
                assert_eq!(heads, 1, "body without a head");
                assert!(method != Method::HEAD, "HEAD response with a body");
                assert!(b.len() <= input.len());
            }
            Dec::End(_) | Dec::Err(_) => {}
        }
    }
    assert!(heads <= 1, "{heads} heads from one decoder");
}

// ---------------------------------------------------------------------------------------------------------------
// sse: the event-stream decoder.

fn run_sse(max: usize, parts: &[&[u8]], restart_at: Option<usize>) -> (Vec<SseItem>, String) {
    let mut dec = SseDecoder::new(max);
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if restart_at == Some(i) {
            dec.restart();
        }
        dec.feed(p);
        while let Some(item) = dec.poll() {
            out.push(item);
        }
    }
    dec.finish();
    while let Some(item) = dec.poll() {
        out.push(item);
    }
    (out, dec.last_event_id().to_string())
}

/// `[0]` picks `max_event_size`; `[1]` split seed; the rest is the stream.
pub fn sse(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let max = [8usize, 64, 1024, 1 << 20][usize::from(data[0] & 3)];
    let stream = &data[2..];
    let (whole, last_id) = run_sse(max, &[stream], None);
    let split = run_sse(max, &pieces(stream, data[1]), None);
    assert_eq!(
        (&whole, &last_id),
        (&split.0, &split.1),
        "split changed the items"
    );
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let one = run_sse(max, &bytes, None);
        assert_eq!(
            (&whole, &last_id),
            (&one.0, &one.1),
            "byte-by-byte changed the items"
        );
    }
    for item in &whole {
        match item {
            SseItem::Event(ev) => {
                // The limit counts wire bytes; invalid UTF-8 decodes to U+FFFD (3 bytes per bad byte at most).
                assert!(
                    ev.data.len() <= 3 * max,
                    "event of {} bytes passed limit {max}",
                    ev.data.len()
                );
                assert!(
                    !ev.event.is_empty(),
                    "empty event type (must default to message)"
                );
                assert!(!ev.id.contains('\0'), "an id containing NUL was accepted");
                assert!(!ev.event.contains(['\r', '\n']) && !ev.id.contains(['\r', '\n']));
            }
            SseItem::TooLarge { max: m } => assert_eq!(*m, max),
            SseItem::Comment(c) => assert!(!c.contains(['\r', '\n'])),
            SseItem::Retry(_) => {}
        }
    }
    // A reconnect in the middle never panics and keeps the decoder usable.
    let ps = pieces(stream, data[1]);
    let _ = run_sse(max, &ps, Some(ps.len() / 2));
}

// ---------------------------------------------------------------------------------------------------------------
// request: URL parsing, header / method / query validation, and the encoded head.

fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == 0xFF).collect()
}

fn has_ctl(b: &[u8]) -> bool {
    b.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0)
}

/// Fields separated by 0xFF: method, url, header name, header value, query key, query value, body, base.
pub fn request(data: &[u8]) {
    let f = fields(data);
    let get = |i: usize| f.get(i).copied().unwrap_or(b"");
    let text = |i: usize| String::from_utf8_lossy(get(i)).into_owned();

    // URL parsing alone: never panics; a parsed URL re-parses to itself and never shows its password.
    let url_text = text(1);
    if let Ok(url) = Url::parse(&url_text) {
        let redacted = url.redacted();
        if let Some((_, pass)) = url.credentials() {
            // (Unless the path or host itself spells the password: that text is not the credential.)
            let elsewhere = url.path_and_query().contains(pass) || url.host().contains(pass);
            let authority = &redacted[..redacted.len() - url.path_and_query().len()];
            assert!(!authority.contains('@'), "userinfo in {redacted}");
            if pass.len() >= 4 && !elsewhere {
                assert!(!redacted.contains(pass), "password in {redacted}");
            }
        }
        let host = url.host();
        if !host.starts_with('[') {
            assert!(
                !host.contains(['[', ']', '@', ' ', '/', '?', '#']),
                "host {host:?} accepted"
            );
        }
        let target = url.path_and_query();
        assert!(
            !has_ctl(target.as_bytes()),
            "control byte in request target {target:?}"
        );
        assert!(!target.contains(' '), "space in request target {target:?}");
    }
    let base = Url::parse(&text(7)).ok();
    let mut b = RequestBuilder::new(Method::GET, url_text.clone()).base(base.as_ref());
    if !get(0).is_empty() {
        b = b.method_str(&text(0));
    }
    if !get(2).is_empty() || !get(3).is_empty() {
        b = b.header(get(2), get(3));
    }
    if !get(4).is_empty() {
        b = b.query(text(4), text(5));
    }
    if !get(6).is_empty() {
        b = b.body(get(6).to_vec());
    }
    let req = match b.build() {
        Ok(r) => r,
        Err(e) => {
            // Refusals name what they refuse.
            let msg = e.to_string();
            assert!(!msg.is_empty());
            if has_ctl(get(2)) || has_ctl(get(3)) {
                assert!(
                    matches!(
                        e,
                        ErrorKind::InvalidHeader { .. }
                            | ErrorKind::InvalidRequest { .. }
                            | ErrorKind::InvalidUrl { .. }
                            | ErrorKind::UnsupportedScheme { .. }
                    ),
                    "bad header refused with {e:?}"
                );
            }
            return;
        }
    };
    assert!(
        !has_ctl(get(2)) && !has_ctl(get(3)),
        "a header with CR/LF/NUL was accepted"
    );
    let mut out = BytesMut::new();
    encode_request(&req, "fuzz/1", &mut out);
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let status = parsed.parse(&out).unwrap_or_else(|e| {
        panic!(
            "encoded request does not parse ({e}): {:?}",
            String::from_utf8_lossy(&out)
        )
    });
    let httparse::Status::Complete(head_len) = status else {
        panic!(
            "encoded request head incomplete: {:?}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(parsed.method, Some(req.method().as_str()));
    assert_eq!(parsed.path, Some(req.url().path_and_query().as_str()));
    assert_eq!(
        &out[head_len..],
        req.body().as_bytes(),
        "body differs from what was given"
    );
    let lengths: Vec<&[u8]> = parsed
        .headers
        .iter()
        .filter(|h| {
            h.name.eq_ignore_ascii_case("content-length")
                || h.name.eq_ignore_ascii_case("transfer-encoding")
        })
        .map(|h| h.value)
        .collect();
    assert!(
        lengths.len() <= 1,
        "several framing headers sent: {lengths:?}"
    );
    for (name, value) in req.headers() {
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            // Framing is the encoder's: the caller's values are replaced by the body's real framing.
            continue;
        }
        let found = parsed.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name.as_str())
                && h.value.trim_ascii() == value.as_bytes().trim_ascii()
        });
        assert!(found, "header {name} lost in encoding");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// error_body: error bodies and OpenCode event payloads.

/// `[0..2]` status; the rest is the body / payload.
pub fn error_body(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]);
    let body = &data[2..];
    let e = ApiError::from_body(status, body);
    assert_eq!(e.status, status);
    assert!(
        e.body.len() <= 3 * 4096,
        "raw body kept unbounded: {} bytes",
        e.body.len()
    );
    let _ = ApiErrorKind::of(&e);
    let _ = e.to_string();
    let text = String::from_utf8_lossy(body);
    match Event::parse(&text) {
        Ok(ev) => {
            let _ = (ev.kind(), ev.session_id(), ev.is_connected());
        }
        Err(err) => {
            let msg = err.to_string();
            assert!(msg.len() < 2048, "error message of {} bytes", msg.len());
        }
    }
    if let Ok(g) = GlobalEvent::parse(&text) {
        let _ = g.payload.kind();
    }
}
