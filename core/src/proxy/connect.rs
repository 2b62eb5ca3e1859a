//! The HTTP `CONNECT` tunnel (RFC 9110 §9.3.6) as a [`Stage`].
//!
//! The stage sends `CONNECT host:port HTTP/1.1` with `Host` and, when the proxy URL carried credentials,
//! `Proxy-Authorization: Basic …`; then it reads the proxy's response head (httparse). Interim 1xx heads are
//! skipped. A 2xx establishes the tunnel and **every byte after that head belongs to the tunnel**: a 2xx to
//! `CONNECT` has no body (RFC 9110 §9.3.6), whatever `Content-Length` it claims. 407 is
//! [`ProxyError::AuthRequired`], any other final status [`ProxyError::Refused`]; the body of such a refusal is
//! never read (the connection is closed). Basic is sent on the first request, so a 407 is final: a proxy that
//! answers 407 forever cannot make the client loop.

use bytes::BytesMut;

use crate::error::ErrorKind;
use crate::proxy::error::ProxyError;
use crate::proxy::tunnel::Tunnel;
use crate::proxy::url::ProxyUrl;
use crate::stage::{Stage, StageEvent};
use crate::time::Instant;

/// The largest proxy response head accepted (the same bound as an origin's head).
pub const MAX_CONNECT_HEAD: usize = 64 * 1024;

/// Headers parsed per `CONNECT` response head; more is an invalid response.
const MAX_HEADERS: usize = 64;

/// The `CONNECT` handshake, then a transparent tunnel.
#[derive(Debug)]
pub struct ConnectStage {
    tunnel: Tunnel,
    /// The proxy's answer so far (until the head is complete).
    head: BytesMut,
    credentials_sent: bool,
}

/// A host or user agent must not be able to inject a line into the `CONNECT` request.
fn is_token_text(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b > 0x20 && b != 0x7f)
}

impl ConnectStage {
    /// A tunnel to `host:port` (an IPv6 literal in brackets) through the HTTP `proxy`, which must finish its
    /// handshake by `deadline`. `user_agent` is sent when it is a valid header value (empty: none).
    pub fn new(
        host: &str,
        port: u16,
        proxy: &ProxyUrl,
        user_agent: &str,
        deadline: Instant,
    ) -> Result<ConnectStage, ErrorKind> {
        if !is_token_text(host) || host.contains(['/', '?', '#', '@']) {
            return Err(ErrorKind::InvalidUrl {
                url: host.to_string(),
                reason: "the host cannot be used in a CONNECT request",
            });
        }
        let mut tunnel = Tunnel::new(deadline);
        let authority = format!("{host}:{port}");
        let mut req = String::with_capacity(128);
        req.push_str("CONNECT ");
        req.push_str(&authority);
        req.push_str(" HTTP/1.1\r\nHost: ");
        req.push_str(&authority);
        req.push_str("\r\n");
        let credentials_sent = match proxy.credentials() {
            Some(c) => {
                req.push_str("Proxy-Authorization: ");
                req.push_str(&c.basic_authorization());
                req.push_str("\r\n");
                true
            }
            None => false,
        };
        if user_agent
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            && !user_agent.is_empty()
        {
            req.push_str("User-Agent: ");
            req.push_str(user_agent);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        tunnel.send(req.as_bytes());
        Ok(ConnectStage {
            tunnel,
            head: BytesMut::new(),
            credentials_sent,
        })
    }

    /// Parse as many response heads as the buffer holds; establish or fail on the first final one.
    fn parse(&mut self) -> Result<(), ErrorKind> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let (len, status) = match resp.parse(&self.head) {
                Ok(httparse::Status::Complete(len)) => (len, resp.code.unwrap_or(0)),
                Ok(httparse::Status::Partial) => {
                    if self.head.len() > MAX_CONNECT_HEAD {
                        return self.tunnel.fail(ProxyError::InvalidResponse);
                    }
                    return Ok(());
                }
                Err(_) => return self.tunnel.fail(ProxyError::InvalidResponse),
            };
            if len > MAX_CONNECT_HEAD {
                return self.tunnel.fail(ProxyError::InvalidResponse);
            }
            match status {
                // Interim responses carry no body; the final head follows.
                100..=199 if status != 101 => {
                    let _ = self.head.split_to(len);
                }
                200..=299 => {
                    let rest = self.head.split_off(len);
                    self.head = BytesMut::new();
                    self.tunnel.establish(&rest);
                    return Ok(());
                }
                407 => {
                    return self.tunnel.fail(ProxyError::AuthRequired {
                        credentials_sent: self.credentials_sent,
                    })
                }
                status => return self.tunnel.fail(ProxyError::Refused { status }),
            }
        }
    }
}

impl Stage for ConnectStage {
    fn handle_input(&mut self, _now: Instant, data: &[u8]) -> Result<(), ErrorKind> {
        self.tunnel.check()?;
        if self.tunnel.is_established() {
            self.tunnel.pass_up(data);
            return Ok(());
        }
        self.head.extend_from_slice(data);
        self.parse()
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
