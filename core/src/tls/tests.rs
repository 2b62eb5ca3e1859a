//! The TLS stage and the client machine against a sans-IO rustls server (no sockets): handshake before any
//! request byte, ALPN, clean and unclean ends, and write accounting through the stage.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::BytesMut;
use rcgen::{CertificateParams, KeyPair};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::{TlsConfig, TlsStage};
use crate::client::{ClientMachine, ConnId, Event, Input, Options, Output};
use crate::error::{ErrorKind, NetError, TlsReason};
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;
use crate::Request;

/// A fixed wall clock (2030-01-01): certificate validity is an input.
#[derive(Debug)]
struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            1_893_456_000,
        )))
    }
}

struct Pki {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    Pki {
        cert: cert.der().clone(),
        key: key.serialize_der(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(pki: &Pki) -> TlsConfig {
    let mut roots = RootCertStore::empty();
    roots.add(pki.cert.clone()).unwrap();
    TlsConfig {
        provider: provider(),
        verifier: WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap(),
        time: Arc::new(FixedTime),
    }
}

fn server(pki: &Pki) -> ServerConnection {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    ServerConnection::new(Arc::new(cfg)).unwrap()
}

/// Move the server's pending ciphertext into a buffer.
fn server_out(s: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut out).unwrap();
    }
    out
}

fn server_in(s: &mut ServerConnection, data: &[u8]) {
    let mut rd = data;
    while !rd.is_empty() {
        s.read_tls(&mut rd).unwrap();
        s.process_new_packets().unwrap();
    }
}

fn drain_stage(st: &mut TlsStage) -> Vec<u8> {
    let mut out = BytesMut::new();
    st.poll_transmit(&mut out);
    out.to_vec()
}

#[test]
fn tls_stage_handshake_alpn_data_and_clean_or_unclean_end() {
    let pki = pki();
    let cfg = tls_config(&pki)
        .client_config(&Default::default(), None)
        .unwrap();
    for close_notify in [true, false] {
        let mut st = TlsStage::new(cfg.clone(), "127.0.0.1").unwrap();
        let mut srv = server(&pki);
        let now = Instant::ZERO;
        // Written before the handshake: held back, not sent in the clear.
        st.write(b"early").unwrap();
        while srv.is_handshaking() || !st.is_established() {
            let c = drain_stage(&mut st);
            server_in(&mut srv, &c);
            let s = server_out(&mut srv);
            st.handle_input(now, &s).unwrap();
        }
        assert_eq!(
            st.poll_event(),
            Some(StageEvent::Established {
                alpn: Some(b"http/1.1".to_vec())
            })
        );
        server_in(&mut srv, &drain_stage(&mut st));
        let mut got = [0u8; 5];
        srv.reader().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"early");
        srv.writer().write_all(b"hello").unwrap();
        if close_notify {
            srv.send_close_notify();
        }
        st.handle_input(now, &server_out(&mut srv)).unwrap();
        st.handle_eof(now).unwrap();
        let mut plain = BytesMut::new();
        st.poll_read(&mut plain);
        assert_eq!(&plain[..], b"hello");
        assert_eq!(
            st.poll_event(),
            Some(StageEvent::Eof {
                clean: close_notify
            })
        );
    }
}

/// Drive a machine through the handshake with `srv`; returns the connection.
fn handshake(
    m: &mut ClientMachine,
    srv: &mut ServerConnection,
    now: Instant,
) -> (ConnId, Vec<Output>) {
    let mut conn = None;
    let mut rest = Vec::new();
    for _ in 0..10 {
        while let Some(out) = next(m, now) {
            match out {
                Output::Connect { conn: c, .. } => {
                    conn = Some(c);
                    m.handle_input(now, Input::Connected(c));
                }
                Output::Transmit { conn: c, data } => {
                    if srv.is_handshaking() {
                        m.handle_input(now, Input::Written(c, data.len()));
                        server_in(srv, &data);
                        let back = server_out(srv);
                        if !back.is_empty() {
                            m.handle_input(now, Input::Data(c, &back));
                        }
                    } else {
                        rest.push(Output::Transmit { conn: c, data });
                    }
                }
                other => rest.push(other),
            }
        }
        if !srv.is_handshaking() {
            break;
        }
    }
    (conn.expect("connected"), rest)
}

fn next(m: &mut ClientMachine, now: Instant) -> Option<Output> {
    match m.poll_output(now) {
        Output::Wait(_) => None,
        o => Some(o),
    }
}

fn machine(pki: &Pki, retries: u32) -> ClientMachine {
    ClientMachine::new(
        Options {
            tls: Some(tls_config(pki)),
            max_retries: retries,
            ..Options::default()
        },
        1,
    )
    .unwrap()
}

#[test]
fn tls_machine_get_no_request_byte_before_handshake() {
    let pki = pki();
    let mut m = machine(&pki, 0);
    let mut srv = server(&pki);
    let now = Instant::ZERO;
    let id = m.request(now, Request::get("https://127.0.0.1:8443/x").unwrap());
    let (c, rest) = handshake(&mut m, &mut srv, now);
    // The only transmit after the handshake carries the request, encrypted.
    let data: Vec<u8> = rest
        .iter()
        .filter_map(|o| match o {
            Output::Transmit { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        !data.windows(3).any(|w| w == b"GET"),
        "request sent in the clear"
    );
    server_in(&mut srv, &data);
    let mut req = vec![0u8; 64];
    let n = srv.reader().read(&mut req).unwrap();
    assert!(req[..n].starts_with(b"GET /x HTTP/1.1\r\n"));
    srv.writer()
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .unwrap();
    m.handle_input(now, Input::Data(c, &server_out(&mut srv)));
    let events: Vec<Event> = std::iter::from_fn(|| next(&mut m, now))
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(matches!(&events[1], Event::Body { data, .. } if &data[..] == b"ok"));
    assert_eq!(events[2], Event::Done { id });
}

/// Write accounting through the stage: a POST whose ciphertext never left is replayed; one of whose
/// ciphertext one byte left is not.
#[test]
fn tls_machine_any_byte_written_counts_ciphertext() {
    for written_of_request in [0usize, 1] {
        let pki = pki();
        let mut m = machine(&pki, 1);
        let mut srv = server(&pki);
        let now = Instant::ZERO;
        let post = Request::builder(http::Method::POST, "https://127.0.0.1:8443/p")
            .body("x")
            .build()
            .unwrap();
        let id = m.request(now, post);
        let (c, _rest) = handshake(&mut m, &mut srv, now);
        if written_of_request > 0 {
            m.handle_input(now, Input::Written(c, written_of_request));
        }
        m.handle_input(now, Input::Failed(c, NetError::Reset));
        let outs: Vec<Output> = std::iter::from_fn(|| next(&mut m, now)).collect();
        let failed = outs.iter().find_map(|o| match o {
            Output::Event(Event::Failed { id: i, error }) if *i == id => Some(error.kind().clone()),
            _ => None,
        });
        if written_of_request == 0 {
            assert_eq!(failed, None, "a POST that never left is replayed: {outs:?}");
        } else {
            assert_eq!(
                failed,
                Some(ErrorKind::MaybeProcessed {
                    cause: NetError::Reset
                })
            );
        }
    }
}

#[test]
fn tls_https_without_config_is_typed() {
    let mut m = ClientMachine::new(Options::default(), 1).unwrap();
    let now = Instant::ZERO;
    let id = m.request(now, Request::get("https://127.0.0.1/").unwrap());
    let failed = std::iter::from_fn(|| next(&mut m, now)).find_map(|o| match o {
        Output::Event(Event::Failed { id: i, error }) if i == id => Some(error.kind().clone()),
        _ => None,
    });
    assert_eq!(
        failed,
        Some(ErrorKind::Tls {
            host: "127.0.0.1".into(),
            reason: TlsReason::NotConfigured
        })
    );
}

#[test]
fn tls_plaintext_credentials_refused_off_loopback() {
    let mut m = ClientMachine::new(Options::default(), 1).unwrap();
    let now = Instant::ZERO;
    let id = m.request(now, Request::get("http://user:pw@example.com/").unwrap());
    let failed = std::iter::from_fn(|| next(&mut m, now)).find_map(|o| match o {
        Output::Event(Event::Failed { id: i, error }) if i == id => Some(error),
        _ => None,
    });
    let err = failed.expect("refused");
    assert_eq!(
        err.kind(),
        &ErrorKind::InsecureCredentials {
            host: "example.com".into()
        }
    );
    assert!(err.to_string().contains("allow_insecure_credentials"));
    assert!(!err.to_string().contains("pw"));
    // Loopback is fine, and so is opting in.
    let mut m = ClientMachine::new(Options::default(), 1).unwrap();
    m.request(now, Request::get("http://user:pw@127.0.0.1:9/").unwrap());
    assert!(std::iter::from_fn(|| next(&mut m, now)).any(|o| matches!(o, Output::Connect { .. })));
    let mut m = ClientMachine::new(
        Options {
            allow_insecure_credentials: true,
            ..Options::default()
        },
        1,
    )
    .unwrap();
    m.request(now, Request::get("http://user:pw@example.com/").unwrap());
    assert!(std::iter::from_fn(|| next(&mut m, now)).any(|o| matches!(o, Output::Resolve { .. })));
}
