//! The SOCKS5 handshake (RFC 1928, username/password per RFC 1929) as a [`Stage`].
//!
//! One step at a time — method selection, optional authentication, `CONNECT` — each answered before the next is
//! sent (pipelining the steps saves round trips but breaks servers that read one message per read). Every reply's
//! version byte is checked as soon as it arrives, so a server that is not SOCKS5 is named as such even if it
//! closes right after. After the final reply, every byte belongs to the tunnel.
//!
//! `socks5://` sends an address the client resolved; `socks5h://` sends the domain name and lets the proxy
//! resolve it ([`SocksTarget::from_host`] keeps an IP literal an address either way).

use core::net::{IpAddr, SocketAddr};

use bytes::BytesMut;

use crate::error::ErrorKind;
use crate::proxy::error::{ProxyError, SocksReply};
use crate::proxy::tunnel::Tunnel;
use crate::proxy::url::Credentials;
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

const VERSION: u8 = 5;
const METHOD_NONE: u8 = 0x00;
const METHOD_USER_PASS: u8 = 0x02;
const METHOD_NO_ACCEPTABLE: u8 = 0xFF;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
/// RFC 1929's sub-negotiation version.
const AUTH_VERSION: u8 = 0x01;

/// Where the SOCKS server should connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocksTarget {
    /// An address (`socks5://`: resolved by the client; or an IP literal).
    Addr(SocketAddr),
    /// A domain name the proxy resolves (`socks5h://`).
    Domain {
        /// The host name, at most 255 bytes.
        host: String,
        /// The port.
        port: u16,
    },
}

impl SocksTarget {
    /// The target for a URL host: an IP literal (IPv6 with or without brackets) becomes an address, a name a
    /// domain.
    pub fn from_host(host: &str, port: u16) -> SocksTarget {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => SocksTarget::Addr(SocketAddr::new(ip, port)),
            Err(_) => SocksTarget::Domain {
                host: host.to_string(),
                port,
            },
        }
    }
}

/// Which reply the stage waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Method,
    Auth,
    Connect,
    Done,
}

/// The SOCKS5 handshake, then a transparent tunnel. `Debug` never shows the credentials.
pub struct Socks5Stage {
    tunnel: Tunnel,
    step: Step,
    /// The current reply so far (at most 4 + 1 + 255 + 2 bytes).
    reply: Vec<u8>,
    /// The RFC 1929 request, sent if the server picks username/password.
    auth: Option<Vec<u8>>,
    /// The CONNECT request.
    connect: Vec<u8>,
}

impl core::fmt::Debug for Socks5Stage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Socks5Stage")
            .field("step", &self.step)
            .field("tunnel", &self.tunnel)
            .finish_non_exhaustive()
    }
}

impl Socks5Stage {
    /// A tunnel to `target` through a SOCKS5 proxy, authenticating with `credentials` when given; the handshake
    /// must finish by `deadline`.
    pub fn new(
        target: &SocksTarget,
        credentials: Option<&Credentials>,
        deadline: Instant,
    ) -> Result<Socks5Stage, ErrorKind> {
        let auth = match credentials {
            None => None,
            Some(c) => {
                let (u, p) = (c.username().as_bytes(), c.password().as_bytes());
                let (Ok(ulen), Ok(plen)) = (u8::try_from(u.len()), u8::try_from(p.len())) else {
                    return Err(ErrorKind::Proxy(ProxyError::CredentialsTooLong));
                };
                let mut m = Vec::with_capacity(3 + u.len() + p.len());
                m.extend_from_slice(&[AUTH_VERSION, ulen]);
                m.extend_from_slice(u);
                m.push(plen);
                m.extend_from_slice(p);
                Some(m)
            }
        };
        let mut connect = vec![VERSION, CMD_CONNECT, 0x00];
        let port = match target {
            SocksTarget::Addr(addr) => {
                match addr.ip() {
                    IpAddr::V4(ip) => {
                        connect.push(ATYP_IPV4);
                        connect.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        connect.push(ATYP_IPV6);
                        connect.extend_from_slice(&ip.octets());
                    }
                }
                addr.port()
            }
            SocksTarget::Domain { host, port } => {
                let len = match u8::try_from(host.len()) {
                    Ok(n) if n > 0 => n,
                    _ => return Err(ErrorKind::Proxy(ProxyError::TargetTooLong)),
                };
                connect.push(ATYP_DOMAIN);
                connect.push(len);
                connect.extend_from_slice(host.as_bytes());
                *port
            }
        };
        connect.extend_from_slice(&port.to_be_bytes());
        let mut tunnel = Tunnel::new(deadline);
        if auth.is_some() {
            tunnel.send(&[VERSION, 2, METHOD_NONE, METHOD_USER_PASS]);
        } else {
            tunnel.send(&[VERSION, 1, METHOD_NONE]);
        }
        Ok(Socks5Stage {
            tunnel,
            step: Step::Method,
            reply: Vec::with_capacity(16),
            auth,
            connect,
        })
    }

    /// Take bytes of the current reply from `data`; returns how many were used.
    fn step(&mut self, data: &[u8]) -> Result<usize, ErrorKind> {
        match self.step {
            Step::Method => {
                let used = self.fill(data, 2);
                self.check_version(VERSION)?;
                if self.reply.len() < 2 {
                    return Ok(used);
                }
                match self.reply[1] {
                    METHOD_NONE => self.send_connect(),
                    METHOD_USER_PASS if self.auth.is_some() => {
                        let auth = self.auth.take().unwrap_or_default();
                        self.tunnel.send(&auth);
                        self.step = Step::Auth;
                        self.reply.clear();
                    }
                    METHOD_NO_ACCEPTABLE => {
                        self.tunnel.fail(ProxyError::SocksNoAcceptableMethod)?
                    }
                    // A method that was never offered is as unusable as none.
                    _ => self.tunnel.fail(ProxyError::SocksNoAcceptableMethod)?,
                }
                Ok(used)
            }
            Step::Auth => {
                let used = self.fill(data, 2);
                // RFC 1929 says version 1; some servers echo SOCKS's 5. Both mean the same sub-negotiation.
                if let Some(&v) = self.reply.first() {
                    if v != AUTH_VERSION && v != VERSION {
                        self.tunnel.fail(ProxyError::SocksVersion { got: v })?;
                    }
                }
                if self.reply.len() < 2 {
                    return Ok(used);
                }
                if self.reply[1] != 0 {
                    self.tunnel.fail(ProxyError::SocksAuthFailed)?;
                }
                self.send_connect();
                Ok(used)
            }
            Step::Connect => {
                // VER REP RSV ATYP, then the bound address: its length depends on ATYP.
                let mut used = self.fill(data, 5);
                self.check_version(VERSION)?;
                if self.reply.len() >= 2 && self.reply[1] != 0 {
                    // A failure reply is final; servers often close without sending the bound address.
                    let reply = SocksReply::from_code(self.reply[1]);
                    self.tunnel.fail(ProxyError::Socks(reply))?;
                }
                if self.reply.len() < 5 {
                    return Ok(used);
                }
                let total = match self.reply[3] {
                    ATYP_IPV4 => 4 + 4 + 2,
                    ATYP_IPV6 => 4 + 16 + 2,
                    ATYP_DOMAIN => 4 + 1 + usize::from(self.reply[4]) + 2,
                    _ => return self.tunnel.fail(ProxyError::SocksProtocol).map(|()| used),
                };
                used += self.fill(&data[used..], total);
                if self.reply.len() == total {
                    self.step = Step::Done;
                    self.tunnel.establish(&data[used..]);
                    used = data.len();
                }
                Ok(used)
            }
            Step::Done => {
                self.tunnel.pass_up(data);
                Ok(data.len())
            }
        }
    }

    /// Append bytes to the reply until it holds `want`; returns how many were taken from `data`.
    fn fill(&mut self, data: &[u8], want: usize) -> usize {
        let n = want.saturating_sub(self.reply.len()).min(data.len());
        self.reply.extend_from_slice(&data[..n]);
        n
    }

    fn check_version(&mut self, expected: u8) -> Result<(), ErrorKind> {
        match self.reply.first() {
            Some(&v) if v != expected => self.tunnel.fail(ProxyError::SocksVersion { got: v }),
            _ => Ok(()),
        }
    }

    fn send_connect(&mut self) {
        let connect = std::mem::take(&mut self.connect);
        self.tunnel.send(&connect);
        self.step = Step::Connect;
        self.reply.clear();
    }
}

impl Stage for Socks5Stage {
    fn handle_input(&mut self, _now: Instant, mut data: &[u8]) -> Result<(), ErrorKind> {
        self.tunnel.check()?;
        while !data.is_empty() {
            let used = self.step(data)?;
            data = &data[used..];
        }
        Ok(())
    }

    fn handle_eof(&mut self, _now: Instant) -> Result<(), ErrorKind> {
        self.tunnel.handle_eof()
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        self.tunnel.write(data)
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> usize {
        self.tunnel.poll_transmit(out)
    }

    fn poll_read(&mut self, out: &mut BytesMut) -> usize {
        self.tunnel.poll_read(out)
    }

    fn poll_event(&mut self) -> Option<StageEvent> {
        self.tunnel.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tunnel.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), ErrorKind> {
        self.tunnel.handle_timeout(now)
    }
}
