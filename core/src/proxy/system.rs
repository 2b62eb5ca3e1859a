//! Proxy configuration from the operating system's settings, as plain values.
//!
//! On macOS the settings come from SystemConfiguration (`SCDynamicStoreCopyProxies`); the reader lives above
//! the core (`plue-http-os`, behind `cfg(target_os = "macos")`) and fills a [`SystemProxySettings`], which this
//! file turns into a [`ProxyConfig`] — so the mapping is tested on every platform. The dictionary keys map as
//! follows:
//!
//! | SystemConfiguration keys | field |
//! |---|---|
//! | `HTTPEnable`, `HTTPProxy`, `HTTPPort` | `http` |
//! | `HTTPSEnable`, `HTTPSProxy`, `HTTPSPort` ("Secure Web Proxy": an HTTP proxy used with `CONNECT`) | `https` |
//! | `SOCKSEnable`, `SOCKSProxy`, `SOCKSPort` | `socks` |
//! | `ExceptionsList` | `exceptions` |
//! | `ExcludeSimpleHostnames` | `exclude_simple_hostnames` |
//!
//! A SOCKS proxy applies to both schemes where no HTTP(S) proxy is set, with the proxy resolving names
//! (`socks5h`), as browsers on macOS do. Proxy auto-configuration (PAC files) and proxy credentials stored in
//! the keychain are not read.

use crate::proxy::config::{ProxyConfig, ProxySource};
use crate::proxy::no_proxy::NoProxy;
use crate::proxy::url::{ProxyKind, ProxyUrl};

/// One enabled proxy from the system settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemProxy {
    /// The proxy's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
}

/// The system's proxy settings (only enabled proxies are filled in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemProxySettings {
    /// The web proxy (HTTP).
    pub http: Option<SystemProxy>,
    /// The secure web proxy (HTTPS).
    pub https: Option<SystemProxy>,
    /// The SOCKS proxy.
    pub socks: Option<SystemProxy>,
    /// Hosts and domains that bypass the proxies (`*.local`, `169.254/16`, …).
    pub exceptions: Vec<String>,
    /// Host names without a dot bypass the proxies.
    pub exclude_simple_hostnames: bool,
}

fn proxy(kind: ProxyKind, p: &SystemProxy) -> Option<ProxyUrl> {
    let host = if p.host.contains(':') && !p.host.starts_with('[') {
        format!("[{}]", p.host)
    } else {
        p.host.clone()
    };
    ProxyUrl::new(kind, &host, p.port).ok()
}

impl ProxyConfig {
    /// The configuration the system settings describe. A setting whose host or port is unusable is skipped.
    pub fn from_system(settings: &SystemProxySettings) -> ProxyConfig {
        let mut cfg = ProxyConfig::from_source(ProxySource::System);
        if let Some(p) = settings
            .http
            .as_ref()
            .and_then(|p| proxy(ProxyKind::Http, p))
        {
            cfg = cfg.http(p);
        }
        if let Some(p) = settings
            .https
            .as_ref()
            .and_then(|p| proxy(ProxyKind::Http, p))
        {
            cfg = cfg.https(p);
        }
        let socks = ProxyKind::Socks5 { remote_dns: true };
        if let Some(p) = settings.socks.as_ref().and_then(|p| proxy(socks, p)) {
            cfg = cfg.all(p);
        }
        let mut list = NoProxy::parse(&settings.exceptions.join(","));
        list = list.bypass_simple_names(settings.exclude_simple_hostnames);
        cfg.no_proxy(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::Route;
    use crate::url::Url;

    fn route_host(cfg: &ProxyConfig, target: &str) -> Option<String> {
        cfg.route(&Url::parse(target).unwrap())
            .proxy()
            .map(|p| p.redacted())
    }

    #[test]
    fn proxy_system_settings_map_like_macos() {
        let settings = SystemProxySettings {
            http: Some(SystemProxy {
                host: "web.corp".into(),
                port: 8080,
            }),
            https: Some(SystemProxy {
                host: "fe80::1".into(),
                port: 8443,
            }),
            socks: Some(SystemProxy {
                host: "socks.corp".into(),
                port: 1080,
            }),
            exceptions: vec!["*.local".into(), "169.254/16".into()],
            exclude_simple_hostnames: true,
        };
        let cfg = ProxyConfig::from_system(&settings);
        assert_eq!(cfg.source(), ProxySource::System);
        assert_eq!(
            route_host(&cfg, "http://a.test/").as_deref(),
            Some("http://web.corp:8080")
        );
        assert_eq!(
            route_host(&cfg, "https://a.test/").as_deref(),
            Some("http://[fe80::1]:8443")
        );
        assert_eq!(route_host(&cfg, "http://printer.local/"), None);
        assert_eq!(route_host(&cfg, "http://169.254.1.1/"), None);
        assert_eq!(route_host(&cfg, "http://intranet/"), None);
        assert_eq!(
            cfg.route(&Url::parse("http://127.0.0.1/").unwrap()),
            Route::Direct
        );

        let socks_only = ProxyConfig::from_system(&SystemProxySettings {
            socks: settings.socks.clone(),
            ..SystemProxySettings::default()
        });
        assert_eq!(
            route_host(&socks_only, "https://a.test/").as_deref(),
            Some("socks5h://socks.corp:1080")
        );
        assert!(!ProxyConfig::from_system(&SystemProxySettings::default()).has_proxy());
    }
}
