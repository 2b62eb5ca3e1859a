//! TLS in the simulation, byte for byte reproducible from the seed.
//!
//! The stock crypto providers draw ephemeral keys and randoms from the OS, so a seed would not replay. The
//! simulation's provider keeps ring's ciphers, hashes and signature checks and replaces the two sources of
//! entropy: [`SeededRandom`] (every random rustls draws: hello randoms, session ids, tickets) and
//! [`SeededX25519`] (the ephemeral key exchange, x25519-dalek with secrets from the seed). Certificates use
//! Ed25519 keys derived from the seed (Ed25519 signs deterministically; ECDSA in ring would not), fixed serial
//! numbers and dates, and the wall clock is a fixed date ([`FixedTime`]).
//!
//! [`run`] drives the client machine through one TLS exchange against a sans-IO rustls server, with a
//! [`TlsFault`] injected, and returns the transcript and what the machine reported.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plue_http_core::client::{ClientMachine, ConnId, Event, Input, Options, Output};
use plue_http_core::error::ErrorKind;
use plue_http_core::rng::Rng;
use plue_http_core::time::Instant;
use plue_http_core::tls::TlsConfig;
use plue_http_core::Request;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SerialNumber};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::{NamedGroup, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

/// Randomness from a seeded generator.
#[derive(Debug)]
pub struct SeededRandom(Mutex<Rng>);

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        let mut rng = self.0.lock().map_err(|_| GetRandomFailed)?;
        for chunk in buf.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// X25519 with secrets drawn from a seeded generator.
#[derive(Debug)]
pub struct SeededX25519(Mutex<Rng>);

struct ActiveX25519 {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut bytes = [0u8; 32];
        let mut rng = self
            .0
            .lock()
            .map_err(|_| rustls::Error::General("rng poisoned".into()))?;
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(ActiveX25519 { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for ActiveX25519 {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::InvalidKeyShare,
            ));
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// A provider whose randomness and key exchange derive from `seed`. rustls wants `'static` parts, so the two
/// seeded parts are leaked: a few hundred bytes per provider, made a handful of times per test run.
pub fn seeded_provider(seed: u64) -> Arc<CryptoProvider> {
    let random: &'static SeededRandom =
        Box::leak(Box::new(SeededRandom(Mutex::new(Rng::new(seed)))));
    let kx: &'static SeededX25519 = Box::leak(Box::new(SeededX25519(Mutex::new(Rng::new(
        seed ^ 0x9e37_79b9_7f4a_7c15,
    )))));
    Arc::new(CryptoProvider {
        kx_groups: vec![kx],
        secure_random: random,
        ..rustls::crypto::ring::default_provider()
    })
}

/// The simulation's wall clock: 2030-01-01, whatever the host's date.
#[derive(Debug)]
pub struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            1_893_456_000,
        )))
    }
}

/// PKCS#8 v1 of an Ed25519 key from its 32-byte seed (RFC 8410).
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

fn seeded_key(rng: &mut Rng) -> (KeyPair, Vec<u8>) {
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let der = ed25519_pkcs8(seed);
    let key = KeyPair::try_from(der.as_slice()).expect("a valid Ed25519 PKCS#8");
    (key, der)
}

/// A CA and a leaf for 127.0.0.1, both Ed25519 from `seed`.
pub struct SimPki {
    /// The CA certificate.
    pub ca: CertificateDer<'static>,
    /// The leaf certificate.
    pub leaf: CertificateDer<'static>,
    /// The leaf's key (PKCS#8).
    pub leaf_key: Vec<u8>,
}

impl SimPki {
    /// Make the PKI of `seed`.
    pub fn new(seed: u64) -> SimPki {
        let mut rng = Rng::new(seed ^ 0x5eed_ce47);
        let (ca_key, _) = seeded_key(&mut rng);
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.serial_number = Some(SerialNumber::from(vec![1]));
        ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let (leaf_key, leaf_der) = seeded_key(&mut rng);
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.serial_number = Some(SerialNumber::from(vec![2]));
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let leaf = params.signed_by(&leaf_key, &issuer).expect("leaf");
        SimPki {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            leaf_key: leaf_der,
        }
    }
}

/// What goes wrong in a TLS run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFault {
    /// Nothing: two GETs on one kept-alive connection.
    None,
    /// The first response's body runs to the close, which comes without `close_notify`.
    Truncation,
    /// Mid-body the server sends a fatal alert (provoked: it is fed a forged record and answers
    /// `bad_record_mac`).
    AlertMidBody,
    /// One byte of the server's encrypted response is flipped on the wire.
    CorruptedRecord,
    /// The server never answers the ClientHello.
    HandshakeStall,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRun {
    /// Every byte on the wire, in order, each write prefixed `>` (client) or `<` (server) and its length.
    pub transcript: Vec<u8>,
    /// The two requests' outcomes: status and body, or the error.
    pub outcomes: Vec<Result<(u16, Vec<u8>), ErrorKind>>,
    /// Connections the client opened.
    pub connects: usize,
    /// Invariant: a request byte left before its connection's handshake completed (must stay `false`).
    pub request_before_handshake: bool,
    /// Invariant: a connection was used again after an alert or a corrupted record (must stay `false`).
    pub reused_after_alert: bool,
}

struct SimConn {
    srv: ServerConnection,
    plain: Vec<u8>,
    /// The server answered (or the fault fired): nothing more comes from it but what is scripted.
    broken: bool,
    eof_sent: bool,
}

/// Run the TLS scenario of `seed` with `fault`: two GETs, one after the other.
pub fn run(seed: u64, fault: TlsFault) -> TlsRun {
    let pki = SimPki::new(seed);
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).expect("root");
    let client_provider = seeded_provider(seed);
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), client_provider.clone())
            .build()
            .expect("verifier");
    let options = Options {
        tls: Some(TlsConfig {
            provider: client_provider,
            verifier,
            time: Arc::new(FixedTime),
        }),
        max_retries: 0,
        connect_timeout: Duration::from_secs(2),
        ..Options::default()
    };
    let mut m = ClientMachine::new(options, seed).expect("machine");
    let server_config = {
        let mut c = ServerConfig::builder_with_provider(seeded_provider(seed ^ 0x5e5e))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![pki.leaf.clone(), pki.ca.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key.clone())),
            )
            .expect("server cert");
        c.time_provider = Arc::new(FixedTime);
        Arc::new(c)
    };
    let mut run = TlsRun {
        transcript: Vec::new(),
        outcomes: Vec::new(),
        connects: 0,
        request_before_handshake: false,
        reused_after_alert: false,
    };
    let mut conns: BTreeMap<ConnId, SimConn> = BTreeMap::new();
    let mut dead: Vec<ConnId> = Vec::new();
    let mut now = Instant::ZERO;
    let paths = ["/a", "/b"];
    let mut current = Some(m.request(now, get(paths[0])));
    let mut body = Vec::new();
    let mut status = 0;
    for _ in 0..10_000 {
        match m.poll_output(now) {
            Output::Connect { conn, .. } => {
                run.connects += 1;
                let srv = ServerConnection::new(server_config.clone()).expect("server conn");
                conns.insert(
                    conn,
                    SimConn {
                        srv,
                        plain: Vec::new(),
                        broken: false,
                        eof_sent: false,
                    },
                );
                m.handle_input(now, Input::Connected(conn));
            }
            Output::Transmit { conn, data } => {
                record(&mut run.transcript, b'>', &data);
                if dead.contains(&conn) {
                    run.reused_after_alert = true;
                }
                m.handle_input(now, Input::Written(conn, data.len()));
                let Some(c) = conns.get_mut(&conn) else {
                    continue;
                };
                if fault == TlsFault::HandshakeStall {
                    continue;
                }
                let handshaking = c.srv.is_handshaking();
                let reply = serve(
                    c,
                    &data,
                    fault,
                    &mut run.request_before_handshake,
                    handshaking,
                );
                if let Some(reply) = reply {
                    for part in [&reply.bytes, &reply.later] {
                        if !part.is_empty() {
                            record(&mut run.transcript, b'<', part);
                            m.handle_input(now, Input::Data(conn, part));
                        }
                    }
                    if reply.eof && !c.eof_sent {
                        c.eof_sent = true;
                        m.handle_input(now, Input::Eof(conn));
                    }
                    if reply.fatal {
                        dead.push(conn);
                    }
                }
            }
            Output::Close(conn) => {
                conns.remove(&conn);
            }
            Output::Read(_) | Output::PauseRead(_) | Output::Resolve { .. } => {}
            Output::Event(ev) => match ev {
                Event::Head { head, .. } => status = head.status.as_u16(),
                Event::Body { id, data } => {
                    body.extend_from_slice(&data);
                    m.consumed(now, id, data.len());
                }
                Event::Done { .. } | Event::Failed { .. } => {
                    run.outcomes.push(match ev {
                        Event::Failed { error, .. } => Err(error.kind().clone()),
                        _ => Ok((status, std::mem::take(&mut body))),
                    });
                    body.clear();
                    current = match run.outcomes.len() {
                        1 => Some(m.request(now, get(paths[1]))),
                        _ => None,
                    };
                }
                Event::Stream { .. } => {}
            },
            Output::Wait(deadline) => {
                if current.is_none() {
                    break;
                }
                match deadline {
                    Some(d) => {
                        now = d.max(now);
                        m.handle_input(now, Input::Timeout);
                    }
                    None => break,
                }
            }
        }
    }
    run
}

fn get(path: &str) -> Request {
    Request::get(&format!("https://127.0.0.1:8443{path}")).expect("valid request")
}

fn record(transcript: &mut Vec<u8>, dir: u8, data: &[u8]) {
    transcript.push(dir);
    transcript.extend_from_slice(&(data.len() as u32).to_be_bytes());
    transcript.extend_from_slice(data);
}

struct Reply {
    bytes: Vec<u8>,
    /// Delivered in a second read, after `bytes` (an alert that follows part of a body).
    later: Vec<u8>,
    eof: bool,
    fatal: bool,
}

fn drain(srv: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while srv.wants_write() {
        if srv.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// The server's side of one client write.
fn serve(
    c: &mut SimConn,
    data: &[u8],
    fault: TlsFault,
    request_before_handshake: &mut bool,
    was_handshaking: bool,
) -> Option<Reply> {
    use std::io::{Read, Write};
    if c.broken {
        return None;
    }
    let mut rd = data;
    while !rd.is_empty() {
        if c.srv.read_tls(&mut rd).is_err() {
            break;
        }
        if c.srv.process_new_packets().is_err() {
            c.broken = true;
            return Some(Reply {
                bytes: drain(&mut c.srv),
                later: Vec::new(),
                eof: true,
                fatal: true,
            });
        }
    }
    let mut chunk = [0u8; 4096];
    while let Ok(n) = c.srv.reader().read(&mut chunk) {
        if n == 0 {
            break;
        }
        if was_handshaking {
            // Application data in the same flight as the client's Finished is a request byte sent before the
            // handshake completed.
            *request_before_handshake = true;
        }
        c.plain.extend_from_slice(&chunk[..n]);
    }
    let mut out = drain(&mut c.srv);
    let Some(end) = c.plain.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Some(Reply {
            bytes: out,
            later: Vec::new(),
            eof: false,
            fatal: false,
        });
    };
    c.plain.drain(..end + 4);
    let mut eof = false;
    let mut fatal = false;
    let mut later = Vec::new();
    match fault {
        TlsFault::None | TlsFault::HandshakeStall => {
            let _ = c
                .srv
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            out.extend(drain(&mut c.srv));
        }
        TlsFault::Truncation => {
            let _ = c
                .srv
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart");
            out.extend(drain(&mut c.srv));
            c.broken = true;
            eof = true;
        }
        TlsFault::AlertMidBody => {
            let _ = c
                .srv
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal");
            out.extend(drain(&mut c.srv));
            // A forged application-data record makes the server answer with a fatal alert.
            let forged = [&[0x17u8, 0x03, 0x03, 0x00, 0x20][..], &[0xAB; 32]].concat();
            let mut rd = &forged[..];
            let _ = c.srv.read_tls(&mut rd);
            let _ = c.srv.process_new_packets();
            later = drain(&mut c.srv);
            c.broken = true;
            eof = true;
            fatal = true;
        }
        TlsFault::CorruptedRecord => {
            let _ = c
                .srv
                .writer()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let mut rec = drain(&mut c.srv);
            let last = rec.len() - 1;
            rec[last] ^= 0x01;
            out.extend(rec);
            c.broken = true;
            fatal = true;
        }
    }
    Some(Reply {
        bytes: out,
        later,
        eof,
        fatal,
    })
}
