//! Bad input from the caller: CR, LF or NUL in header names or values, the method, the path or the query; invalid
//! URLs; a value that fails to serialize; an oversized body. Each is refused before a byte is sent — at the core
//! (the machine emits no `Connect`/`Transmit`) and over real loopback (the listener accepts no connection and
//! receives zero bytes) with the tokio and mio clients — and the error names the offending field.

use std::collections::BTreeMap;
use std::time::Duration;

use plue_http::core::client::{ClientMachine, Event, Output};
use plue_http::core::error::{JsonOp, Limit};
use plue_http::core::time::Instant;
use plue_http::{ErrorKind, Method, Options, Request, RequestBuilder};
use plue_http_tests::hostile::Hostile;

const BODY_LIMIT: u64 = 1024;

/// A caller mistake and how it must be refused.
struct Bad {
    name: &'static str,
    build: fn(&str) -> RequestBuilder,
    check: fn(&ErrorKind) -> bool,
}

fn header_named(k: &ErrorKind, expected: &str) -> bool {
    matches!(k, ErrorKind::InvalidHeader { name, .. } if name == expected)
}

fn b(base: &str, path: &str) -> RequestBuilder {
    RequestBuilder::new(Method::GET, format!("{base}{path}"))
}

fn bad_inputs() -> Vec<Bad> {
    vec![
        Bad {
            name: "cr_in_header_name",
            build: |u| b(u, "/").header("X-A\r", "v"),
            check: |k| header_named(k, "X-A\r"),
        },
        Bad {
            name: "lf_in_header_name",
            build: |u| b(u, "/").header("X-A\nB", "v"),
            check: |k| header_named(k, "X-A\nB"),
        },
        Bad {
            name: "nul_in_header_name",
            build: |u| b(u, "/").header("X\0", "v"),
            check: |k| header_named(k, "X\0"),
        },
        Bad {
            name: "cr_in_header_value",
            build: |u| b(u, "/").header("X-Smuggle", "a\r\nContent-Length: 0"),
            check: |k| header_named(k, "X-Smuggle"),
        },
        Bad {
            name: "lf_in_header_value",
            build: |u| b(u, "/").header("X-B", "a\nb"),
            check: |k| header_named(k, "X-B"),
        },
        Bad {
            name: "nul_in_header_value",
            build: |u| b(u, "/").header("X-C", "a\0b"),
            check: |k| header_named(k, "X-C"),
        },
        Bad {
            name: "space_in_header_name",
            build: |u| b(u, "/").header("Bad Name", "v"),
            check: |k| header_named(k, "Bad Name"),
        },
        Bad {
            name: "crlf_in_method",
            build: |u| b(u, "/").method_str("GET /x HTTP/1.1\r\n"),
            check: |k| {
                matches!(
                    k,
                    ErrorKind::InvalidRequest {
                        field: "method",
                        ..
                    }
                )
            },
        },
        Bad {
            name: "nul_in_method",
            build: |u| b(u, "/").method_str("GE\0T"),
            check: |k| {
                matches!(
                    k,
                    ErrorKind::InvalidRequest {
                        field: "method",
                        ..
                    }
                )
            },
        },
        Bad {
            name: "crlf_in_path",
            build: |u| b(u, "/a\r\nX-Injected: 1"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "lf_in_path",
            build: |u| b(u, "/a\nb"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "nul_in_path",
            build: |u| b(u, "/a\0"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "space_in_path",
            build: |u| b(u, "/a b"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "crlf_in_query",
            build: |u| b(u, "/a?q=\r\n"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "nul_in_query",
            build: |u| b(u, "/a?q=\0"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { .. }),
        },
        Bad {
            name: "invalid_url_port",
            build: |u| RequestBuilder::new(Method::GET, format!("{u}:99999/")),
            check: |k| matches!(k, ErrorKind::InvalidUrl { reason, .. } if reason.contains("port")),
        },
        Bad {
            name: "invalid_url_no_scheme",
            build: |_| RequestBuilder::new(Method::GET, "127.0.0.1/x"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { reason, .. } if reason.contains("scheme")),
        },
        Bad {
            name: "invalid_url_host_brackets",
            build: |_| RequestBuilder::new(Method::GET, "http://[::@1]:8080/"),
            check: |k| matches!(k, ErrorKind::InvalidUrl { reason, .. } if reason.contains("host")),
        },
        Bad {
            name: "unsupported_scheme",
            build: |_| RequestBuilder::new(Method::GET, "ftp://127.0.0.1/"),
            check: |k| matches!(k, ErrorKind::UnsupportedScheme { scheme } if scheme == "ftp"),
        },
        Bad {
            name: "value_fails_to_serialize",
            build: |u| {
                // JSON object keys must be strings: a map keyed by tuples cannot be serialized.
                let mut m = BTreeMap::new();
                m.insert((1, 2), "v");
                b(u, "/").json(&m)
            },
            check: |k| matches!(k, ErrorKind::Json { op: JsonOp::Encode, message, .. } if message.contains("key")),
        },
        Bad {
            name: "oversized_body",
            build: |u| {
                RequestBuilder::new(Method::POST, format!("{u}/upload")).body(vec![b'x'; 4096])
            },
            check: |k| {
                *k == ErrorKind::TooLarge {
                    limit: Limit::RequestBodySize,
                    max: BODY_LIMIT,
                }
            },
        },
    ]
}

fn options(base: &str) -> Options {
    Options {
        base_url: Some(base.to_string()),
        max_retries: 0,
        max_body_size: BODY_LIMIT,
        connect_timeout: Duration::from_secs(2),
        ..Options::default()
    }
}

/// The error message names what was refused (and never leaks a header value that could be a secret).
fn check_message(bad: &Bad, k: &ErrorKind) {
    let msg = k.to_string();
    assert!(!msg.is_empty(), "{}", bad.name);
    match k {
        ErrorKind::InvalidHeader { name, .. } => {
            assert!(msg.contains(&format!("{name:?}")), "{msg}")
        }
        ErrorKind::InvalidRequest { field, .. } => assert!(msg.contains(field), "{msg}"),
        _ => {}
    }
}

#[test]
fn bad_input_refused_by_the_core_before_any_output() {
    let now = Instant::ZERO;
    for bad in bad_inputs() {
        // Builder errors never reach the machine; the size check is the machine's.
        let built = (bad.build)("http://127.0.0.1:9");
        let req = match built.build() {
            Err(k) => {
                assert!((bad.check)(&k), "{}: wrong error {k:?}", bad.name);
                check_message(&bad, &k);
                continue;
            }
            Ok(req) => req,
        };
        let mut m = ClientMachine::new(options("http://127.0.0.1:9"), 7).unwrap();
        let id = m.request(now, req);
        let mut failed = None;
        loop {
            match m.poll_output(now) {
                Output::Wait(_) => break,
                Output::Event(Event::Failed { id: got, error }) => {
                    assert_eq!(got, id);
                    failed = Some(error);
                }
                other => panic!(
                    "{}: the core emitted {other:?} for a request it must refuse",
                    bad.name
                ),
            }
        }
        let err = failed.unwrap_or_else(|| panic!("{}: not refused", bad.name));
        assert!(
            (bad.check)(err.kind()),
            "{}: wrong error {:?}",
            bad.name,
            err.kind()
        );
        check_message(&bad, err.kind());
        assert_eq!(m.open_connections(), 0);
        assert_eq!(m.in_flight(), 0);
    }
}

#[test]
fn bad_input_query_parameters_are_encoded_not_refused() {
    // Query parameters given separately are data: CR, LF and NUL are percent-encoded, never sent raw.
    let req = RequestBuilder::new(Method::GET, "http://127.0.0.1:9/a")
        .query("k\r\n", "v\0 x")
        .build()
        .unwrap();
    assert_eq!(req.url().path_and_query(), "/a?k%0D%0A=v%00%20x");
}

/// Every bad input through a real client: refused, and the loopback listener saw nothing at all.
fn over_loopback(send: &dyn Fn(&str, RequestBuilder) -> Result<u16, ErrorKind>) {
    let server = Hostile::silent();
    let base = server.base();
    for bad in bad_inputs() {
        match send(&base, (bad.build)(&base)) {
            Ok(status) => panic!("{}: sent, status {status}", bad.name),
            Err(k) => {
                assert!((bad.check)(&k), "{}: wrong error {k:?}", bad.name);
                check_message(&bad, &k);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let conns = server.conns();
    assert!(conns.is_empty(), "the server saw connections: {conns:?}");
}

#[test]
fn bad_input_refused_before_a_byte_is_sent_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    over_loopback(&|base, builder| {
        let client = {
            let _g = rt.enter();
            plue_http::tokio::Client::new(options(base)).unwrap()
        };
        rt.block_on(client.send(builder))
            .map(|r| r.status().as_u16())
            .map_err(|e| e.kind().clone())
    });
}

#[test]
fn bad_input_refused_before_a_byte_is_sent_mio() {
    over_loopback(&|base, builder| {
        let client = plue_http::mio::Client::new(options(base)).unwrap();
        client
            .send(builder)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.kind().clone())
    });
}

#[test]
fn bad_input_oversized_body_refused_in_a_batch_too() {
    let mut m = ClientMachine::new(options("http://127.0.0.1:9"), 1).unwrap();
    let now = Instant::ZERO;
    let small = Request::builder(Method::GET, "http://127.0.0.1:9/ok")
        .build()
        .unwrap();
    let big = Request::builder(Method::POST, "http://127.0.0.1:9/big")
        .body(vec![0u8; 2048])
        .build()
        .unwrap();
    let ids = m.batch(now, vec![small, big]);
    let mut refused = Vec::new();
    let mut transmitted = Vec::new();
    loop {
        match m.poll_output(now) {
            Output::Wait(_) => break,
            Output::Event(Event::Failed { id, error }) => refused.push((id, error.kind().clone())),
            Output::Transmit { data, .. } => transmitted.push(data),
            _ => {}
        }
    }
    assert_eq!(
        refused,
        vec![(
            ids[1],
            ErrorKind::TooLarge {
                limit: Limit::RequestBodySize,
                max: BODY_LIMIT
            }
        )]
    );
    assert!(transmitted
        .iter()
        .all(|d| !d.windows(4).any(|w| w == b"/big")));
}
