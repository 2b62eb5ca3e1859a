//! Pool decisions: which connection a request gets, when a new one may be opened, when an idle one dies.
//!
//! The pool holds no sockets and no codecs, only the bookkeeping the decisions need: per origin
//! (scheme, host, port) the number of open connections and a LIFO stack of idle ones with their expiry.
//!
//! - **LIFO checkout**: the most recently used idle connection is the least likely to have been closed by the
//!   server, and leaving the oldest at the bottom lets them expire.
//! - **Caps**: `pool_size` open connections per origin (busy + idle + connecting) and `max_connections` in total.
//!   When the total cap is reached but another origin holds an idle connection, that connection (the least
//!   recently used one) is evicted to make room: idle sockets of one host must not starve another host.
//! - **Idle lifetime**: `min(pool_idle_timeout, server's Keep-Alive: timeout=)`, so the client never reuses a
//!   connection the server has already announced it will have closed.
//! - Event-stream connections are never registered here: they are not counted against `pool_size` and never
//!   return to the pool.

use core::time::Duration;
use std::collections::HashMap;

use crate::client::io::ConnId;
use crate::proxy::{Hop, ProxyConfig};
use crate::time::Instant;
use crate::url::{Scheme, Url};
use std::sync::Arc;

/// The key of a pool: connections are shared only between requests to the same scheme, host and port, through
/// the same proxy with the same credentials (or none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The scheme.
    pub scheme: Scheme,
    /// The host, lowercased; shared with the URL it came from, so a key costs no copy.
    pub host: Arc<str>,
    /// The port.
    pub port: u16,
    /// The proxy the connection goes through, with its credentials (`Debug` never shows them).
    pub hop: Option<Hop>,
}

impl PoolKey {
    /// The key of a URL's origin, direct.
    pub fn of(url: &Url) -> PoolKey {
        let (scheme, _, port) = url.origin();
        PoolKey {
            scheme,
            host: url.host_shared().clone(),
            port,
            hop: None,
        }
    }

    /// The key of a URL's origin as `proxy` routes it (direct, or through a proxy).
    pub fn routed(url: &Url, proxy: &ProxyConfig) -> PoolKey {
        PoolKey {
            hop: Hop::of(proxy.route(url)),
            ..PoolKey::of(url)
        }
    }

    /// Where TCP goes: the proxy when there is one, else the origin.
    pub fn connect_target(&self) -> (&str, u16) {
        match &self.hop {
            Some(hop) => hop.connect_to(),
            None => (&self.host, self.port),
        }
    }

    /// The origin's address must be resolved by the client although TCP goes to a proxy (`socks5://`, and the
    /// host is a name).
    pub fn resolves_origin_for_proxy(&self) -> bool {
        self.hop
            .as_ref()
            .is_some_and(|h| h.resolves_target_locally())
            && self
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<core::net::IpAddr>()
                .is_err()
    }

    /// A resolution of `host:port` is one this key waits for.
    pub fn waits_for(&self, host: &str, port: u16) -> bool {
        self.connect_target() == (host, port)
            || (self.resolves_origin_for_proxy() && *self.host == *host && self.port == port)
    }
}

/// Open and idle connection counts of one origin (event streams excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStats {
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Open pooled connections, busy, idle or still connecting.
    pub open: usize,
    /// Of those, idle in the pool.
    pub idle: usize,
}

/// Whether a new connection may be opened for an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Open one.
    Open,
    /// Close this idle connection of another origin first (total cap reached), then open one.
    EvictThenOpen(ConnId),
    /// A cap is reached: wait for a connection to come back or close.
    Wait,
}

#[derive(Debug, Clone, Copy)]
struct Idle {
    conn: ConnId,
    since: Instant,
    expires: Instant,
}

#[derive(Debug, Default)]
struct HostPool {
    open: usize,
    /// LIFO: the last element is the most recently used.
    idle: Vec<Idle>,
}

/// The pool's bookkeeping and decisions.
#[derive(Debug)]
pub struct Pool {
    hosts: HashMap<PoolKey, HostPool>,
    total: usize,
    pool_size: usize,
    max_connections: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool with `pool_size` connections per origin, `max_connections` in total, and `idle_timeout`.
    pub fn new(pool_size: usize, max_connections: usize, idle_timeout: Duration) -> Pool {
        Pool {
            hosts: HashMap::new(),
            total: 0,
            // A cap of zero would make every request wait forever: one connection is the floor.
            pool_size: pool_size.max(1),
            max_connections: max_connections.max(1),
            idle_timeout,
        }
    }

    /// Take the most recently returned idle connection of `key`, if any.
    pub fn checkout(&mut self, key: &PoolKey) -> Option<ConnId> {
        self.hosts.get_mut(key)?.idle.pop().map(|i| i.conn)
    }

    /// Whether a new connection to `key` may be opened now.
    pub fn admit(&self, key: &PoolKey) -> Admit {
        let open = self.hosts.get(key).map_or(0, |h| h.open);
        if open >= self.pool_size {
            return Admit::Wait;
        }
        if self.total < self.max_connections {
            return Admit::Open;
        }
        // Total cap reached: evict the least recently used idle connection of another origin, if any.
        self.hosts
            .iter()
            .filter(|(k, _)| *k != key)
            .filter_map(|(_, h)| h.idle.first())
            .min_by_key(|i| (i.since, i.conn))
            .map_or(Admit::Wait, |i| Admit::EvictThenOpen(i.conn))
    }

    /// A connection to `key` is being opened: count it against the caps from now on.
    pub fn opened(&mut self, key: &PoolKey) {
        self.hosts.entry(key.clone()).or_default().open += 1;
        self.total += 1;
    }

    /// A connection of `key` closed (whatever its state). Removes it from the idle stack if it was there.
    pub fn closed(&mut self, key: &PoolKey, conn: ConnId) {
        if let Some(h) = self.hosts.get_mut(key) {
            h.idle.retain(|i| i.conn != conn);
            h.open = h.open.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if h.open == 0 {
                self.hosts.remove(key);
            }
        }
    }

    /// Return a connection to the idle stack. `server_keep_alive` is the server's `Keep-Alive: timeout=`.
    /// Returns when it expires.
    pub fn checkin(
        &mut self,
        key: &PoolKey,
        conn: ConnId,
        now: Instant,
        server_keep_alive: Option<Duration>,
    ) -> Instant {
        let life = match server_keep_alive {
            Some(ka) => ka.min(self.idle_timeout),
            None => self.idle_timeout,
        };
        let expires = now + life;
        // Looked up before `entry`, which would clone the key on every check-in.
        let h = match self.hosts.get_mut(key) {
            Some(h) => h,
            None => self.hosts.entry(key.clone()).or_default(),
        };
        h.idle.retain(|i| i.conn != conn);
        h.idle.push(Idle {
            conn,
            since: now,
            expires,
        });
        expires
    }

    /// `true` when `conn` sits idle in the pool.
    pub fn is_idle(&self, key: &PoolKey, conn: ConnId) -> bool {
        self.hosts
            .get(key)
            .is_some_and(|h| h.idle.iter().any(|i| i.conn == conn))
    }

    /// Idle connections whose lifetime is over at `now` (the caller closes them, then calls [`Pool::closed`]).
    pub fn expired(&self, now: Instant) -> Vec<ConnId> {
        let mut out: Vec<ConnId> = self
            .hosts
            .values()
            .flat_map(|h| h.idle.iter())
            .filter(|i| i.expires <= now)
            .map(|i| i.conn)
            .collect();
        out.sort();
        out
    }

    /// Every idle connection (memory pressure: the caller closes them all).
    pub fn all_idle(&self) -> Vec<ConnId> {
        let mut out: Vec<ConnId> = self
            .hosts
            .values()
            .flat_map(|h| h.idle.iter().map(|i| i.conn))
            .collect();
        out.sort();
        out
    }

    /// The earliest idle expiry, for the machine's `Wait` deadline.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.hosts
            .values()
            .flat_map(|h| h.idle.iter())
            .map(|i| i.expires)
            .min()
    }

    /// Open pooled connections across origins.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Open pooled connections of one origin.
    pub fn open(&self, key: &PoolKey) -> usize {
        self.hosts.get(key).map_or(0, |h| h.open)
    }

    /// Per-origin counts, sorted by host and port.
    pub fn stats(&self) -> Vec<HostStats> {
        let mut out: Vec<HostStats> = self
            .hosts
            .iter()
            .map(|(k, h)| HostStats {
                host: k.host.to_string(),
                port: k.port,
                open: h.open,
                idle: h.idle.len(),
            })
            .collect();
        out.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(host: &str) -> PoolKey {
        PoolKey {
            scheme: Scheme::Http,
            host: host.into(),
            port: 80,
            hop: None,
        }
    }

    #[test]
    fn pool_checkout_is_lifo() {
        let mut p = Pool::new(10, 100, Duration::from_secs(15));
        let k = key("a");
        for i in 0..3 {
            p.opened(&k);
            p.checkin(&k, ConnId(i), Instant::from_millis(i), None);
        }
        assert_eq!(p.checkout(&k), Some(ConnId(2)));
        assert_eq!(p.checkout(&k), Some(ConnId(1)));
        assert_eq!(p.checkout(&k), Some(ConnId(0)));
        assert_eq!(p.checkout(&k), None);
        assert_eq!(p.open(&k), 3, "checked-out connections stay open");
    }

    #[test]
    fn pool_caps_per_host_and_total_with_eviction() {
        let mut p = Pool::new(2, 3, Duration::from_secs(15));
        let (a, b) = (key("a"), key("b"));
        assert_eq!(p.admit(&a), Admit::Open);
        p.opened(&a);
        p.opened(&a);
        assert_eq!(p.admit(&a), Admit::Wait, "per-host cap");
        p.opened(&b);
        assert_eq!(p.total(), 3);
        assert_eq!(
            p.admit(&b),
            Admit::Wait,
            "total cap, nothing idle elsewhere"
        );
        p.checkin(&a, ConnId(7), Instant::ZERO, None);
        assert_eq!(p.admit(&b), Admit::EvictThenOpen(ConnId(7)));
        p.closed(&a, ConnId(7));
        assert_eq!(p.admit(&b), Admit::Open);
        assert_eq!(p.total(), 2);
    }

    #[test]
    fn pool_idle_expiry_respects_server_keep_alive() {
        let mut p = Pool::new(10, 100, Duration::from_secs(15));
        let k = key("a");
        p.opened(&k);
        p.opened(&k);
        let e1 = p.checkin(&k, ConnId(1), Instant::ZERO, Some(Duration::from_secs(5)));
        let e2 = p.checkin(&k, ConnId(2), Instant::ZERO, Some(Duration::from_secs(60)));
        assert_eq!(e1, Instant::from_millis(5_000));
        assert_eq!(e2, Instant::from_millis(15_000));
        assert_eq!(p.next_expiry(), Some(e1));
        assert!(p.expired(Instant::from_millis(4_999)).is_empty());
        assert_eq!(p.expired(Instant::from_millis(5_000)), vec![ConnId(1)]);
        p.closed(&k, ConnId(1));
        assert_eq!(p.all_idle(), vec![ConnId(2)]);
        assert_eq!(
            p.stats(),
            vec![HostStats {
                host: "a".into(),
                port: 80,
                open: 1,
                idle: 1
            }]
        );
    }
}
