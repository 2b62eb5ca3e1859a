//! A scripted sans-IO proxy in front of a [`ScriptedServer`]: HTTP `CONNECT` and SOCKS5 (RFC 1928/1929) on the
//! same port (a first byte of 5 means SOCKS5), with a fault at any handshake step.
//!
//! It has the server's shape (`accept` / `handle_data` / `handle_eof` / `disconnect` / `poll_output` with
//! [`SrvOutput`]), so the simulated network and the loopback host can put it where a server goes. Whatever the
//! `CONNECT` or SOCKS target says, the tunnel leads to the origin server behind it. After the handshake every
//! byte is relayed unchanged both ways; before it, no byte reaches the origin — [`ScriptedProxy::leaked`] counts
//! any that would have, so a test can assert that a request never passed a proxy that did not open a tunnel.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use plue_http_core::request::base64_encode;
use plue_http_core::time::Instant;

use crate::server::{ScriptedServer, SrvConn, SrvOutput};

/// A step of a proxy handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The `CONNECT` request head, or the SOCKS5 method selection.
    Hello,
    /// SOCKS5 username/password (RFC 1929).
    Auth,
    /// The SOCKS5 connect request.
    Connect,
}

/// What goes wrong, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyFault {
    /// Nothing: the proxy works.
    #[default]
    None,
    /// Close the connection when this step's message is complete, without answering.
    CloseAt(Step),
    /// Never answer this step's message.
    StallAt(Step),
    /// Answer this step with bytes of the wrong protocol (version byte 4 for SOCKS5, a non-HTTP line for
    /// `CONNECT`).
    GarbageAt(Step),
    /// Answer `CONNECT` with this status (407 is also what wrong or missing credentials get).
    Status(u16),
    /// Answer the SOCKS5 connect request with this reply code.
    SocksReply(u8),
    /// Complete the handshake, then send these bytes ahead of anything from the origin.
    GarbageAfterEstablished,
}

/// The bytes [`ProxyFault::GarbageAfterEstablished`] sends.
pub const GARBAGE: &[u8] = b"\x00\xffnot from the origin\r\n\r\n";

/// What one handshake looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `"CONNECT"` or `"SOCKS5"`.
    pub protocol: &'static str,
    /// The target the client asked for (`host:port`, the SOCKS address as text), once known.
    pub target: Option<String>,
    /// The tunnel was established.
    pub established: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte.
    Start,
    Http,
    SocksHello,
    SocksAuth,
    SocksConnect,
    Tunnel(SrvConn),
    /// Stalled or failed: input is ignored.
    Dead,
}

#[derive(Debug)]
struct PConn {
    phase: Phase,
    buf: Vec<u8>,
    record: usize,
}

/// The proxy. See the module docs.
#[derive(Debug)]
pub struct ScriptedProxy {
    origin: ScriptedServer,
    fault: ProxyFault,
    credentials: Option<(String, String)>,
    conns: BTreeMap<SrvConn, PConn>,
    /// Origin connection → client connection.
    routes: BTreeMap<SrvConn, SrvConn>,
    next_conn: u64,
    out: VecDeque<SrvOutput>,
    handshakes: Vec<Handshake>,
    leaked: usize,
}

impl ScriptedProxy {
    /// A proxy in front of `origin` with `fault`; with `credentials`, it requires them (Basic for `CONNECT`,
    /// RFC 1929 for SOCKS5).
    pub fn new(
        origin: ScriptedServer,
        fault: ProxyFault,
        credentials: Option<(&str, &str)>,
    ) -> ScriptedProxy {
        ScriptedProxy {
            origin,
            fault,
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            next_conn: 0,
            out: VecDeque::new(),
            handshakes: Vec::new(),
            leaked: 0,
        }
    }

    /// The origin server behind the proxy.
    pub fn origin(&self) -> &ScriptedServer {
        &self.origin
    }

    /// Every handshake so far, in order of arrival.
    pub fn handshakes(&self) -> &[Handshake] {
        &self.handshakes
    }

    /// Bytes that arrived after a handshake message on a connection with no tunnel (bytes a client sent
    /// ahead of the handshake's answer). A correct client sends none.
    pub fn leaked(&self) -> usize {
        self.leaked
    }

    /// A client connection was accepted.
    pub fn accept(&mut self, _now: Instant) -> SrvConn {
        let id = SrvConn(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            PConn {
                phase: Phase::Start,
                buf: Vec::new(),
                record: usize::MAX,
            },
        );
        id
    }

    /// Bytes from the client.
    pub fn handle_data(&mut self, now: Instant, conn: SrvConn, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c.phase {
            Phase::Tunnel(oc) => return self.origin.handle_data(now, oc, data),
            Phase::Dead => {
                // Sent to a proxy that refused or broke the handshake: it never reaches the origin.
                self.leaked += data.len();
                return;
            }
            _ => {}
        }
        c.buf.extend_from_slice(data);
        while self.step(now, conn) {}
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self, now: Instant, conn: SrvConn) {
        match self.conns.get(&conn).map(|c| c.phase) {
            Some(Phase::Tunnel(oc)) => self.origin.handle_eof(now, oc),
            Some(_) => {
                self.conns.remove(&conn);
                self.out.push_back(SrvOutput::Close(conn));
            }
            None => {}
        }
    }

    /// The transport is gone.
    pub fn disconnect(&mut self, conn: SrvConn) {
        if let Some(PConn {
            phase: Phase::Tunnel(oc),
            ..
        }) = self.conns.remove(&conn)
        {
            self.routes.remove(&oc);
            self.origin.disconnect(oc);
        }
    }

    /// The next action; call until [`SrvOutput::Wait`].
    pub fn poll_output(&mut self, now: Instant) -> SrvOutput {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        loop {
            let o = self.origin.poll_output(now);
            let map = |oc: &SrvConn| self.routes.get(oc).copied();
            match o {
                SrvOutput::Wait(d) => return SrvOutput::Wait(d),
                SrvOutput::Transmit(oc, b) => {
                    if let Some(c) = map(&oc) {
                        return SrvOutput::Transmit(c, b);
                    }
                }
                SrvOutput::Close(oc) | SrvOutput::Reset(oc) => {
                    if let Some(c) = self.routes.remove(&oc) {
                        self.conns.remove(&c);
                        return if matches!(o, SrvOutput::Close(_)) {
                            SrvOutput::Close(c)
                        } else {
                            SrvOutput::Reset(c)
                        };
                    }
                }
            }
        }
    }

    fn send(&mut self, conn: SrvConn, bytes: &[u8]) {
        self.out
            .push_back(SrvOutput::Transmit(conn, Bytes::copy_from_slice(bytes)));
    }

    /// The fault for this step, if it stops the handshake here: returns `true` when it did.
    fn fault_at(&mut self, conn: SrvConn, step: Step, socks: bool) -> bool {
        let dead = match self.fault {
            ProxyFault::CloseAt(s) if s == step => {
                self.out.push_back(SrvOutput::Close(conn));
                true
            }
            ProxyFault::StallAt(s) if s == step => true,
            ProxyFault::GarbageAt(s) if s == step => {
                if socks {
                    self.send(conn, &[4, 0]);
                } else {
                    self.send(conn, b"SSH-2.0-not-a-proxy\r\n");
                }
                true
            }
            _ => false,
        };
        if dead {
            self.kill(conn);
        }
        dead
    }

    fn kill(&mut self, conn: SrvConn) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Dead;
            c.buf.clear();
        }
    }

    /// Open the tunnel: the origin accepts a connection; bytes after the handshake go to it.
    fn establish(&mut self, now: Instant, conn: SrvConn, answer: &[u8]) {
        self.send(conn, answer);
        if self.fault == ProxyFault::GarbageAfterEstablished {
            self.send(conn, GARBAGE);
        }
        let oc = self.origin.accept(now);
        self.routes.insert(oc, conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.phase = Phase::Tunnel(oc);
        self.handshakes[c.record].established = true;
        let rest = std::mem::take(&mut c.buf);
        // The client sent these before it saw the answer: a leak of the request ahead of the tunnel.
        self.leaked += rest.len();
        if !rest.is_empty() {
            self.origin.handle_data(now, oc, &rest);
        }
    }

    fn record(&mut self, conn: SrvConn, protocol: &'static str) {
        self.handshakes.push(Handshake {
            protocol,
            target: None,
            established: false,
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.record = self.handshakes.len() - 1;
        }
    }

    /// Handle one complete handshake message if the buffer holds one; `true` when something happened.
    fn step(&mut self, now: Instant, conn: SrvConn) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let (phase, buf) = (c.phase, c.buf.clone());
        match phase {
            Phase::Start => {
                let Some(&first) = buf.first() else {
                    return false;
                };
                let next = if first == 5 {
                    self.record(conn, "SOCKS5");
                    Phase::SocksHello
                } else {
                    self.record(conn, "CONNECT");
                    Phase::Http
                };
                self.set_phase(conn, next);
                true
            }
            Phase::Http => self.http(now, conn, &buf),
            Phase::SocksHello => {
                let Some(n) = buf.get(1).map(|&n| 2 + usize::from(n)) else {
                    return false;
                };
                if buf.len() < n {
                    return false;
                }
                self.consume(conn, n);
                if self.fault_at(conn, Step::Hello, true) {
                    return false;
                }
                let offered = &buf[2..n];
                let method = match &self.credentials {
                    Some(_) if offered.contains(&2) => 2,
                    None if offered.contains(&0) => 0,
                    _ => 0xff,
                };
                self.send(conn, &[5, method]);
                match method {
                    2 => self.set_phase(conn, Phase::SocksAuth),
                    0 => self.set_phase(conn, Phase::SocksConnect),
                    _ => self.kill(conn),
                }
                true
            }
            Phase::SocksAuth => {
                let Some(ulen) = buf.get(1).map(|&n| usize::from(n)) else {
                    return false;
                };
                let Some(plen) = buf.get(2 + ulen).map(|&n| usize::from(n)) else {
                    return false;
                };
                let n = 3 + ulen + plen;
                if buf.len() < n {
                    return false;
                }
                self.consume(conn, n);
                if self.fault_at(conn, Step::Auth, true) {
                    return false;
                }
                let (u, p) = (&buf[2..2 + ulen], &buf[3 + ulen..n]);
                let ok = self
                    .credentials
                    .as_ref()
                    .is_some_and(|(eu, ep)| eu.as_bytes() == u && ep.as_bytes() == p);
                self.send(conn, &[1, if ok { 0 } else { 1 }]);
                if ok {
                    self.set_phase(conn, Phase::SocksConnect);
                } else {
                    self.out.push_back(SrvOutput::Close(conn));
                    self.kill(conn);
                }
                true
            }
            Phase::SocksConnect => {
                if buf.len() < 5 {
                    return false;
                }
                let addr_len = match buf[3] {
                    1 => 4,
                    4 => 16,
                    3 => 1 + usize::from(buf[4]),
                    _ => {
                        self.send(conn, &[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]);
                        self.kill(conn);
                        return false;
                    }
                };
                let n = 4 + addr_len + 2;
                if buf.len() < n {
                    return false;
                }
                let target = match buf[3] {
                    3 => String::from_utf8_lossy(&buf[5..5 + usize::from(buf[4])]).into_owned(),
                    1 => format!("{}.{}.{}.{}", buf[4], buf[5], buf[6], buf[7]),
                    _ => "ipv6".to_string(),
                };
                let port = u16::from_be_bytes([buf[n - 2], buf[n - 1]]);
                self.set_target(conn, format!("{target}:{port}"));
                self.consume(conn, n);
                if self.fault_at(conn, Step::Connect, true) {
                    return false;
                }
                if let ProxyFault::SocksReply(code) = self.fault {
                    self.send(conn, &[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
                    self.out.push_back(SrvOutput::Close(conn));
                    self.kill(conn);
                    return false;
                }
                self.establish(now, conn, &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
                false
            }
            Phase::Tunnel(_) | Phase::Dead => false,
        }
    }

    fn http(&mut self, now: Instant, conn: SrvConn, buf: &[u8]) -> bool {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        self.consume(conn, end + 4);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("CONNECT "))
            .and_then(|l| l.split(' ').next())
            .map(str::to_string);
        if let Some(t) = target.clone() {
            self.set_target(conn, t);
        }
        if self.fault_at(conn, Step::Hello, false) {
            return false;
        }
        let authorized = match &self.credentials {
            None => true,
            Some((u, p)) => {
                let want = format!("basic {}", base64_encode(format!("{u}:{p}").as_bytes()));
                head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(n, v)| {
                        n.trim().eq_ignore_ascii_case("proxy-authorization")
                            && v.trim().eq_ignore_ascii_case(&want)
                    })
                })
            }
        };
        let status = match self.fault {
            ProxyFault::Status(s) => s,
            _ if target.is_none() => 405,
            _ if !authorized => 407,
            _ => 200,
        };
        if status == 200 {
            self.establish(now, conn, b"HTTP/1.1 200 Connection established\r\n\r\n");
        } else {
            let answer = format!(
                "HTTP/1.1 {status} Refused\r\nProxy-Authenticate: Basic realm=\"sim\"\r\nContent-Length: 0\r\n\r\n"
            );
            self.send(conn, answer.as_bytes());
            // Keep the connection (a client that retried authentication on it would loop); nothing is tunnelled.
            self.set_phase(conn, Phase::Http);
            return true;
        }
        false
    }

    fn consume(&mut self, conn: SrvConn, n: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.buf.drain(..n.min(c.buf.len()));
        }
    }

    fn set_phase(&mut self, conn: SrvConn, phase: Phase) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = phase;
        }
    }

    fn set_target(&mut self, conn: SrvConn, target: String) {
        if let Some(c) = self.conns.get(&conn) {
            if let Some(h) = self.handshakes.get_mut(c.record) {
                h.target = Some(target);
            }
        }
    }
}
