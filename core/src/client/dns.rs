//! The DNS cache: the core decides when a name needs resolving; the driver only answers.
//!
//! - IP literals (`127.0.0.1`, `[::1]`) are never resolved.
//! - Answers are cached for `dns_ttl`; one `Resolve` is outstanding per (host, port) however many requests wait.
//! - A failed resolution is not cached: the next attempt asks again.
//! - When a connect to an address fails, the next connect to that name tries the next address (round robin).

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::collections::HashMap;

use crate::error::NetError;
use crate::time::Instant;

/// What the cache knows about a name right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Connect here.
    Ready(SocketAddr),
    /// A resolution is already outstanding; wait for it.
    Pending,
    /// Ask the driver to resolve (the cache now counts it as outstanding).
    Resolve,
}

#[derive(Debug)]
struct Entry {
    addrs: Vec<SocketAddr>,
    expires: Instant,
    next: usize,
}

/// Resolved addresses with a TTL.
#[derive(Debug)]
pub struct DnsCache {
    ttl: Duration,
    entries: HashMap<(String, u16), Entry>,
    /// Outstanding resolutions and when each gives up (a resolver that never answers must not hold requests
    /// until their overall timeout).
    pending: HashMap<(String, u16), Instant>,
    resolve_timeout: Duration,
}

/// `host` as an IP address when it is a literal (IPv6 with or without brackets).
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

impl DnsCache {
    /// A cache keeping answers for `ttl`.
    pub fn new(ttl: Duration) -> DnsCache {
        DnsCache {
            ttl,
            entries: HashMap::new(),
            pending: HashMap::new(),
            resolve_timeout: Duration::from_secs(10),
        }
    }

    /// How long a resolution may take before it counts as failed (the machine uses `connect_timeout`).
    pub fn with_resolve_timeout(mut self, timeout: Duration) -> DnsCache {
        self.resolve_timeout = timeout;
        self
    }

    /// When the oldest outstanding resolution gives up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    /// Resolutions past their deadline, forgotten here: the machine fails them like a failed answer. A late
    /// answer is still cached.
    pub fn expired(&mut self, now: Instant) -> Vec<(String, u16)> {
        let due: Vec<(String, u16)> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.pending.remove(k);
        }
        due
    }

    /// Where to connect for `host:port` at `now`, or whether to wait or resolve.
    pub fn lookup(&mut self, host: &str, port: u16, now: Instant) -> Lookup {
        if let Some(ip) = ip_literal(host) {
            return Lookup::Ready(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Some(e) = self.entries.get(&key) {
            if now < e.expires && !e.addrs.is_empty() {
                return Lookup::Ready(e.addrs[e.next % e.addrs.len()]);
            }
            self.entries.remove(&key);
        }
        if self.pending.contains_key(&key) {
            return Lookup::Pending;
        }
        self.pending.insert(key, now + self.resolve_timeout);
        Lookup::Resolve
    }

    /// The driver's answer. An empty address list counts as a failure. Returns the failure, if any.
    pub fn resolved(
        &mut self,
        host: &str,
        port: u16,
        result: Result<Vec<SocketAddr>, NetError>,
        now: Instant,
    ) -> Result<(), NetError> {
        let key = (host.to_ascii_lowercase(), port);
        self.pending.remove(&key);
        match result {
            Ok(addrs) if !addrs.is_empty() => {
                self.entries.insert(
                    key,
                    Entry {
                        addrs,
                        expires: now + self.ttl,
                        next: 0,
                    },
                );
                Ok(())
            }
            Ok(_) => Err(NetError::Resolve),
            Err(e) => Err(e),
        }
    }

    /// A connect to the current address of `host:port` failed: use the next address next time.
    pub fn connect_failed(&mut self, host: &str, port: u16) {
        if let Some(e) = self.entries.get_mut(&(host.to_string(), port)) {
            e.next = e.next.wrapping_add(1);
        }
    }

    /// Forget every cached answer (the network changed: answers may point at a network we left). Outstanding
    /// resolutions stay outstanding; their answers are taken as fresh.
    pub fn forget(&mut self) -> usize {
        let n = self.entries.len();
        self.entries = HashMap::new();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn dns_ip_literals_are_never_resolved() {
        let mut c = DnsCache::new(Duration::from_secs(60));
        assert_eq!(
            c.lookup("127.0.0.1", 80, Instant::ZERO),
            Lookup::Ready(addr("127.0.0.1:80"))
        );
        assert_eq!(
            c.lookup("[::1]", 8080, Instant::ZERO),
            Lookup::Ready(addr("[::1]:8080"))
        );
    }

    #[test]
    fn dns_caches_with_ttl_and_one_outstanding_resolve() {
        let mut c = DnsCache::new(Duration::from_secs(60));
        let t0 = Instant::ZERO;
        assert_eq!(c.lookup("example", 80, t0), Lookup::Resolve);
        assert_eq!(c.lookup("example", 80, t0), Lookup::Pending);
        c.resolved(
            "example",
            80,
            Ok(vec![addr("10.0.0.1:80"), addr("10.0.0.2:80")]),
            t0,
        )
        .unwrap();
        let t1 = Instant::from_millis(59_999);
        assert_eq!(
            c.lookup("example", 80, t1),
            Lookup::Ready(addr("10.0.0.1:80"))
        );
        c.connect_failed("example", 80);
        assert_eq!(
            c.lookup("example", 80, t1),
            Lookup::Ready(addr("10.0.0.2:80"))
        );
        assert_eq!(
            c.lookup("example", 80, Instant::from_millis(60_000)),
            Lookup::Resolve,
            "expired"
        );
    }

    #[test]
    fn dns_resolution_gives_up_at_its_deadline() {
        let mut c =
            DnsCache::new(Duration::from_secs(60)).with_resolve_timeout(Duration::from_secs(2));
        assert_eq!(c.lookup("slow", 80, Instant::ZERO), Lookup::Resolve);
        assert_eq!(c.next_deadline(), Some(Instant::from_millis(2_000)));
        assert!(c.expired(Instant::from_millis(1_999)).is_empty());
        assert_eq!(
            c.expired(Instant::from_millis(2_000)),
            vec![("slow".to_string(), 80)]
        );
        assert_eq!(c.next_deadline(), None);
        assert_eq!(
            c.lookup("slow", 80, Instant::from_millis(2_000)),
            Lookup::Resolve,
            "asked again"
        );
    }

    #[test]
    fn dns_failures_are_not_cached() {
        let mut c = DnsCache::new(Duration::from_secs(60));
        assert_eq!(c.lookup("nx", 80, Instant::ZERO), Lookup::Resolve);
        assert_eq!(
            c.resolved("nx", 80, Ok(vec![]), Instant::ZERO),
            Err(NetError::Resolve)
        );
        assert_eq!(c.lookup("nx", 80, Instant::ZERO), Lookup::Resolve);
    }
}
