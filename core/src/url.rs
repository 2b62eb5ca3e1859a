//! URLs: parsing, validation, base + path joining, query encoding, credential redaction.
//!
//! Decisions:
//! - `http` and `https`; any other scheme is refused at parse time with [`ErrorKind::UnsupportedScheme`].
//! - CR, LF, NUL, spaces and other control bytes are refused anywhere in a URL (no request splitting).
//! - A userinfo part (`http://user:pass@host/`) becomes HTTP Basic authentication for that request, unless the
//!   request sets `Authorization` itself. It never appears in logs or error messages ([`Url::redacted`]).
//! - A fragment is dropped: it is never sent to a server.

use core::fmt;
use std::sync::Arc;

use crate::error::ErrorKind;

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed, validated absolute URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    /// Shared: every request to a base URL and every pool key of its origin clone it.
    host: Arc<str>,
    port: u16,
    explicit_port: bool,
    /// Always starts with `/`.
    path: String,
    /// Without the leading `?`.
    query: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug must not leak credentials either.
        write!(f, "Url({})", self.redacted())
    }
}

impl fmt::Display for Url {
    /// The URL with credentials removed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn invalid(url: &str, reason: &'static str) -> ErrorKind {
    ErrorKind::InvalidUrl {
        url: redact_str(url),
        reason,
    }
}

/// Remove a userinfo part from a URL string for messages, even when the URL is otherwise invalid — a scheme-less
/// `user:secret@host` or `//user:secret@host` included.
pub fn redact_str(url: &str) -> String {
    let start = match url.find("://") {
        Some(i) => i + 3,
        None if url.starts_with("//") => 2,
        None => 0,
    };
    let rest = &url[start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..auth_end].rfind('@').or_else(|| {
        // A password with an unencoded `/` (`u:p/ss@h`) ends the authority early. When the part before the first
        // `/` has a `:` and an `@` follows before any `?` or `#`, everything up to the last such `@` may be
        // userinfo: drop it. This can over-redact a message about an `@` in a path, never leak a secret.
        let colon = rest[..auth_end].find(':')?;
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        rest[..end].rfind('@').filter(|&at| at > colon)
    });
    match at {
        Some(at) => format!("{}{}", &url[..start], &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn check_bytes(url: &str) -> Result<(), ErrorKind> {
    for b in url.bytes() {
        match b {
            b'\r' | b'\n' => return Err(invalid(url, "contains CR or LF")),
            0 => return Err(invalid(url, "contains NUL")),
            b' ' => return Err(invalid(url, "contains a space")),
            b if b < 0x20 || b == 0x7f => return Err(invalid(url, "contains a control character")),
            _ => {}
        }
    }
    Ok(())
}

impl Url {
    /// Parse an absolute `http://` or `https://` URL.
    pub fn parse(input: &str) -> Result<Url, ErrorKind> {
        check_bytes(input)?;
        let Some(colon) = input.find("://") else {
            return Err(invalid(input, "missing scheme (expected http://)"));
        };
        let scheme_str = &input[..colon];
        let scheme = if scheme_str.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme_str.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            return Err(ErrorKind::UnsupportedScheme {
                scheme: scheme_str.to_string(),
            });
        };
        let rest = &input[colon + 3..];
        // Drop the fragment first: it never goes on the wire.
        let rest = match rest.find('#') {
            Some(i) => &rest[..i],
            None => rest,
        };
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        let after = &rest[auth_end..];
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(input, hostport)?;
        if host.is_empty() {
            return Err(invalid(input, "missing host"));
        }
        let (path, query) = match after.find('?') {
            Some(q) => (&after[..q], Some(&after[q + 1..])),
            None => (after, None),
        };
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                (Some(percent_decode(u)), p.map(percent_decode))
            }
        };
        Ok(Url {
            scheme,
            host: Arc::from(host.to_ascii_lowercase()),
            explicit_port: port.is_some(),
            port: port.unwrap_or(scheme.default_port()),
            path,
            query: query.map(str::to_string),
            username,
            password,
        })
    }

    /// Join a path to this base with exactly one `/` between them, keeping the base's path prefix
    /// (`http://h/api/` + `session` → `http://h/api/session`). An absolute URL replaces the base.
    /// The base's query, if any, is dropped.
    pub fn join(&self, path: &str) -> Result<Url, ErrorKind> {
        if path.contains("://") {
            return Url::parse(path);
        }
        check_bytes(path)?;
        let (p, q) = match path.find('?') {
            Some(i) => (&path[..i], Some(&path[i + 1..])),
            None => (path, None),
        };
        let p = match p.find('#') {
            Some(i) => &p[..i],
            None => p,
        };
        let base = self.path.trim_end_matches('/');
        let tail = p.trim_start_matches('/');
        // Built field by field: cloning `self` would copy a path that is replaced at once.
        let mut joined = String::with_capacity(base.len() + 1 + tail.len());
        joined.push_str(base);
        joined.push('/');
        joined.push_str(tail);
        Ok(Url {
            scheme: self.scheme,
            host: self.host.clone(),
            port: self.port,
            explicit_port: self.explicit_port,
            path: joined,
            query: q.map(|q| q.split('#').next().unwrap_or("").to_string()),
            username: self.username.clone(),
            password: self.password.clone(),
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lowercased (IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL spelled out its port (`http://h:80/` did, `http://h/` did not).
    pub fn has_explicit_port(&self) -> bool {
        self.explicit_port
    }

    /// The path, always starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The request target: path plus `?query` when present.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }

    /// The `Host` header value: `host` or `host:port` when the port is not the scheme's default.
    pub fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Username and password from the userinfo part, percent-decoded.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.username
            .as_deref()
            .map(|u| (u, self.password.as_deref().unwrap_or("")))
    }

    /// The same URL without credentials.
    pub fn without_credentials(&self) -> Url {
        let mut u = self.clone();
        u.username = None;
        u.password = None;
        u
    }

    /// Append `key=value` to the query, percent-encoding both.
    pub fn append_query(&mut self, key: &str, value: &str) {
        let mut q = self.query.take().unwrap_or_default();
        if !q.is_empty() {
            q.push('&');
        }
        percent_encode_into(key, &mut q);
        q.push('=');
        percent_encode_into(value, &mut q);
        self.query = Some(q);
    }

    /// `true` when the host is loopback: `localhost` (and `*.localhost`), `127.0.0.0/8` or `::1`. Credentials
    /// may go there in the clear: the bytes never leave the machine.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        if h == "localhost" || h.ends_with(".localhost") {
            return true;
        }
        h.parse::<core::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// `(scheme, host, port)`: the key of a connection pool.
    pub fn origin(&self) -> (Scheme, &str, u16) {
        (self.scheme, &self.host, self.port)
    }

    /// The host as a shared string (a pool key holds it without copying).
    pub fn host_shared(&self) -> &Arc<str> {
        &self.host
    }

    /// The URL as text with credentials removed: safe for logs and error messages.
    pub fn redacted(&self) -> String {
        let mut s = format!("{}://{}", self.scheme.as_str(), self.host);
        if self.explicit_port {
            s.push(':');
            s.push_str(&self.port.to_string());
        }
        s.push_str(&self.path_and_query());
        s
    }
}

fn split_host_port<'a>(
    input: &str,
    hostport: &'a str,
) -> Result<(&'a str, Option<u16>), ErrorKind> {
    let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
        let Some(end) = stripped.find(']') else {
            return Err(invalid(input, "unterminated IPv6 address"));
        };
        let host = &hostport[..end + 2];
        let tail = &hostport[end + 2..];
        match tail.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if tail.is_empty() => (host, None),
            None => return Err(invalid(input, "junk after IPv6 address")),
        }
    } else {
        match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        }
    };
    // Brackets belong only around an IPv6 literal (`http://[::@1]:80/` must not yield the host `1]`).
    if !host.starts_with('[') && host.contains(['[', ']']) {
        return Err(invalid(input, "invalid character in host"));
    }
    if host.bytes().any(|b| {
        matches!(
            b,
            b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`' | b'%'
        )
    }) {
        return Err(invalid(input, "invalid character in host"));
    }
    let port = match port {
        None => None,
        Some("") => None,
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(input, "port is not a number"));
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(invalid(input, "port out of range")),
                Ok(n) => Some(n),
            }
        }
    };
    Ok((host, port))
}

/// Percent-encode for a query component: everything but RFC 3986 unreserved characters is escaped.
pub fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Decode `%XX` escapes; invalid escapes are kept as written, invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_uses_exactly_one_slash() {
        for (base, path) in [
            ("http://h:1/", "/event"),
            ("http://h:1", "event"),
            ("http://h:1/", "event"),
            ("http://h:1", "/event"),
        ] {
            assert_eq!(
                Url::parse(base).unwrap().join(path).unwrap().redacted(),
                "http://h:1/event"
            );
        }
        let api = Url::parse("http://h/api/").unwrap();
        assert_eq!(
            api.join("session").unwrap().redacted(),
            "http://h/api/session"
        );
        assert_eq!(
            api.join("/session?x=1").unwrap().path_and_query(),
            "/api/session?x=1"
        );
    }

    #[test]
    fn refuses_bad_urls() {
        assert!(matches!(
            Url::parse("ftp://h/"),
            Err(ErrorKind::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Url::parse("http:///x"),
            Err(ErrorKind::InvalidUrl {
                reason: "missing host",
                ..
            })
        ));
        assert!(matches!(
            Url::parse("http://h/a b"),
            Err(ErrorKind::InvalidUrl { .. })
        ));
        assert!(matches!(
            Url::parse("http://h/a\r\nX: y"),
            Err(ErrorKind::InvalidUrl { .. })
        ));
        assert!(matches!(
            Url::parse("http://h/\0"),
            Err(ErrorKind::InvalidUrl { .. })
        ));
        assert!(matches!(
            Url::parse("http://h:99999/"),
            Err(ErrorKind::InvalidUrl { .. })
        ));
        assert!(matches!(
            Url::parse("h/x"),
            Err(ErrorKind::InvalidUrl { .. })
        ));
    }

    /// Regression (fuzz, request): `http://[::@1]:8080/` parsed with userinfo `[::` and host `1]`.
    #[test]
    fn url_refuses_brackets_outside_an_ipv6_literal() {
        for bad in [
            "http://[::@1]:8080/",
            "http://h]/",
            "http://a[b/",
            "http://1]:80/",
        ] {
            assert!(
                matches!(
                    Url::parse(bad),
                    Err(ErrorKind::InvalidUrl {
                        reason: "invalid character in host",
                        ..
                    })
                ),
                "{bad}: {:?}",
                Url::parse(bad)
            );
        }
        assert_eq!(Url::parse("http://[::1]:8080/").unwrap().host(), "[::1]");
    }

    #[test]
    fn credentials_are_kept_but_never_shown() {
        let u = Url::parse("http://al%40ice:s3cret@127.0.0.1:4096/x").unwrap();
        assert_eq!(u.credentials(), Some(("al@ice", "s3cret")));
        assert_eq!(u.redacted(), "http://127.0.0.1:4096/x");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert_eq!(redact_str("http://a:b@h/x"), "http://h/x");
        // Issue 20 item 6: not even a malformed URL shows a password.
        assert_eq!(redact_str("a:secret@h:1/x@y"), "h:1/x@y");
        assert_eq!(redact_str("//a:secret@h/"), "//h/");
        assert_eq!(redact_str("http://a:sec ret@h/ x"), "http://h/ x");
        assert_eq!(redact_str("h:1/p?q=a@b"), "h:1/p?q=a@b");
        // A password with an unencoded `/` or `@` never shows, even in part.
        assert_eq!(redact_str("http://u:p/ss@h/x"), "http://h/x");
        assert_eq!(redact_str("http://u:p/s@s@h"), "http://h");
        assert_eq!(redact_str("u:p/ss@h:1"), "h:1");
        assert_eq!(redact_str("http://h/p@q"), "http://h/p@q");
    }

    #[test]
    fn query_is_percent_encoded() {
        let mut u = Url::parse("http://h/p").unwrap();
        u.append_query("directory", "/tmp/a b&c");
        assert_eq!(u.path_and_query(), "/p?directory=%2Ftmp%2Fa%20b%26c");
        assert_eq!(u.authority(), "h");
        assert_eq!(
            Url::parse("http://[::1]:8080/").unwrap().authority(),
            "[::1]:8080"
        );
    }
}
