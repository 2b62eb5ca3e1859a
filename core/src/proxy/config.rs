//! Which proxy a request goes through: the configuration and the per-target decision.
//!
//! The configuration comes from one source, chosen in this order by the layer that builds the client:
//! explicit options ([`ProxyConfig::explicit`]), else the environment ([`ProxyConfig::from_env`]), else the
//! system settings on macOS ([`ProxyConfig::from_system`]); [`ProxyConfig::or`] expresses that order. The core
//! never reads the environment or the system itself: it is handed a snapshot.
//!
//! The decision for one target ([`ProxyConfig::route`]):
//! 1. A loopback target (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) goes direct unless the configuration is
//!    explicit: a proxy from the environment or the system must never capture Plue's own local server. An
//!    explicit proxy (the CLI's `--proxy`) applies to every target, loopback included, as in curl and reqwest.
//! 2. A target on the no-proxy list goes direct.
//! 3. Otherwise the proxy for the target's scheme (`http` or `https`), else the proxy for all schemes.
//! 4. An HTTP proxy forwards `http://` requests (absolute-form target, no tunnel) unless tunnelling was asked
//!    for, and tunnels `https://` with `CONNECT`; a SOCKS5 proxy tunnels both.

use core::net::IpAddr;

use crate::proxy::no_proxy::NoProxy;
use crate::proxy::url::{ProxyKind, ProxyUrl};
use crate::url::{Scheme, Url};

/// Where a configuration came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ProxySource {
    /// No proxy configuration at all: everything goes direct.
    #[default]
    None,
    /// Options the program set (or the CLI's `--proxy`). Applies to loopback targets too.
    Explicit,
    /// Environment variables (`http_proxy`, …).
    Environment,
    /// The operating system's settings (macOS).
    System,
}

/// An environment variable that was set but not used, and why (for a warning; the value is never kept, it may
/// hold credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IgnoredVariable {
    /// The variable's name.
    pub name: &'static str,
    /// Why it was not used.
    pub reason: &'static str,
}

/// How to reach one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Connect to the target itself.
    Direct,
    /// Connect to an HTTP proxy and send it the request with an absolute-form target (`GET http://h/p`) and
    /// `Proxy-Authorization`; no tunnel.
    Forward(&'a ProxyUrl),
    /// Connect to an HTTP proxy and open a `CONNECT` tunnel to the target.
    Connect(&'a ProxyUrl),
    /// Connect to a SOCKS5 proxy and open a tunnel to the target.
    Socks5(&'a ProxyUrl),
}

impl<'a> Route<'a> {
    /// The proxy, unless the route is direct.
    pub fn proxy(&self) -> Option<&'a ProxyUrl> {
        match *self {
            Route::Direct => None,
            Route::Forward(p) | Route::Connect(p) | Route::Socks5(p) => Some(p),
        }
    }
}

/// Proxy configuration: a proxy per scheme and/or for all schemes, and a no-proxy list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProxyConfig {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    all: Option<ProxyUrl>,
    no_proxy: NoProxy,
    source: ProxySource,
    tunnel_http: bool,
    ignored: Vec<IgnoredVariable>,
}

impl ProxyConfig {
    /// No proxy: everything goes direct.
    pub fn none() -> ProxyConfig {
        ProxyConfig::default()
    }

    /// An explicit configuration with nothing set yet; add proxies with the builder methods. An explicit
    /// configuration without any proxy means "no proxy", and [`ProxyConfig::or`] keeps it over the environment.
    pub fn explicit() -> ProxyConfig {
        ProxyConfig {
            source: ProxySource::Explicit,
            ..ProxyConfig::default()
        }
    }

    /// A configuration from some source, filled in by the environment and system readers.
    pub(crate) fn from_source(source: ProxySource) -> ProxyConfig {
        ProxyConfig {
            source,
            ..ProxyConfig::default()
        }
    }

    /// The proxy for `http://` targets.
    pub fn http(mut self, proxy: ProxyUrl) -> ProxyConfig {
        self.http = Some(proxy);
        self
    }

    /// The proxy for `https://` targets.
    pub fn https(mut self, proxy: ProxyUrl) -> ProxyConfig {
        self.https = Some(proxy);
        self
    }

    /// The proxy for targets whose scheme has no proxy of its own (the CLI's `--proxy`).
    pub fn all(mut self, proxy: ProxyUrl) -> ProxyConfig {
        self.all = Some(proxy);
        self
    }

    /// Replace the no-proxy list (the CLI's `--noproxy` replaces `no_proxy` from the environment, as in curl).
    pub fn no_proxy(mut self, list: NoProxy) -> ProxyConfig {
        self.no_proxy = list;
        self
    }

    /// Tunnel `http://` targets through an HTTP proxy with `CONNECT` instead of forwarding them (curl's
    /// `--proxytunnel`).
    pub fn tunnel_http(mut self, yes: bool) -> ProxyConfig {
        self.tunnel_http = yes;
        self
    }

    pub(crate) fn ignore(&mut self, name: &'static str, reason: &'static str) {
        self.ignored.push(IgnoredVariable { name, reason });
    }

    /// `self` unless it is neither explicit nor names any proxy; then `fallback`. Chains the sources:
    /// `explicit.or(ProxyConfig::from_env(..)).or(ProxyConfig::from_system(..))`.
    pub fn or(self, fallback: ProxyConfig) -> ProxyConfig {
        if self.source == ProxySource::Explicit || self.has_proxy() {
            self
        } else {
            ProxyConfig {
                ignored: [self.ignored, fallback.ignored.clone()].concat(),
                ..fallback
            }
        }
    }

    /// Whether any proxy is configured.
    pub fn has_proxy(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.all.is_some()
    }

    /// Where the configuration came from.
    pub fn source(&self) -> ProxySource {
        self.source
    }

    /// Environment variables that were set but not used (unparseable, or `HTTP_PROXY` under CGI).
    pub fn ignored_variables(&self) -> &[IgnoredVariable] {
        &self.ignored
    }

    /// The no-proxy list.
    pub fn no_proxy_list(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// How to reach `target` (see the module docs for the rules).
    pub fn route(&self, target: &Url) -> Route<'_> {
        let (scheme, host, port) = target.origin();
        if self.source != ProxySource::Explicit && is_loopback(host) {
            return Route::Direct;
        }
        let proxy = match scheme {
            Scheme::Http => self.http.as_ref(),
            Scheme::Https => self.https.as_ref(),
        }
        .or(self.all.as_ref());
        let Some(proxy) = proxy else {
            return Route::Direct;
        };
        if self.no_proxy.matches(host, port) {
            return Route::Direct;
        }
        match (proxy.kind(), scheme) {
            (ProxyKind::Socks5 { .. }, _) => Route::Socks5(proxy),
            (ProxyKind::Http, Scheme::Http) if !self.tunnel_http => Route::Forward(proxy),
            (ProxyKind::Http, _) => Route::Connect(proxy),
        }
    }
}

/// `localhost` and names under it (RFC 6761), 127.0.0.0/8, `::1`, and IPv4-mapped loopback.
pub fn is_loopback(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost")
        || (host.len() > ".localhost".len()
            && host[host.len() - ".localhost".len()..].eq_ignore_ascii_case(".localhost"))
    {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn p(s: &str) -> ProxyUrl {
        ProxyUrl::parse(s).unwrap()
    }

    #[test]
    fn proxy_route_by_scheme_and_kind() {
        let cfg = ProxyConfig::explicit()
            .http(p("http://hp:3128"))
            .https(p("http://sp:3128"));
        assert_eq!(
            cfg.route(&url("http://a.test/")),
            Route::Forward(&p("http://hp:3128"))
        );
        assert_eq!(
            cfg.route(&url("https://a.test/")),
            Route::Connect(&p("http://sp:3128"))
        );
        let cfg = cfg.tunnel_http(true);
        assert_eq!(
            cfg.route(&url("http://a.test/")),
            Route::Connect(&p("http://hp:3128"))
        );
        let cfg = ProxyConfig::explicit().all(p("socks5h://s:1080"));
        assert_eq!(
            cfg.route(&url("http://a.test/")),
            Route::Socks5(&p("socks5h://s:1080"))
        );
        assert_eq!(
            cfg.route(&url("https://a.test/")),
            Route::Socks5(&p("socks5h://s:1080"))
        );
        // A scheme's own proxy wins over the one for all.
        let cfg = ProxyConfig::explicit()
            .all(p("http://all:1"))
            .https(p("http://tls:2"));
        assert_eq!(
            cfg.route(&url("https://a.test/")).proxy(),
            Some(&p("http://tls:2"))
        );
        assert_eq!(
            cfg.route(&url("http://a.test/")).proxy(),
            Some(&p("http://all:1"))
        );
        assert_eq!(
            ProxyConfig::none().route(&url("http://a.test/")),
            Route::Direct
        );
    }

    #[test]
    fn proxy_loopback_goes_direct_unless_explicit() {
        let proxy = p("http://corp:3128");
        let env = ProxyConfig::from_source(ProxySource::Environment).all(proxy.clone());
        let sys = ProxyConfig::from_source(ProxySource::System).all(proxy.clone());
        let explicit = ProxyConfig::explicit().all(proxy.clone());
        for target in [
            "http://127.0.0.1:4096/",
            "http://127.9.9.9/",
            "http://localhost:4096/",
            "http://LOCALHOST./",
            "http://app.localhost/",
            "http://[::1]:4096/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(env.route(&url(target)), Route::Direct, "{target}");
            assert_eq!(sys.route(&url(target)), Route::Direct, "{target}");
            assert_eq!(
                explicit.route(&url(target)),
                Route::Forward(&proxy),
                "{target}"
            );
        }
        for remote in [
            "http://10.0.0.1/",
            "http://notlocalhost/",
            "http://localhost.evil.com/",
        ] {
            assert_eq!(env.route(&url(remote)), Route::Forward(&proxy), "{remote}");
        }
        // An explicit no-proxy list can still exempt loopback.
        let explicit = explicit.no_proxy(NoProxy::parse("127.0.0.1"));
        assert_eq!(
            explicit.route(&url("http://127.0.0.1:4096/")),
            Route::Direct
        );
    }

    #[test]
    fn proxy_no_proxy_list_bypasses() {
        let cfg = ProxyConfig::explicit()
            .all(p("http://corp:3128"))
            .no_proxy(NoProxy::parse("internal.test,10.0.0.0/8"));
        assert_eq!(cfg.route(&url("https://api.internal.test/")), Route::Direct);
        assert_eq!(cfg.route(&url("http://10.1.1.1:8080/")), Route::Direct);
        assert!(cfg.route(&url("http://example.com/")).proxy().is_some());
    }

    #[test]
    fn proxy_sources_chain_in_order() {
        let env = ProxyConfig::from_source(ProxySource::Environment).all(p("http://env:1"));
        let sys = ProxyConfig::from_source(ProxySource::System).all(p("http://sys:1"));
        // Nothing explicit: the environment, then the system.
        let chosen = ProxyConfig::none().or(env.clone()).or(sys.clone());
        assert_eq!(chosen.source(), ProxySource::Environment);
        let chosen = ProxyConfig::none()
            .or(ProxyConfig::from_source(ProxySource::Environment))
            .or(sys.clone());
        assert_eq!(chosen.source(), ProxySource::System);
        // Explicit wins, even when it names no proxy ("no proxy at all").
        let chosen = ProxyConfig::explicit().or(env).or(sys);
        assert_eq!(chosen.source(), ProxySource::Explicit);
        assert_eq!(chosen.route(&url("http://example.com/")), Route::Direct);
    }
}
