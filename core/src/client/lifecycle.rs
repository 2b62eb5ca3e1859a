//! Desktop life: what the machine decides when the network changes, the machine wakes from sleep, or the OS
//! asks for memory back. The OS watchers (crate `plue-http-os`) or the application report these; every
//! decision about connections, streams, DNS answers and queued requests is made here.
//!
//! - **Network changed** (an address or link came or went): idle pooled connections are closed (they may run
//!   over a path that is gone), connections whose local address is among the `gone` ones fail now instead of
//!   after a timeout (their requests follow the replay rules), cached DNS answers are forgotten, event streams
//!   waiting to reconnect connect now with their backoff reset, and every known origin holds new requests in
//!   the degradation queue behind one probe connect until a connection succeeds; while an origin is held, a
//!   failed probe spends no request's attempts (requests wait under their own overall deadline).
//! - **Resumed from sleep**: every pooled idle connection is suspect (the server or a NAT may have dropped it
//!   while we slept) and is closed; event streams reconnect now (resuming with `Last-Event-ID`).
//! - **Memory pressure**: idle connections are dropped and buffers shrink to their minimum; the bytes given back
//!   are reported.

use core::net::{IpAddr, SocketAddr};

use super::batch::Health;
use super::conn::Role;
use super::flow::State;
use super::io::{ConnId, RequestId};
use super::machine::ClientMachine;
use crate::error::NetError;
use crate::pool::PoolKey;
use crate::time::Instant;

/// How hard the OS is asking for memory back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemoryPressure {
    /// Memory is getting short (Linux PSI `some` stall, macOS "warn"): drop idle connections and shrink idle
    /// buffers.
    Moderate,
    /// Memory is critically short (macOS "critical", a PSI `full` stall): also shrink the buffers of busy
    /// connections that hold no pending byte.
    Critical,
}

/// What [`ClientMachine::memory_pressure`] gave back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Idle connections closed.
    pub connections: usize,
    /// Buffer bytes given back (capacity of the closed connections' and shrunk buffers).
    pub bytes: usize,
}

/// What [`ClientMachine::network_changed`] did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkReaction {
    /// Idle connections closed.
    pub idle_closed: usize,
    /// Busy or streaming connections failed because their local address is gone.
    pub dead_closed: usize,
    /// DNS answers forgotten.
    pub dns_forgotten: usize,
    /// Event streams told to reconnect now.
    pub streams_reconnected: usize,
}

impl ClientMachine {
    /// The driver's report of connection `c`'s local address, given just before [`Input::Connected`]
    /// (crate::client::Input::Connected). It lets a network change close exactly the connections whose address
    /// is gone. Unknown connections are ignored.
    ///
    /// [`Input::Connected`]: super::Input::Connected
    pub fn set_local_addr(&mut self, c: ConnId, local: SocketAddr) {
        if !self.conns.contains_key(&c) {
            return;
        }
        let map = &mut self.local_addrs.map;
        // Entries of closed connections are dropped here, in bulk, so the map stays bounded without a hook
        // in every close path.
        if map.len() >= 2 * self.conns.len() + 16 {
            let conns = &self.conns;
            map.retain(|c, _| conns.contains_key(c));
        }
        map.insert(c, local.ip());
    }

    /// The local address the driver reported for connection `c`, if it is still open.
    pub fn local_addr(&self, c: ConnId) -> Option<IpAddr> {
        self.conns
            .contains_key(&c)
            .then(|| self.local_addrs.map.get(&c).copied())
            .flatten()
    }

    /// The network changed: an interface or address came or went. `gone` lists local addresses that were
    /// removed (empty when unknown, e.g. an application's own notification); connections bound to them fail
    /// now. See the module docs for everything else this decides. Drain outputs afterwards.
    pub fn network_changed(&mut self, now: Instant, gone: &[IpAddr]) -> NetworkReaction {
        let mut r = NetworkReaction::default();
        // Every origin we had a connection to, before they close.
        let known: Vec<PoolKey> = self
            .conns
            .values()
            .filter(|c| c.role == Role::Pooled)
            .map(|c| c.key.clone())
            .collect();
        for c in self.pool.all_idle() {
            self.close_quietly(c);
            r.idle_closed += 1;
        }
        let dead: Vec<(ConnId, Role)> = self
            .conns
            .iter()
            .filter(|(c, _)| {
                self.local_addrs
                    .map
                    .get(c)
                    .is_some_and(|ip| gone.contains(ip))
            })
            .map(|(c, conn)| (*c, conn.role))
            .collect();
        let mut dead_streams = Vec::new();
        for (c, role) in dead {
            r.dead_closed += 1;
            match role {
                // A stream's dead connection is replaced below, at once and with its backoff reset.
                Role::Stream(sid) => dead_streams.push(sid),
                Role::Pooled => self.on_net_failed(now, c, NetError::Unreachable),
            }
        }
        r.dns_forgotten = self.dns.forget();
        r.streams_reconnected = self.streams_reconnect_now(now, &dead_streams, false);
        self.hold_until_connected(now, known);
        self.dispatch(now);
        tracing::info!(
            idle_closed = r.idle_closed,
            dead_closed = r.dead_closed,
            dns_forgotten = r.dns_forgotten,
            streams = r.streams_reconnected,
            "network changed"
        );
        r
    }

    /// The machine woke from sleep (the driver saw the boot-time clock jump past the monotonic one, or the
    /// application said so): idle pooled connections are suspect and closed, event streams reconnect now.
    pub fn resumed_from_sleep(&mut self, now: Instant) {
        let idle = self.pool.all_idle();
        let n = idle.len();
        for c in idle {
            self.close_quietly(c);
        }
        let streams = self.streams_reconnect_now(now, &[], true);
        self.dispatch(now);
        tracing::info!(idle_closed = n, streams, "resumed from sleep");
    }

    /// The OS asks for memory back: idle connections are closed, buffers shrink to their minimum
    /// ([`MemoryPressure::Critical`] also shrinks busy connections' empty buffers), and internal tables give
    /// back spare capacity. Returns what was released.
    pub fn memory_pressure(&mut self, now: Instant, level: MemoryPressure) -> Released {
        let mut r = Released::default();
        for c in self.pool.all_idle() {
            if let Some(conn) = self.conns.get(&c) {
                r.bytes += conn.buffer_bytes();
            }
            self.close_quietly(c);
            r.connections += 1;
        }
        if level >= MemoryPressure::Critical {
            for conn in self.conns.values_mut() {
                r.bytes += conn.shrink_buffers();
            }
        }
        let spare = self.out.capacity().saturating_sub(self.out.len());
        if spare > 0 {
            r.bytes += spare * core::mem::size_of::<super::io::Output>();
            self.out.shrink_to_fit();
        }
        let conns = &self.conns;
        self.local_addrs.map.retain(|c, _| conns.contains_key(c));
        self.local_addrs.map.shrink_to_fit();
        self.hosts.shrink_to_fit();
        self.dispatch(now);
        tracing::info!(
            ?level,
            connections = r.connections,
            bytes = r.bytes,
            "memory pressure"
        );
        r
    }

    /// Tell event streams to reconnect now with their backoff reset; the ones in `dead` (or all, with
    /// `drop_live`) lose their live connection first. Returns how many streams were told.
    fn streams_reconnect_now(
        &mut self,
        now: Instant,
        dead: &[RequestId],
        drop_live: bool,
    ) -> usize {
        let ids: Vec<RequestId> = self.streams.keys().copied().collect();
        for id in &ids {
            if let Some(s) = self.streams.get_mut(id) {
                s.es.reconnect_now(now, drop_live || dead.contains(id));
            }
            self.pump_stream(now, *id);
        }
        ids.len()
    }

    /// Resolutions the driver did not answer by their deadline (`connect_timeout`) fail like a failed answer:
    /// the requests waiting for them spend an attempt and back off, streams reconnect later.
    pub(super) fn resolve_timers(&mut self, now: Instant) {
        for (host, port) in self.dns.expired(now) {
            tracing::debug!(%host, port, "resolution timed out");
            self.on_resolved(now, &host, port, Err(NetError::Resolve));
        }
    }

    /// A probe connect for request `id` on `c` to a held origin failed: the request goes back to the queue
    /// without spending an attempt (the origin's own probe backoff, already set, paces the next probe).
    /// `false` when the origin is not held.
    pub(super) fn held_back(&mut self, id: RequestId, c: ConnId, key: &PoolKey) -> bool {
        if !self.hosts.get(key).is_some_and(|h| h.held) {
            return false;
        }
        match self.flows.get_mut(&id) {
            Some(f) if f.state == State::Connecting(c) => {
                f.state = State::Waiting;
                self.waiting.insert(id);
                true
            }
            _ => false,
        }
    }

    /// After a network change, every origin we know is unproven: requests wait in the degradation queue
    /// behind one probe connect per origin (made now) until a connect succeeds, instead of each opening its own
    /// connection over a path that may not work. Requests already backing off because their origin was down
    /// try again now (a `Retry-After` from a reachable server is still honoured). Skipped when the queue is disabled (`max_queued_requests == 0`), where a down origin
    /// fails requests at once.
    fn hold_until_connected(&mut self, now: Instant, mut keys: Vec<PoolKey>) {
        if self.options.max_queued_requests == 0 {
            return;
        }
        let was_down: Vec<PoolKey> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.down)
            .map(|(k, _)| k.clone())
            .collect();
        keys.extend(self.hosts.keys().cloned());
        keys.extend(
            self.conns
                .values()
                .filter(|c| c.role == Role::Pooled)
                .map(|c| c.key.clone()),
        );
        keys.extend(self.flows.values().map(|f| f.key.clone()));
        for key in keys {
            let h = self.hosts.entry(key).or_insert(Health {
                down: true,
                failures: 0,
                last_error: NetError::Unreachable,
                retry_at: now,
                held: true,
            });
            h.down = true;
            h.held = true;
            h.retry_at = now;
        }
        let ready: Vec<RequestId> = self
            .flows
            .iter()
            .filter(|(_, f)| matches!(f.state, State::Backoff(_)) && was_down.contains(&f.key))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            if let Some(f) = self.flows.get_mut(&id) {
                f.state = State::Waiting;
                self.waiting.insert(id);
            }
        }
    }
}
