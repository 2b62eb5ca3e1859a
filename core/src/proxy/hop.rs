//! One connection's way through a proxy: where TCP goes, which stage sits at the bottom of its stack, how its
//! requests are written, and what identifies it in the pool.
//!
//! A [`Hop`] is what the connection stack needs from a [`Route`]: the client machine asks the configuration
//! for the route of a request's URL, keeps the hop in the connection's pool key (so connections through
//! different proxies, or the same proxy with different credentials, are never shared), connects to
//! [`Hop::connect_to`], and puts [`Hop::stage`] below TLS.

use core::fmt;
use core::net::SocketAddr;

use crate::error::{ErrorKind, NetError};
use crate::h1::Via;
use crate::proxy::config::Route;
use crate::proxy::connect::ConnectStage;
use crate::proxy::socks5::{Socks5Stage, SocksTarget};
use crate::proxy::url::{ProxyKind, ProxyUrl};
use crate::stage::Stage;
use crate::time::Instant;

/// How the proxy carries the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HopKind {
    /// An HTTP proxy forwards each request (absolute-form target); no stage.
    Forward,
    /// An HTTP proxy tunnels with `CONNECT`.
    Connect,
    /// A SOCKS5 proxy tunnels.
    Socks5,
}

/// A connection's way through a proxy. `Debug` never shows the credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Hop {
    kind: HopKind,
    proxy: ProxyUrl,
    /// `Basic …` for a forwarding proxy, computed once.
    authorization: Option<String>,
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hop({:?} via {:?})", self.kind, self.proxy)
    }
}

impl Hop {
    /// The hop of a route; `None` for a direct one.
    pub fn of(route: Route<'_>) -> Option<Hop> {
        let (kind, proxy) = match route {
            Route::Direct => return None,
            Route::Forward(p) => (HopKind::Forward, p),
            Route::Connect(p) => (HopKind::Connect, p),
            Route::Socks5(p) => (HopKind::Socks5, p),
        };
        let authorization = match kind {
            HopKind::Forward => proxy.credentials().map(|c| c.basic_authorization()),
            HopKind::Connect | HopKind::Socks5 => None,
        };
        Some(Hop {
            kind,
            proxy: proxy.clone(),
            authorization,
        })
    }

    /// Forward, CONNECT or SOCKS5.
    pub fn kind(&self) -> HopKind {
        self.kind
    }

    /// The proxy.
    pub fn proxy(&self) -> &ProxyUrl {
        &self.proxy
    }

    /// Where to open TCP: the proxy's host (as in a URL: IPv6 in brackets) and port.
    pub fn connect_to(&self) -> (&str, u16) {
        (self.proxy.host(), self.proxy.port())
    }

    /// `socks5://` (not `socks5h://`) sends an address: a target given by name must be resolved by the client
    /// first, and its address passed to [`Hop::stage`].
    pub fn resolves_target_locally(&self) -> bool {
        self.kind == HopKind::Socks5
            && self.proxy.kind() == (ProxyKind::Socks5 { remote_dns: false })
    }

    /// How requests on this connection are written: absolute-form with `Proxy-Authorization` through a
    /// forwarding proxy, origin-form otherwise (inside a tunnel the origin sees an ordinary request).
    pub fn via(&self) -> Via<'_> {
        match self.kind {
            HopKind::Forward => Via::Proxy {
                authorization: self.authorization.as_deref(),
            },
            HopKind::Connect | HopKind::Socks5 => Via::Direct,
        }
    }

    /// The stage at the bottom of the connection's stack (`None` for a forwarding proxy). `target` is the
    /// origin's host (URL form) and port; `resolved` its address when [`Hop::resolves_target_locally`] (without
    /// one, a name is sent as `socks5h://` would). The handshake must finish by `deadline` (the connect
    /// deadline).
    pub fn stage(
        &self,
        host: &str,
        port: u16,
        resolved: Option<SocketAddr>,
        user_agent: &str,
        deadline: Instant,
    ) -> Result<Option<Box<dyn Stage>>, ErrorKind> {
        match self.kind {
            HopKind::Forward => Ok(None),
            HopKind::Connect => Ok(Some(Box::new(ConnectStage::new(
                host,
                port,
                &self.proxy,
                user_agent,
                deadline,
            )?))),
            HopKind::Socks5 => {
                let target = match resolved {
                    Some(addr) if self.resolves_target_locally() => SocksTarget::Addr(addr),
                    _ => SocksTarget::from_host(host, port),
                };
                Ok(Some(Box::new(Socks5Stage::new(
                    &target,
                    self.proxy.credentials(),
                    deadline,
                )?)))
            }
        }
    }

    /// The error for a failed TCP connect to the proxy: the proxy is unreachable, not the origin.
    pub fn unreachable(&self, cause: NetError) -> ErrorKind {
        ErrorKind::ProxyUnreachable { cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::ProxyConfig;
    use crate::url::Url;

    fn hop(proxy: &str, target: &str) -> Option<Hop> {
        let cfg = ProxyConfig::explicit().all(ProxyUrl::parse(proxy).unwrap());
        Hop::of(cfg.route(&Url::parse(target).unwrap()))
    }

    #[test]
    fn proxy_hop_kinds_targets_and_stages() {
        let h = hop("http://u:pw@proxy:3128", "http://a.test/").unwrap();
        assert_eq!(h.kind(), HopKind::Forward);
        assert_eq!(h.connect_to(), ("proxy", 3128));
        assert_eq!(
            h.via(),
            Via::Proxy {
                authorization: Some("Basic dTpwdw==")
            }
        );
        assert!(h
            .stage("a.test", 80, None, "", Instant::ZERO)
            .unwrap()
            .is_none());
        assert!(!format!("{h:?}").contains("dTpwdw") && !format!("{h:?}").contains("pw"));

        let h = hop("http://u:pw@proxy:3128", "https://a.test/").unwrap();
        assert_eq!(h.kind(), HopKind::Connect);
        assert_eq!(
            h.via(),
            Via::Direct,
            "inside a tunnel no proxy credentials reach the origin"
        );
        assert!(h
            .stage("a.test", 443, None, "", Instant::ZERO)
            .unwrap()
            .is_some());

        let h = hop("socks5://[::1]:1080", "https://a.test/").unwrap();
        assert!(h.resolves_target_locally());
        assert_eq!(h.connect_to(), ("[::1]", 1080));
        assert!(!hop("socks5h://s:1", "https://a.test/")
            .unwrap()
            .resolves_target_locally());
        assert_eq!(
            h.unreachable(NetError::Refused),
            ErrorKind::ProxyUnreachable {
                cause: NetError::Refused
            }
        );
        assert!(
            hop("http://p:1", "http://127.0.0.1/").is_some(),
            "explicit applies to loopback"
        );
    }

    #[test]
    fn proxy_hop_identity_includes_credentials() {
        let a = hop("http://u:one@proxy:3128", "http://a.test/").unwrap();
        let b = hop("http://u:two@proxy:3128", "http://a.test/").unwrap();
        let c = hop("http://u:one@proxy:3128", "http://a.test/").unwrap();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }
}
