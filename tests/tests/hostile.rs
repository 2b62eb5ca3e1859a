//! Hostile and broken servers over real loopback, through the tokio, smol and mio clients.
//!
//! Every case: the first request gets a typed error (never a panic, never a hang: the whole-request timeout
//! bounds it), the server never writes much more than the body limit (memory stays bounded: the client stopped
//! reading), and the next request goes out on a **new** connection — the broken one is never reused.

use std::time::{Duration, Instant};

use plue_http::core::error::{Limit, NetError, Phase, Violation};
use plue_http::{Error, ErrorKind, Options};
use plue_http_tests::hostile::{Hostile, Script, Step};

const BODY_LIMIT: u64 = 1 << 20;

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        max_retries: 0,
        retry_delay: Duration::from_millis(5),
        read_timeout: Some(Duration::from_millis(2500)),
        timeout: Some(Duration::from_secs(4)),
        max_body_size: BODY_LIMIT,
        ..Options::default()
    }
}

fn invalid(v: Violation) -> ErrorKind {
    ErrorKind::InvalidResponse { violation: v }
}

struct Case {
    name: &'static str,
    script: Script,
    /// The first request's outcome: `Ok(body)` when the response itself is valid (garbage comes after it, or
    /// the body runs to the close).
    expect: Result<&'static [u8], fn(&ErrorKind) -> bool>,
}

fn head(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{extra}\r\n").into_bytes()
}

fn cases() -> Vec<Case> {
    let huge_head = [head(&format!("X-Big: {}\r\n", "a".repeat(100 * 1024))).as_slice()].concat();
    vec![
        Case {
            name: "content_length_with_transfer_encoding",
            script: Script::write_hold(&head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
            expect: Err(|k| *k == invalid(Violation::ContentLengthWithTransferEncoding)),
        },
        Case {
            name: "unequal_duplicate_content_length",
            script: Script::write_hold(&head("Content-Length: 2\r\nContent-Length: 3\r\n")),
            expect: Err(|k| *k == invalid(Violation::InvalidContentLength)),
        },
        Case {
            // RFC 9112 §6.3: chunked not last ⇒ the body runs to the close (and the connection is not reused).
            name: "chunked_not_last",
            script: Script::write_close(&[head("Transfer-Encoding: chunked, gzip\r\n"), b"zz".to_vec()].concat()),
            expect: Ok(b"zz"),
        },
        Case {
            name: "bare_cr",
            script: Script::write_hold(b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok"),
            expect: Err(|k| {
                matches!(k, ErrorKind::InvalidResponse { violation: Violation::InvalidHeader | Violation::MalformedHead })
            }),
        },
        Case {
            // Issue 20 item 4: a folded framing header is a framing error.
            name: "obs_fold_in_content_length",
            script: Script::write_hold(&head("Content-Length: 2\r\n 3\r\n")),
            expect: Err(|k| *k == invalid(Violation::InvalidContentLength)),
        },
        Case {
            name: "obs_fold_in_transfer_encoding",
            script: Script::write_hold(&head("Transfer-Encoding:\r\n chunked\r\n")),
            expect: Err(|k| *k == invalid(Violation::InvalidTransferEncoding)),
        },
        Case {
            // Issue 20 item 1: never read as chunked, never reused.
            name: "transfer_encoding_trailing_comma",
            script: Script::write_hold(&[head("Transfer-Encoding: chunked,\r\n"), b"2\r\nok\r\n0\r\n\r\n".to_vec()].concat()),
            expect: Err(|k| *k == invalid(Violation::InvalidTransferEncoding)),
        },
        Case {
            name: "transfer_encoding_leading_comma",
            script: Script::write_hold(&[head("Transfer-Encoding: , chunked\r\n"), b"2\r\nok\r\n0\r\n\r\n".to_vec()].concat()),
            expect: Err(|k| *k == invalid(Violation::InvalidTransferEncoding)),
        },
        Case {
            // Issue 20 item 2: RFC 9112 §2.2.
            name: "empty_lines_before_status_line",
            script: Script::write_close(b"\r\n\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            expect: Ok(b"ok"),
        },
        Case {
            // Issue 20 item 3: RFC 9112 §5.2.
            name: "obs_fold_in_plain_header",
            script: Script::write_close(b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok"),
            expect: Ok(b"ok"),
        },
        Case {
            name: "huge_head",
            script: Script::write_hold(&huge_head),
            expect: Err(|k| matches!(k, ErrorKind::TooLarge { limit: Limit::HeadSize, .. })),
        },
        Case {
            name: "ten_gigabyte_content_length",
            script: Script {
                steps: vec![
                    Step::Write(head("Content-Length: 10000000000\r\n")),
                    Step::Endless(vec![b'x'; 16 * 1024], 10_000_000_000),
                ],
            },
            expect: Err(|k| matches!(k, ErrorKind::TooLarge { limit: Limit::BodySize, .. })),
        },
        Case {
            // Issue 20 item 9: refused from the head, not after buffering (the body never comes: waiting for it
            // would end in a read timeout).
            name: "content_length_above_limit_refused_from_head",
            script: Script::write_hold(&head("Content-Length: 67108864\r\n")),
            expect: Err(|k| matches!(k, ErrorKind::TooLarge { limit: Limit::BodySize, .. })),
        },
        Case {
            name: "endless_chunk",
            script: Script {
                steps: vec![
                    Step::Write([head("Transfer-Encoding: chunked\r\n"), b"fffffffffff\r\n".to_vec()].concat()),
                    Step::Endless(vec![b'x'; 16 * 1024], 10_000_000_000),
                ],
            },
            expect: Err(|k| matches!(k, ErrorKind::TooLarge { limit: Limit::BodySize, .. })),
        },
        Case {
            name: "endless_chunk_size_line",
            script: Script {
                steps: vec![
                    Step::Write(head("Transfer-Encoding: chunked\r\n")),
                    Step::Endless(b"1111111111111111".to_vec(), 1 << 30),
                ],
            },
            expect: Err(|k| {
                matches!(k, ErrorKind::TooLarge { limit: Limit::ChunkLine, .. })
                    || *k == invalid(Violation::InvalidChunkSize)
            }),
        },
        Case {
            name: "one_byte_per_second_drip",
            script: Script {
                steps: vec![Step::Drip(
                    [head("Content-Length: 1000\r\n"), vec![b'x'; 1000]].concat(),
                    Duration::from_secs(1),
                )],
            },
            expect: Err(|k| *k == ErrorKind::Timeout { phase: Phase::Request }),
        },
        Case {
            name: "head_never_ends",
            script: Script::write_hold(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n"),
            expect: Err(|k| *k == ErrorKind::Timeout { phase: Phase::ResponseHead }),
        },
        Case {
            name: "garbage_after_response",
            script: Script::write_hold(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE\r\n\r\n"),
            expect: Ok(b"ok"),
        },
        Case {
            name: "tls_bytes_on_plain_http",
            script: Script::write_hold(b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03\x5a\x5b"),
            expect: Err(|k| *k == invalid(Violation::InvalidVersion)),
        },
        Case {
            name: "unrequested_101",
            script: Script::write_hold(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
            ),
            expect: Err(|k| *k == invalid(Violation::UnexpectedSwitchingProtocols)),
        },
    ]
}

/// The client under test: one request at a time, blocking.
trait Blocking {
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), Error>;
}

struct Mio(plue_http::mio::Client);

impl Blocking for Mio {
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), Error> {
        self.0
            .get(path)
            .map(|r| (r.status().as_u16(), r.body().to_vec()))
    }
}

struct Tokio(plue_http::tokio::Client, tokio::runtime::Runtime);

impl Blocking for Tokio {
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), Error> {
        self.1
            .block_on(self.0.get(path))
            .map(|r| (r.status().as_u16(), r.body().to_vec()))
    }
}

struct Smol(plue_http::smol::Client);

impl Blocking for Smol {
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), Error> {
        smol::block_on(self.0.get(path)).map(|r| (r.status().as_u16(), r.body().to_vec()))
    }
}

fn tokio_client(opts: Options) -> Tokio {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = {
        let _guard = rt.enter();
        plue_http::tokio::Client::new(opts).unwrap()
    };
    Tokio(client, rt)
}

fn run_case(case: &Case, make: &(dyn Fn(Options) -> Box<dyn Blocking> + Sync)) {
    let server = Hostile::start(case.script.clone());
    let client = make(options(&server.base()));
    let start = Instant::now();
    let first = client.get("/first");
    let took = start.elapsed();
    match (&case.expect, &first) {
        (Ok(want), Ok((200, body))) => assert_eq!(body, want, "{}", case.name),
        (Err(pred), Err(e)) => assert!(
            pred(e.kind()),
            "{}: unexpected error {:?} ({e})",
            case.name,
            e.kind()
        ),
        _ => panic!("{}: unexpected outcome {first:?}", case.name),
    }
    // Bounded by the whole-request timeout (4 s) plus scheduling slack on a busy machine.
    assert!(
        took < Duration::from_secs(15),
        "{}: took {took:?}",
        case.name
    );
    if case.expect.is_ok() {
        // Let the garbage arrive while the connection is idle in the pool.
        std::thread::sleep(Duration::from_millis(200));
    }
    let second = client.get("/second");
    match &second {
        Ok((200, body)) => assert_eq!(body, b"ok", "{}", case.name),
        other => panic!("{}: the next request failed: {other:?}", case.name),
    }
    let conns = server.wait_conns(2);
    assert_eq!(conns.len(), 2, "{}: connections {conns:?}", case.name);
    assert_eq!(
        conns[0].requests.len(),
        1,
        "{}: the broken connection was reused: {conns:?}",
        case.name
    );
    assert_eq!(
        conns[1].requests,
        vec!["GET /second HTTP/1.1".to_string()],
        "{}",
        case.name
    );
    // Memory stays bounded: the client stopped reading soon after its body limit (socket buffers aside).
    assert!(
        conns[0].bytes_out < BODY_LIMIT + 16 * 1024 * 1024,
        "{}: server wrote {} bytes",
        case.name,
        conns[0].bytes_out
    );
}

fn all_cases(make: &(dyn Fn(Options) -> Box<dyn Blocking> + Sync)) {
    let cases = cases();
    std::thread::scope(|s| {
        for case in &cases {
            s.spawn(move || run_case(case, make));
        }
    });
}

#[test]
fn hostile_servers_mio() {
    all_cases(&|o| Box::new(Mio(plue_http::mio::Client::new(o).unwrap())));
}

#[test]
fn hostile_servers_tokio() {
    all_cases(&|o| Box::new(tokio_client(o)));
}

#[test]
fn hostile_servers_smol() {
    all_cases(&|o| Box::new(Smol(plue_http::smol::Client::new(o).unwrap())));
}

/// A response cut by a close at every byte offset: a typed error before the last byte, the response at it, and
/// the next request on a new connection each time.
fn close_at_every_offset(make: &(dyn Fn(Options) -> Box<dyn Blocking> + Sync)) {
    let responses: [&[u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ];
    for full in responses {
        for cut in 0..=full.len() {
            let server = Hostile::start(Script::write_close(&full[..cut]));
            let client = make(options(&server.base()));
            let first = client.get("/first");
            if cut == full.len() {
                assert_eq!(
                    first.as_ref().map(|r| r.1.as_slice()).ok(),
                    Some(&b"hello"[..]),
                    "cut {cut}"
                );
            } else {
                let e = first.expect_err("a cut response must fail");
                let head_end = full.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                // Inside the head the connection just ended (nothing usable came): a network error. Inside the
                // body the response is known to be incomplete.
                let ok = match e.kind() {
                    ErrorKind::ConnectionFailed { cause } | ErrorKind::MaybeProcessed { cause } => {
                        cut < head_end && matches!(cause, NetError::Closed | NetError::Reset)
                    }
                    ErrorKind::InvalidResponse { violation } => {
                        cut >= head_end && *violation == Violation::IncompleteBody
                    }
                    _ => false,
                };
                assert!(
                    ok,
                    "cut at {cut} of {:?}: {:?}",
                    String::from_utf8_lossy(full),
                    e.kind()
                );
            }
            let second = client.get("/second").expect("next request");
            assert_eq!(second.1, b"ok");
            let conns = server.wait_conns(2);
            assert_eq!(conns.len(), 2, "cut {cut}: {conns:?}");
            assert_eq!(conns[0].requests.len(), 1, "cut {cut}: reused");
        }
    }
}

#[test]
fn hostile_close_at_every_byte_offset_mio() {
    close_at_every_offset(&|o| Box::new(Mio(plue_http::mio::Client::new(o).unwrap())));
}

#[test]
fn hostile_close_at_every_byte_offset_tokio() {
    close_at_every_offset(&|o| Box::new(tokio_client(o)));
}
