//! TLS test fixtures: certificates made by the test (rcgen) and an in-process rustls server on loopback whose
//! misbehaviours the hostile tests choose.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The crypto provider of the test servers.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test.
pub struct TestCa {
    /// The CA certificate, PEM (what `--cacert` reads).
    pub pem: String,
    /// The CA certificate, DER.
    pub der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key.
#[derive(Clone)]
pub struct Leaf {
    /// The chain the server presents (leaf, then the CA).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key (PKCS#8 DER).
    pub key_der: Vec<u8>,
    /// The leaf, PEM.
    pub cert_pem: String,
    /// The key, PEM.
    pub key_pem: String,
}

impl Leaf {
    /// The key, for rustls.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// `sha256//BASE64` of the leaf's key: the pin that matches it.
    pub fn pin(&self) -> String {
        plue_http_core::tls::spki_pin(&self.chain[0]).expect("parsable leaf")
    }
}

/// When a leaf is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From 2020 to 2100.
    Current,
    /// 2001 to 2002.
    Expired,
}

impl TestCa {
    /// A fresh CA.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let cert = params.self_signed(&key).expect("self-signed CA");
        TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS names or IP literals), signed by this CA.
    pub fn leaf(&self, names: &[&str], validity: Validity) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let (from, to) = match validity {
            Validity::Current => ((2020, 1, 1), (2100, 1, 1)),
            Validity::Expired => ((2001, 1, 1), (2002, 1, 1)),
        };
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        Leaf {
            chain: vec![cert.der().clone(), self.der.clone()],
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A self-signed leaf for `names` (no CA anyone trusts).
pub fn self_signed(names: &[&str]) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    Leaf {
        chain: vec![cert.der().clone()],
        key_der: key.serialize_der(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// How the server behaves on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep-alive HTTP/1.1: each request gets `200` with its path as the body (`Content-Length`).
    Echo,
    /// One response whose body runs to the close, then `close_notify` (if `close_notify`) and TCP close.
    CloseDelimited {
        /// Send `close_notify` before closing.
        close_notify: bool,
    },
    /// Accept TCP, read the hello, never answer.
    StallHandshake,
    /// Answer the hello with a plaintext HTTP response.
    PlaintextAnswer,
    /// Send half a `Content-Length` body, then reset the TCP connection.
    ResetMidBody,
    /// An event stream: one event, then `close_notify` and close.
    EventStream,
}

/// An in-process rustls server on 127.0.0.1.
pub struct TlsServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Completed handshakes, in order: full or resumed.
    pub handshakes: Arc<Mutex<Vec<HandshakeKind>>>,
    /// Requests received (request lines).
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    /// Serve `leaf` with `mode`. With `client_ca`, a client certificate signed by it is required (mTLS).
    pub fn start(leaf: &Leaf, mode: Mode, client_ca: Option<&TestCa>) -> TlsServer {
        Self::start_with(leaf, mode, client_ca, None)
    }

    /// As [`TlsServer::start`], with only the given protocol versions.
    pub fn start_with(
        leaf: &Leaf,
        mode: Mode,
        client_ca: Option<&TestCa>,
        versions: Option<&[&'static rustls::SupportedProtocolVersion]>,
    ) -> TlsServer {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions.unwrap_or(rustls::DEFAULT_VERSIONS))
            .expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.der.clone()).expect("client CA");
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .expect("client verifier");
                builder.with_client_cert_verifier(v)
            }
        };
        let mut config = builder
            .with_single_cert(leaf.chain.clone(), leaf.key())
            .expect("server cert");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (h, r) = (handshakes.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (config, h, r) = (config.clone(), h.clone(), r.clone());
                std::thread::spawn(move || serve(stream, config, mode, h, r));
            }
        });
        TlsServer {
            addr,
            handshakes,
            requests,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://localhost:PORT`.
    pub fn localhost_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The handshakes completed so far.
    pub fn handshakes(&self) -> Vec<HandshakeKind> {
        self.handshakes.lock().unwrap().clone()
    }
}

fn serve(
    mut tcp: TcpStream,
    config: Arc<ServerConfig>,
    mode: Mode,
    handshakes: Arc<Mutex<Vec<HandshakeKind>>>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    match mode {
        Mode::StallHandshake => {
            let mut buf = [0u8; 4096];
            while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
            return;
        }
        Mode::PlaintextAnswer => {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
        _ => {}
    }
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return;
        }
    }
    if let Some(kind) = conn.handshake_kind() {
        handshakes.lock().unwrap().push(kind);
    }
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    loop {
        // Read one request head (bodies are not used by these tests beyond Content-Length).
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let body_len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 4096];
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        let line = head.lines().next().unwrap_or("").to_string();
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        requests.lock().unwrap().push(line);
        match mode {
            Mode::Echo => {
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                    path.len(),
                    path
                );
                if tls.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            Mode::CloseDelimited { close_notify } => {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial body");
                let _ = tls.flush();
                if close_notify {
                    tls.conn.send_close_notify();
                    let _ = tls.conn.complete_io(&mut tls.sock);
                }
                let _ = tls.sock.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::ResetMidBody => {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf");
                let _ = tls.flush();
                std::thread::sleep(Duration::from_millis(50));
                // SO_LINGER 0: close sends RST.
                let sock = socket2::SockRef::from(&tls.sock);
                let _ = sock.set_linger(Some(Duration::ZERO));
                return;
            }
            Mode::EventStream => {
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nid: 1\ndata: hello\n\n",
                );
                let _ = tls.flush();
                std::thread::sleep(Duration::from_millis(50));
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
                let _ = tls.sock.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::StallHandshake | Mode::PlaintextAnswer => return,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
