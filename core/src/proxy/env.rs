//! Proxy configuration from environment variables, read as curl reads them (plus reqwest's `HTTP_PROXY`).
//!
//! The core never reads the environment: the caller passes a lookup (`|name| std::env::var(name).ok()` in a
//! driver or façade, a map in tests), so this is a pure function of a snapshot.
//!
//! | target | variables, first set one wins |
//! |---|---|
//! | `http://` | `http_proxy`, then `HTTP_PROXY` — but never `HTTP_PROXY` when `REQUEST_METHOD` is set (CGI: a request's `Proxy:` header arrives as `HTTP_PROXY`, so it is attacker-controlled) — then `all_proxy`, `ALL_PROXY` |
//! | `https://` | `https_proxy`, `HTTPS_PROXY`, then `all_proxy`, `ALL_PROXY` |
//! | bypass | `no_proxy`, then `NO_PROXY` (see [`crate::proxy::NoProxy`]) |
//!
//! Lower case wins when both spellings are set. An empty value counts as unset (curl's `curl_getenv`). A value
//! that is not a usable proxy URL is skipped as if unset and reported in
//! [`ProxyConfig::ignored_variables`] (by name: the value may hold credentials).

use crate::proxy::config::{ProxyConfig, ProxySource};
use crate::proxy::no_proxy::NoProxy;
use crate::proxy::url::ProxyUrl;

impl ProxyConfig {
    /// The configuration the environment describes; `get(name)` returns a variable's value.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> ProxyConfig {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut cfg = ProxyConfig::from_source(ProxySource::Environment);
        let cgi = get("REQUEST_METHOD").is_some();
        let mut http_names: Vec<&'static str> = vec!["http_proxy"];
        if cgi {
            if get("HTTP_PROXY").is_some() {
                cfg.ignore(
                    "HTTP_PROXY",
                    "ignored because REQUEST_METHOD is set (CGI: the request's Proxy header would set it)",
                );
            }
        } else {
            http_names.push("HTTP_PROXY");
        }
        if let Some(p) = first_proxy(&mut cfg, &get, &http_names) {
            cfg = cfg.http(p);
        }
        if let Some(p) = first_proxy(&mut cfg, &get, &["https_proxy", "HTTPS_PROXY"]) {
            cfg = cfg.https(p);
        }
        if let Some(p) = first_proxy(&mut cfg, &get, &["all_proxy", "ALL_PROXY"]) {
            cfg = cfg.all(p);
        }
        match get("no_proxy").or_else(|| get("NO_PROXY")) {
            Some(list) => cfg.no_proxy(NoProxy::parse(&list)),
            None => cfg,
        }
    }
}

/// The first of `names` that is set and parses; unparseable ones are recorded and skipped.
fn first_proxy(
    cfg: &mut ProxyConfig,
    get: &impl Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<ProxyUrl> {
    for &name in names {
        let Some(value) = get(name) else { continue };
        match ProxyUrl::parse(&value) {
            Ok(p) => return Some(p),
            Err(_) => cfg.ignore(
                name,
                "not a usable proxy URL (http://, socks5:// or socks5h://)",
            ),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::proxy::config::Route;
    use crate::url::Url;

    fn env(pairs: &[(&str, &str)]) -> ProxyConfig {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyConfig::from_env(|name| map.get(name).cloned())
    }

    fn via(cfg: &ProxyConfig, target: &str) -> Option<String> {
        cfg.route(&Url::parse(target).unwrap())
            .proxy()
            .map(|p| p.host().to_string())
    }

    #[test]
    fn proxy_env_lower_case_wins() {
        let cfg = env(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:1"),
            ("https_proxy", "http://slower:1"),
            ("HTTPS_PROXY", "http://supper:1"),
            ("no_proxy", "a.test"),
            ("NO_PROXY", "b.test"),
        ]);
        assert_eq!(cfg.source(), ProxySource::Environment);
        assert_eq!(via(&cfg, "http://x.test/").as_deref(), Some("lower"));
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("slower"));
        assert_eq!(via(&cfg, "http://a.test/"), None);
        assert!(via(&cfg, "http://b.test/").is_some());
    }

    #[test]
    fn proxy_env_upper_case_and_all_proxy_fallback() {
        let cfg = env(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("HTTPS_PROXY", "http://supper:1"),
            ("NO_PROXY", "b.test"),
        ]);
        assert_eq!(via(&cfg, "http://x.test/").as_deref(), Some("upper"));
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("supper"));
        assert_eq!(via(&cfg, "http://b.test/"), None);
        let cfg = env(&[("ALL_PROXY", "socks5h://all:1"), ("https_proxy", "")]);
        assert_eq!(via(&cfg, "http://x.test/").as_deref(), Some("all"));
        // An empty variable counts as unset: all_proxy applies.
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("all"));
        let cfg = env(&[("all_proxy", "http://l:1"), ("ALL_PROXY", "http://u:1")]);
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("l"));
    }

    #[test]
    fn proxy_env_cgi_ignores_upper_case_http_proxy() {
        let cfg = env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker:1"),
        ]);
        assert_eq!(via(&cfg, "http://x.test/"), None);
        assert_eq!(cfg.ignored_variables()[0].name, "HTTP_PROXY");
        // Lower case is not settable through a request header; it still applies under CGI.
        let cfg = env(&[("REQUEST_METHOD", "GET"), ("http_proxy", "http://ok:1")]);
        assert_eq!(via(&cfg, "http://x.test/").as_deref(), Some("ok"));
        // HTTPS_PROXY is not a CGI header name collision (`Https-Proxy` would be), but curl and reqwest read it.
        let cfg = env(&[("REQUEST_METHOD", "GET"), ("HTTPS_PROXY", "http://s:1")]);
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("s"));
    }

    #[test]
    fn proxy_env_never_captures_loopback() {
        let cfg = env(&[
            ("HTTP_PROXY", "http://corp:3128"),
            ("all_proxy", "socks5://s:1"),
        ]);
        assert_eq!(
            cfg.route(&Url::parse("http://127.0.0.1:4096/").unwrap()),
            Route::Direct
        );
        assert_eq!(
            cfg.route(&Url::parse("http://localhost:4096/").unwrap()),
            Route::Direct
        );
    }

    #[test]
    fn proxy_env_skips_unusable_values_by_name_only() {
        let cfg = env(&[
            ("https_proxy", "https://user:hunter2@tls-proxy:443"),
            ("HTTPS_PROXY", "http://good:1"),
        ]);
        assert_eq!(via(&cfg, "https://x.test/").as_deref(), Some("good"));
        assert_eq!(cfg.ignored_variables().len(), 1);
        assert_eq!(cfg.ignored_variables()[0].name, "https_proxy");
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert!(!env(&[]).has_proxy());
    }
}
