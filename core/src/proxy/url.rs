//! A proxy URL: `http://`, `socks5://` or `socks5h://`, with optional `user:password@`.
//!
//! Decisions (curl's, since the environment is read as curl reads it):
//! - No scheme means an HTTP proxy (`proxy.corp:3128`).
//! - Without a port the proxy listens on 1080, for every scheme (curl's default proxy port).
//! - A path, query or fragment is ignored (`http://proxy:3128/` is common in the wild).
//! - `https://` (TLS to the proxy itself), SOCKS4 and any other scheme are refused with a typed error.
//! - The userinfo is percent-decoded and becomes Basic `Proxy-Authorization` (HTTP) or RFC 1929
//!   username/password (SOCKS5). It never appears in `Debug`, `Display` or an error message.

use core::fmt;

use crate::error::ErrorKind;
use crate::request::base64_encode;
use crate::url::Url;

/// The port a proxy listens on when its URL names none (curl's `CURL_DEFAULT_PROXY_PORT`).
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// What kind of proxy a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// An HTTP proxy: forwarding (absolute-form) for `http://` targets, a `CONNECT` tunnel for `https://`.
    Http,
    /// A SOCKS5 proxy (RFC 1928).
    Socks5 {
        /// `socks5h://`: the proxy resolves the target's name (the domain is sent). `socks5://`: the client
        /// resolves it and sends the address.
        remote_dns: bool,
    },
}

impl ProxyKind {
    /// `"http"`, `"socks5"` or `"socks5h"`.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        }
    }
}

/// Proxy credentials (Basic for HTTP proxies, RFC 1929 for SOCKS5). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials from a username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The `Proxy-Authorization` value: `Basic base64(user:password)`.
    pub fn basic_authorization(&self) -> String {
        let token = base64_encode(format!("{}:{}", self.username, self.password).as_bytes());
        format!("Basic {token}")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// A parsed proxy URL. `Debug` and `Display` show it without credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl {
    kind: ProxyKind,
    /// Lowercased; an IPv6 literal keeps its brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

fn invalid(input: &str, reason: &'static str) -> ErrorKind {
    ErrorKind::InvalidUrl {
        url: redact(input),
        reason,
    }
}

/// The input without anything that may be userinfo. Stricter than [`crate::url::redact_str`]: a proxy URL
/// may lack a scheme, and a password with an unescaped `/` or `?` must not leak either, so everything up to the
/// last `@` goes (a proxy URL has no meaningful path that could hold one).
fn redact(input: &str) -> String {
    let (scheme, rest) = match input.find("://") {
        Some(i) => input.split_at(i + 3),
        None => ("", input),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => input.to_string(),
    }
}

impl ProxyUrl {
    /// Parse a proxy URL (see the module docs for the rules).
    pub fn parse(input: &str) -> Result<ProxyUrl, ErrorKind> {
        let input = input.trim();
        let (kind, rest) = match input.find("://") {
            None => (ProxyKind::Http, input),
            Some(i) => {
                let scheme = &input[..i];
                let kind = if scheme.eq_ignore_ascii_case("http") {
                    ProxyKind::Http
                } else if scheme.eq_ignore_ascii_case("socks5") {
                    ProxyKind::Socks5 { remote_dns: false }
                } else if scheme.eq_ignore_ascii_case("socks5h") {
                    ProxyKind::Socks5 { remote_dns: true }
                } else if scheme.eq_ignore_ascii_case("https") {
                    return Err(invalid(
                        input,
                        "HTTPS proxies (TLS to the proxy) are not supported; use http:// (https:// targets are still tunnelled with TLS inside)",
                    ));
                } else {
                    return Err(invalid(
                        input,
                        "unsupported proxy scheme (use http://, socks5:// or socks5h://)",
                    ));
                };
                (kind, &input[i + 3..])
            }
        };
        // The authority rules (userinfo, IPv6 brackets, port range, forbidden bytes) are the same as for any
        // http URL, so the URL parser checks them; only the messages are remapped to the original text.
        let url = Url::parse(&format!("http://{rest}")).map_err(|e| match e {
            ErrorKind::InvalidUrl { reason, .. } => invalid(input, reason),
            _ => invalid(input, "invalid proxy URL"),
        })?;
        let port = if url.has_explicit_port() {
            url.port()
        } else {
            DEFAULT_PROXY_PORT
        };
        Ok(ProxyUrl {
            kind,
            host: url.host().to_string(),
            port,
            credentials: url.credentials().map(|(u, p)| Credentials::new(u, p)),
        })
    }

    /// A proxy without credentials.
    pub fn new(kind: ProxyKind, host: &str, port: u16) -> Result<ProxyUrl, ErrorKind> {
        ProxyUrl::parse(&format!("{}://{host}:{port}", kind.scheme()))
    }

    /// The same proxy with these credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> ProxyUrl {
        self.credentials = Some(credentials);
        self
    }

    /// HTTP or SOCKS5.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host, lowercased (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's host without IPv6 brackets: what a resolver or a socket address parser takes.
    pub fn host_unbracketed(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The proxy's port (1080 when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials from the URL's userinfo, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// `scheme://host:port`, without credentials: safe for logs and messages.
    pub fn redacted(&self) -> String {
        format!("{}://{}:{}", self.kind.scheme(), self.host, self.port)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({}", self.redacted())?;
        if self.credentials.is_some() {
            f.write_str(", with credentials")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for ProxyUrl {
    /// The proxy URL without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_url_parses_curl_forms() {
        let p = ProxyUrl::parse("proxy.corp:3128").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Http, "proxy.corp", 3128)
        );
        let p = ProxyUrl::parse("HTTP://Proxy.Corp/").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.corp", DEFAULT_PROXY_PORT));
        let p = ProxyUrl::parse("socks5h://[::1]:9050").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5 { remote_dns: true });
        assert_eq!((p.host(), p.host_unbracketed()), ("[::1]", "::1"));
        let p = ProxyUrl::parse(" socks5://10.0.0.1 ").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5 { remote_dns: false });
        assert_eq!(p.port(), 1080);
        assert_eq!(p.redacted(), "socks5://10.0.0.1:1080");
    }

    #[test]
    fn proxy_url_refuses_unsupported_schemes_and_bad_authorities() {
        for bad in [
            "https://p:443",
            "socks4://p:1080",
            "ftp://p",
            "http://",
            "http://p:0",
            "http://p:99999",
            "http://p q:1",
            "http://[::1",
        ] {
            assert!(
                matches!(ProxyUrl::parse(bad), Err(ErrorKind::InvalidUrl { .. })),
                "{bad}: {:?}",
                ProxyUrl::parse(bad)
            );
        }
    }

    #[test]
    fn proxy_credentials_never_shown() {
        let p = ProxyUrl::parse("http://al%40ice:s3cr%3At@proxy:3128").unwrap();
        let c = p.credentials().unwrap();
        assert_eq!((c.username(), c.password()), ("al@ice", "s3cr:t"));
        assert_eq!(c.basic_authorization(), "Basic YWxAaWNlOnMzY3I6dA==");
        for shown in [
            format!("{p:?}"),
            format!("{p}"),
            format!("{c:?}"),
            p.redacted(),
        ] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(
                !shown.contains("al@ice") && !shown.contains("al%40ice"),
                "{shown}"
            );
        }
        assert_eq!(
            format!("{p:?}"),
            "ProxyUrl(http://proxy:3128, with credentials)"
        );
        // An invalid proxy URL's error does not carry the password either.
        let err = ProxyUrl::parse("http://user:hunter2@proxy:notaport").unwrap_err();
        assert!(!format!("{err:?} {err}").contains("hunter2"), "{err}");
        for bad in [
            "https://user:hunter2@proxy",
            "user:hunter2@proxy:x",
            "http://user:hun/ter2@proxy:x",
            "socks5://user:hun?ter2@[::1",
        ] {
            let err = ProxyUrl::parse(bad).unwrap_err();
            let shown = format!("{err:?} {err}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("ter2"),
                "{shown}"
            );
        }
    }
}
