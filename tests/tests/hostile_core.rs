//! Hostile and broken servers at the core: the `ClientMachine` on a virtual clock, no sockets. The same cases as
//! `hostile.rs` (which runs them over loopback through the tokio and mio clients), plus exact deadlines: every
//! case ends in one typed `Failed` within its deadline of virtual time, the machine never holds more than its
//! limits, and the next request opens a new connection.

use std::time::Duration;

use plue_http::core::client::{ClientMachine, ConnId, Event, Input, Output};
use plue_http::core::error::{Limit, NetError, Phase, Violation};
use plue_http::core::time::Instant;
use plue_http::{ErrorKind, Method, Options, Request};

const BODY_LIMIT: u64 = 1 << 20;

fn options() -> Options {
    Options {
        base_url: Some("http://127.0.0.1:8080".into()),
        max_retries: 0,
        read_timeout: Some(Duration::from_secs(2)),
        timeout: Some(Duration::from_secs(5)),
        max_body_size: BODY_LIMIT,
        ..Options::default()
    }
}

/// What the server does after the request arrived.
enum Server {
    /// Send these bytes, then keep the connection open (silent).
    Hold(Vec<u8>),
    /// Send these bytes, then close.
    Close(Vec<u8>),
    /// Send this head, then `chunk` again and again (as fast as the client reads).
    Endless(Vec<u8>, Vec<u8>),
    /// Send these bytes one per virtual second.
    Drip(Vec<u8>),
}

/// The run of one request against one server behaviour.
struct Run {
    result: Result<Vec<u8>, ErrorKind>,
    /// Virtual time at the terminal event.
    at: Duration,
    /// Bytes the server got to deliver before the client gave up.
    delivered: u64,
    conn: ConnId,
}

struct Driver {
    m: ClientMachine,
    now: Instant,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            m: ClientMachine::new(options(), 3).unwrap(),
            now: Instant::ZERO,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(Instant::ZERO)
    }

    /// Drive one GET through `server`, answering the machine's outputs like a driver would.
    fn get(&mut self, path: &str, server: &Server) -> Run {
        let start = self.elapsed();
        let req = Request::builder(Method::GET, format!("http://127.0.0.1:8080{path}"))
            .build()
            .unwrap();
        let id = self.m.request(self.now, req);
        let mut conn = None;
        let mut reading = false;
        let mut to_send: Vec<u8> = Vec::new();
        let mut sent_all = false;
        let mut closed = false;
        let mut body = Vec::new();
        let mut delivered = 0u64;
        let mut drip_at = 0usize;
        loop {
            // Drain outputs until Wait.
            let wait = loop {
                let out = self.m.poll_output(self.now);
                if std::env::var("TRACE").is_ok() {
                    eprintln!("{:?} {path} {out:?}", self.elapsed());
                }
                match out {
                    Output::Wait(deadline) => break deadline,
                    Output::Connect { conn: c, .. } => {
                        conn = Some(c);
                        self.m.handle_input(self.now, Input::Connected(c));
                    }
                    Output::Transmit { conn: c, data } => {
                        if conn.is_none() {
                            // A pooled connection, reused: it was granted reads while idle.
                            conn = Some(c);
                            reading = true;
                        }
                        assert_eq!(Some(c), conn);
                        self.m.handle_input(self.now, Input::Written(c, data.len()));
                        if !sent_all {
                            sent_all = true;
                            to_send = match server {
                                Server::Hold(b) | Server::Close(b) | Server::Endless(b, _) => {
                                    b.clone()
                                }
                                Server::Drip(_) => Vec::new(),
                            };
                        }
                    }
                    Output::Read(c) if Some(c) == conn => reading = true,
                    Output::PauseRead(c) if Some(c) == conn => reading = false,
                    Output::Close(c) if Some(c) == conn => closed = true,
                    Output::Event(Event::Body { id: i, data }) if i == id => {
                        body.extend_from_slice(&data)
                    }
                    Output::Event(Event::Done { id: i }) if i == id => {
                        return Run {
                            result: Ok(body),
                            at: self.elapsed() - start,
                            delivered,
                            conn: conn.unwrap(),
                        };
                    }
                    Output::Event(Event::Failed { id: i, error }) if i == id => {
                        return Run {
                            result: Err(error.kind().clone()),
                            at: self.elapsed() - start,
                            delivered,
                            conn: conn.unwrap(),
                        };
                    }
                    _ => {}
                }
            };
            let c = conn.expect("the machine opened a connection");
            assert!(
                self.elapsed() - start < Duration::from_secs(60),
                "no terminal event after 60 virtual s"
            );
            if closed || !reading || !sent_all {
                self.advance(wait);
                continue;
            }
            // Deliver what the server has, in 16 KiB reads.
            if !to_send.is_empty() {
                let n = to_send.len().min(16 * 1024);
                let chunk: Vec<u8> = to_send.drain(..n).collect();
                delivered += n as u64;
                self.m.handle_input(self.now, Input::Data(c, &chunk));
                continue;
            }
            match server {
                Server::Close(_) => {
                    self.m.handle_input(self.now, Input::Eof(c));
                    closed = true;
                }
                Server::Endless(_, chunk) => to_send.extend_from_slice(chunk),
                Server::Drip(bytes) => {
                    if drip_at < bytes.len() {
                        self.now = self.now.checked_add(Duration::from_secs(1)).unwrap();
                        if wait.is_some_and(|w| w <= self.now) {
                            self.m.handle_input(self.now, Input::Timeout);
                        }
                        delivered += 1;
                        self.m
                            .handle_input(self.now, Input::Data(c, &bytes[drip_at..=drip_at]));
                        drip_at += 1;
                    } else {
                        self.advance(wait);
                    }
                }
                Server::Hold(_) => self.advance(wait),
            }
        }
    }

    fn advance(&mut self, wait: Option<Instant>) {
        let to = wait.expect("nothing to wait for: the machine would hang");
        self.now = self.now.max(to);
        self.m.handle_input(self.now, Input::Timeout);
    }
}

fn head(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{extra}\r\n").into_bytes()
}

fn invalid(v: Violation) -> ErrorKind {
    ErrorKind::InvalidResponse { violation: v }
}

const GOOD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Run `server` for the first request, check its outcome and deadline, then check the next request gets a new
/// connection.
fn check(name: &str, server: Server, expect: Result<&[u8], ErrorKind>, deadline: Duration) {
    check_reuse(name, server, expect, deadline, false)
}

/// [`check`], allowing the next request to reuse the connection when `reusable` (an intact keep-alive response).
fn check_reuse(
    name: &str,
    server: Server,
    expect: Result<&[u8], ErrorKind>,
    deadline: Duration,
    reusable: bool,
) {
    let mut d = Driver::new();
    let run = d.get("/first", &server);
    match (&expect, &run.result) {
        (Ok(want), Ok(got)) => assert_eq!(got.as_slice(), *want, "{name}"),
        (Err(want), Err(got)) => assert_eq!(got, want, "{name}"),
        _ => panic!("{name}: got {:?}, want {expect:?}", run.result),
    }
    assert!(
        run.at <= deadline,
        "{name}: ended after {:?} of virtual time (deadline {deadline:?})",
        run.at
    );
    assert!(
        run.delivered <= BODY_LIMIT + 64 * 1024,
        "{name}: the client read {} bytes",
        run.delivered
    );
    let next = d.get("/second", &Server::Close(GOOD.to_vec()));
    assert_eq!(next.result, Ok(b"ok".to_vec()), "{name}");
    if !reusable {
        assert_ne!(
            next.conn, run.conn,
            "{name}: the broken connection was reused"
        );
    }
    assert!(d.m.open_connections() <= 1, "{name}");
}

#[test]
fn hostile_core_framing_attacks() {
    let none = Duration::ZERO;
    check(
        "cl_and_te",
        Server::Hold(head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
        Err(invalid(Violation::ContentLengthWithTransferEncoding)),
        none,
    );
    check(
        "unequal_cl",
        Server::Hold(head("Content-Length: 2\r\nContent-Length: 3\r\n")),
        Err(invalid(Violation::InvalidContentLength)),
        none,
    );
    check(
        "chunked_not_last",
        Server::Close([head("Transfer-Encoding: chunked, gzip\r\n"), b"zz".to_vec()].concat()),
        Ok(b"zz"),
        none,
    );
    check(
        "bare_cr",
        Server::Hold(b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok".to_vec()),
        Err(invalid(Violation::InvalidHeader)),
        none,
    );
    // Issue 20 item 4: a folded framing header is a framing error.
    check(
        "obs_fold",
        Server::Hold(head("Content-Length: 2\r\n 3\r\n")),
        Err(invalid(Violation::InvalidContentLength)),
        none,
    );
    check(
        "obs_fold_in_transfer_encoding",
        Server::Hold(head("Transfer-Encoding: gzip,\r\n chunked\r\n")),
        Err(invalid(Violation::InvalidTransferEncoding)),
        none,
    );
    check(
        "tls",
        Server::Hold(b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03".to_vec()),
        Err(invalid(Violation::InvalidVersion)),
        none,
    );
    check(
        "unrequested_101",
        Server::Hold(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec()),
        Err(invalid(Violation::UnexpectedSwitchingProtocols)),
        none,
    );
    check(
        "garbage_after_response",
        Server::Hold(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE".to_vec()),
        Ok(b"ok"),
        none,
    );
}

/// Issue 20 items 1–3 at the core: an empty `Transfer-Encoding` element is a framing error and the connection is
/// never reused; empty lines before the status line and obs-fold in a plain header are tolerated.
#[test]
fn hostile_core_issue20_framing_edge_cases() {
    let none = Duration::ZERO;
    for te in ["chunked,", ", chunked", "gzip,,chunked"] {
        check(
            &format!("te {te:?}"),
            Server::Hold(
                [
                    head(&format!("Transfer-Encoding: {te}\r\n")),
                    b"2\r\nok\r\n0\r\n\r\n".to_vec(),
                ]
                .concat(),
            ),
            Err(invalid(Violation::InvalidTransferEncoding)),
            none,
        );
    }
    check_reuse(
        "empty_lines_before_status",
        Server::Hold(b"\r\n\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()),
        Ok(b"ok"),
        none,
        true,
    );
    check_reuse(
        "obs_fold_in_plain_header",
        Server::Hold(
            head("X-Folded: a\r\n b\r\nContent-Length: 2\r\n")
                .into_iter()
                .chain(*b"ok")
                .collect(),
        ),
        Ok(b"ok"),
        none,
        true,
    );
    check(
        "too_many_empty_lines",
        Server::Hold([b"\r\n".repeat(9), GOOD.to_vec()].concat()),
        Err(invalid(Violation::MalformedHead)),
        none,
    );
}

#[test]
fn hostile_core_resource_attacks() {
    let none = Duration::ZERO;
    let huge = head(&format!("X-Big: {}\r\n", "a".repeat(100 * 1024)));
    check(
        "huge_head",
        Server::Hold(huge),
        Err(ErrorKind::TooLarge {
            limit: Limit::HeadSize,
            max: 64 * 1024,
        }),
        none,
    );
    check(
        "ten_gb_content_length",
        Server::Endless(
            head("Content-Length: 10000000000\r\n"),
            vec![b'x'; 16 * 1024],
        ),
        Err(ErrorKind::TooLarge {
            limit: Limit::BodySize,
            max: BODY_LIMIT,
        }),
        none,
    );
    check(
        "endless_chunk",
        Server::Endless(
            [
                head("Transfer-Encoding: chunked\r\n"),
                b"fffffffffff\r\n".to_vec(),
            ]
            .concat(),
            vec![b'x'; 16 * 1024],
        ),
        Err(ErrorKind::TooLarge {
            limit: Limit::BodySize,
            max: BODY_LIMIT,
        }),
        none,
    );
    check(
        "endless_chunk_size_line",
        Server::Endless(
            head("Transfer-Encoding: chunked\r\n"),
            b"1111111111111111".to_vec(),
        ),
        Err(ErrorKind::TooLarge {
            limit: Limit::ChunkLine,
            max: 4096,
        }),
        none,
    );
}

#[test]
fn hostile_core_slow_servers_hit_their_deadlines_exactly() {
    // One byte per second never trips the 2 s read timeout; the 5 s whole-request timeout ends it at 5 s.
    check(
        "drip",
        Server::Drip([head("Content-Length: 1000\r\n"), vec![b'x'; 1000]].concat()),
        Err(ErrorKind::Timeout {
            phase: Phase::Request,
        }),
        Duration::from_secs(5),
    );
    // A head that never ends: the read timeout (2 s) fires.
    check(
        "head_never_ends",
        Server::Hold(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n".to_vec()),
        Err(ErrorKind::Timeout {
            phase: Phase::ResponseHead,
        }),
        Duration::from_secs(2),
    );
    // A body that stops: BodyIdle after 2 s of silence.
    check(
        "body_stalls",
        Server::Hold([head("Content-Length: 10\r\n"), b"abc".to_vec()].concat()),
        Err(ErrorKind::Timeout {
            phase: Phase::BodyIdle,
        }),
        Duration::from_secs(2),
    );
}

#[test]
fn hostile_core_close_at_every_byte_offset() {
    for full in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let head_end = full.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for cut in 0..=full.len() {
            let expect = if cut == full.len() {
                Ok(&b"hello"[..])
            } else if cut < head_end {
                Err(ErrorKind::ConnectionFailed {
                    cause: NetError::Closed,
                })
            } else {
                Err(invalid(Violation::IncompleteBody))
            };
            // Only the intact response leaves a reusable connection (its close is not seen yet).
            let intact = cut == full.len();
            check_reuse(
                &format!("cut {cut}"),
                Server::Close(full[..cut].to_vec()),
                expect,
                Duration::ZERO,
                intact,
            );
        }
    }
}
