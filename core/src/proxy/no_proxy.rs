//! The no-proxy list: which targets bypass the proxy.
//!
//! Read as curl reads `no_proxy` (entries separated by commas and/or whitespace, case-insensitive):
//! - `*` alone matches every host.
//! - A name matches itself and every name below it: `example.com` (or `.example.com`, or `*.example.com`)
//!   matches `example.com` and `a.example.com`, never `notexample.com`. A trailing dot is ignored on both sides.
//! - An IP literal matches that address; a CIDR range (`10.0.0.0/8`, `fe80::/10`, macOS's short `169.254/16`)
//!   matches every address in it. IPv6 may be written in brackets. Names are never resolved: an IP entry
//!   matches only a target written as an IP literal.
//! - `entry:port` (`[v6]:port` for IPv6) restricts an entry to one port.
//!
//! Entries that are none of these (`a b/c`, `10.0.0.0/99`) are skipped rather than failing the whole list,
//! as curl does. Simple host names (no dot) can be made to bypass the proxy as well ([`NoProxy::bypass_simple_names`],
//! macOS's "exclude simple hostnames").

use core::net::IpAddr;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pattern {
    /// A domain suffix, lowercased, without leading or trailing dots.
    Name(String),
    /// An address range: the network address and the prefix length.
    Net(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

/// A parsed no-proxy list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NoProxy {
    all: bool,
    simple_names: bool,
    entries: Vec<Entry>,
}

impl NoProxy {
    /// An empty list: nothing bypasses the proxy.
    pub fn empty() -> NoProxy {
        NoProxy::default()
    }

    /// Parse a list (see the module docs).
    pub fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for token in list.split(|c: char| c == ',' || c.is_ascii_whitespace()) {
            if token.is_empty() {
                continue;
            }
            if token == "*" {
                out.all = true;
                continue;
            }
            if let Some(entry) = parse_entry(token) {
                out.entries.push(entry);
            }
        }
        out
    }

    /// The same list, where host names without a dot (`intranet`) bypass the proxy too.
    pub fn bypass_simple_names(mut self, yes: bool) -> NoProxy {
        self.simple_names = yes;
        self
    }

    /// Add the entries of another list.
    pub fn extend(&mut self, other: NoProxy) {
        self.all |= other.all;
        self.simple_names |= other.simple_names;
        self.entries.extend(other.entries);
    }

    /// `true` when nothing bypasses the proxy.
    pub fn is_empty(&self) -> bool {
        !self.all && !self.simple_names && self.entries.is_empty()
    }

    /// Whether a target bypasses the proxy. `host` is as in a URL (lowercase or not, IPv6 in brackets or not).
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = unbracket(host).trim_end_matches('.');
        if host.is_empty() {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if self.simple_names && ip.is_none() && !host.contains('.') {
            return true;
        }
        self.entries.iter().any(|e| {
            e.port.is_none_or(|p| p == port)
                && match (&e.pattern, ip) {
                    (Pattern::Net(net, bits), Some(ip)) => in_net(ip, *net, *bits),
                    (Pattern::Name(name), None) => name_matches(host, name),
                    _ => false,
                }
        })
    }
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(s)
}

/// `host` is `name` or ends with `.name`, ignoring ASCII case.
fn name_matches(host: &str, name: &str) -> bool {
    let (h, n) = (host.as_bytes(), name.as_bytes());
    if h.len() < n.len() {
        return false;
    }
    let tail = &h[h.len() - n.len()..];
    tail.eq_ignore_ascii_case(n) && (h.len() == n.len() || h[h.len() - n.len() - 1] == b'.')
}

fn parse_entry(token: &str) -> Option<Entry> {
    let (body, port) = split_port(token)?;
    let body = unbracket(body);
    if let Some(pattern) = parse_net(body) {
        return Some(Entry { pattern, port });
    }
    let name = body
        .strip_prefix("*.")
        .unwrap_or(body)
        .trim_start_matches('.')
        .trim_end_matches('.');
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then(|| Entry {
        pattern: Pattern::Name(name.to_ascii_lowercase()),
        port,
    })
}

/// Split `body:port`. A bare IPv6 address (several colons, no brackets) has no port.
fn split_port(token: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = token.strip_prefix('[') {
        let end = rest.find(']')?;
        let (inner, after) = (&token[..end + 2], &rest[end + 1..]);
        return match after {
            "" => Some((inner, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Some((inner, Some(parse_port(p)?))),
                // `[fe80::]/10`: the prefix length after the brackets.
                None if a.starts_with('/') => Some((token, None)),
                None => None,
            },
        };
    }
    match token.rfind(':') {
        Some(i) if token[..i].contains(':') => Some((token, None)),
        Some(i) => Some((&token[..i], Some(parse_port(&token[i + 1..])?))),
        None => Some((token, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&n| n != 0)
}

/// An address or a CIDR range. IPv4 in a range may be shortened (`169.254/16` is `169.254.0.0/16`).
fn parse_net(body: &str) -> Option<Pattern> {
    let body = body.replace(['[', ']'], "");
    let (addr, bits) = match body.split_once('/') {
        Some((a, b)) => {
            if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) || b.len() > 3 {
                return None;
            }
            (a, Some(b.parse::<u8>().ok()?))
        }
        None => (body.as_str(), None),
    };
    let ip = match addr.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if bits.is_some() => short_ipv4(addr)?,
        Err(_) => return None,
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Pattern::Net(ip, bits))
}

/// `10`, `10.1`, `10.1.2`: missing octets are zero (only inside a CIDR range, where that reading is unambiguous).
fn short_ipv4(s: &str) -> Option<IpAddr> {
    let mut octets = [0u8; 4];
    for (n, part) in s.split('.').enumerate() {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        octets[n] = part.parse().ok()?;
    }
    Some(IpAddr::from(octets))
}

/// `ip` lies in `net/bits`. An IPv4-mapped IPv6 target is compared as IPv4.
fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            prefix_eq(u128::from(u32::from(a)), u128::from(u32::from(n)), 32, bits)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_eq(u128::from(a), u128::from(n), 128, bits),
        _ => false,
    }
}

fn prefix_eq(a: u128, n: u128, width: u8, bits: u8) -> bool {
    let shift = u32::from(width - bits.min(width));
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (n >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_names_match_on_label_boundaries() {
        let np = NoProxy::parse("example.com, .corp.test  *.svc.local,Internal.");
        for (host, yes) in [
            ("example.com", true),
            ("EXAMPLE.com.", true),
            ("a.b.example.com", true),
            ("notexample.com", false),
            ("example.com.evil", false),
            ("corp.test", true),
            ("x.corp.test", true),
            ("xcorp.test", false),
            ("a.svc.local", true),
            ("svc.local", true),
            ("internal", true),
            ("my.internal", true),
            ("other", false),
        ] {
            assert_eq!(np.matches(host, 80), yes, "{host}");
        }
    }

    #[test]
    fn no_proxy_ip_literals_and_cidr() {
        let np = NoProxy::parse("10.0.0.0/8 192.168.1.7 [fe80::]/10 ::1 169.254/16 [2001:db8::1]");
        for (host, yes) in [
            ("10.200.3.4", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("[fe80::1]", true),
            ("fe80::abcd", true),
            ("[fec0::1]", false),
            ("[::1]", true),
            ("169.254.10.1", true),
            ("[::ffff:10.1.2.3]", true),
            ("[2001:db8::1]", true),
            ("[2001:db8::2]", false),
            // Names are never resolved, and an IP entry never matches a name.
            ("ten.example", false),
        ] {
            assert_eq!(np.matches(host, 443), yes, "{host}");
        }
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8", 1));
        assert!(NoProxy::parse("::/0").matches("[2001:db8::5]", 1));
    }

    #[test]
    fn no_proxy_ports_and_star() {
        let np = NoProxy::parse("api.test:8443,[::1]:9000,127.0.0.1:3000");
        assert!(np.matches("api.test", 8443));
        assert!(np.matches("v2.api.test", 8443));
        assert!(!np.matches("api.test", 443));
        assert!(np.matches("[::1]", 9000));
        assert!(!np.matches("[::1]", 9001));
        assert!(np.matches("127.0.0.1", 3000));
        assert!(!np.matches("127.0.0.1", 3001));
        assert!(NoProxy::parse("*").matches("anything.at.all", 1));
        assert!(NoProxy::parse("a.test, *").matches("b.test", 1));
        // `*` inside a name is not a wildcard.
        assert!(!NoProxy::parse("a*b").matches("axb", 1));
    }

    #[test]
    fn no_proxy_skips_junk_entries() {
        let np = NoProxy::parse("a/b, 10.0.0.0/99, host:notaport, [::1, , ok.test");
        assert_eq!(np.entries.len(), 1);
        assert!(np.matches("ok.test", 1));
        assert!(NoProxy::parse("").is_empty());
        assert!(NoProxy::parse(" , ").is_empty());
        assert!(!NoProxy::parse("").matches("", 1));
    }

    #[test]
    fn no_proxy_simple_names() {
        let np = NoProxy::empty().bypass_simple_names(true);
        assert!(np.matches("intranet", 80));
        assert!(!np.matches("intranet.corp", 80));
        assert!(!np.matches("10.0.0.1", 80));
    }
}
