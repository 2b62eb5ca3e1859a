//! Handing connections to waiting requests: the FIFO wait queue, host health (graceful degradation), and
//! batches (pipelining).
//!
//! - Requests wait in id order (FIFO). A request takes the most recently idle connection of its origin, else
//!   opens one when the caps allow, else waits; once one request of an origin must wait, later ones of that
//!   origin wait too (no overtaking).
//! - **Host health**: a failed connect marks the origin unreachable. While it is, at most one connect to it is
//!   in progress (the probe, made for the oldest waiting request, after its backoff); other requests wait in the
//!   bounded queue under their own deadlines instead of failing at once or storming the host. A successful
//!   connect makes it reachable again and the queue drains.
//! - **Batches**: the first request is sent alone; the others follow on the same connection once it has
//!   completed a response (a connection that never answered may not understand pipelining), and never behind a
//!   request whose method is not idempotent (RFC 9112 §9.3.2): the batch waits there for that response.

use std::collections::HashSet;

use super::batch::Health;
use super::conn::{Conn, Phase as ConnPhase, Role};
use super::flow::State;
use super::io::{ConnId, Output, RequestId};
use super::machine::ClientMachine;
use crate::error::NetError;
use crate::pool::{Admit, PoolKey};
use crate::time::Instant;

impl ClientMachine {
    /// Give waiting requests connections, in FIFO order.
    pub(super) fn dispatch(&mut self, now: Instant) {
        let mut ids = core::mem::take(&mut self.dispatch_ids);
        ids.clear();
        ids.extend(self.waiting.iter().copied());
        self.dispatch_waiting(now, &ids);
        self.dispatch_ids = ids;
    }

    fn dispatch_waiting(&mut self, now: Instant, ids: &[RequestId]) {
        let mut blocked: HashSet<PoolKey> = HashSet::new();
        for &id in ids {
            let Some(flow) = self.flows.get(&id) else {
                self.waiting.remove(&id);
                continue;
            };
            if flow.state != State::Waiting {
                self.waiting.remove(&id);
                continue;
            }
            let key = flow.key.clone();
            if blocked.contains(&key) {
                continue;
            }
            if !flow.fresh_only {
                if let Some(c) = self.pool.checkout(&key) {
                    self.assign(now, id, c);
                    continue;
                }
            }
            if let Some(h) = self.hosts.get(&key) {
                if h.down && (now < h.retry_at || self.connecting_to(&key) > 0) {
                    blocked.insert(key);
                    continue;
                }
            }
            let connect_timeout = flow.limits.connect;
            // TCP goes to the proxy when there is one; a `socks5://` proxy also needs the origin's address.
            let Ok((addr, origin_addr)) = self.connect_addrs(&key, now) else {
                blocked.insert(key);
                continue;
            };
            let stack = match self.new_stack(&key, origin_addr, now + connect_timeout) {
                Ok(stack) => stack,
                Err(kind) => {
                    self.waiting.remove(&id);
                    self.fail(now, id, kind);
                    continue;
                }
            };
            match self.pool.admit(&key) {
                Admit::Wait => {
                    blocked.insert(key);
                    continue;
                }
                Admit::EvictThenOpen(victim) => self.close_quietly(victim),
                Admit::Open => {}
            }
            let c = self.new_conn_id();
            let conn = Conn::new(
                key.clone(),
                Role::Pooled,
                ConnPhase::Connecting {
                    deadline: now + connect_timeout,
                    for_flow: Some(id),
                },
                self.limits,
                stack,
                now,
            );
            self.conns.insert(c, conn);
            self.pool.opened(&key);
            self.waiting.remove(&id);
            if let Some(f) = self.flows.get_mut(&id) {
                f.state = State::Connecting(c);
            }
            tracing::debug!(conn = c.0, host = %key.host, port = key.port, "connecting");
            self.out.push_back(Output::Connect { conn: c, addr });
        }
    }

    /// Connections being opened to an origin.
    pub(super) fn connecting_to(&self, key: &PoolKey) -> usize {
        self.conns
            .values()
            .filter(|c| c.role == Role::Pooled && c.key == *key && c.is_connecting())
            .count()
    }

    /// Send request `id` on open connection `c`.
    pub(super) fn assign(&mut self, now: Instant, id: RequestId, c: ConnId) {
        let (Some(flow), Some(conn)) = (self.flows.get_mut(&id), self.conns.get_mut(&c)) else {
            return;
        };
        self.waiting.remove(&id);
        let tag = flow.next_tag();
        flow.reused = conn.completed > 0;
        flow.state = State::OnConn {
            conn: c,
            head: false,
        };
        flow.fresh_only = false;
        let data = conn.send(tag, &flow.req, &self.options.user_agent, now);
        tracing::trace!(
            id = id.0,
            conn = c.0,
            reused = flow.reused,
            "sending request"
        );
        let batch = flow.batch;
        if let Some(b) = batch {
            conn.batch = Some(b);
            if let Some(batch) = self.batches.get_mut(&b) {
                batch.conn = Some(c);
                batch.pending.retain(|m| *m != id);
            }
        }
        if data.is_empty() {
            // The codec refused (the connection is closing): its `Failed` event reports the request as
            // unanswered and never written, so it is replayed elsewhere.
            self.drain_codec(now, c, NetError::Closed);
            return;
        }
        self.out.push_back(Output::Transmit { conn: c, data });
        if batch.is_some() {
            self.pump_batch(now, c);
        }
    }

    /// Send the next batch members on `c` while pipelining is allowed.
    pub(super) fn pump_batch(&mut self, now: Instant, c: ConnId) {
        loop {
            let Some(conn) = self.conns.get(&c) else {
                return;
            };
            let Some(b) = conn.batch else {
                return;
            };
            let Some(batch) = self.batches.get_mut(&b) else {
                if let Some(conn) = self.conns.get_mut(&c) {
                    conn.batch = None;
                }
                return;
            };
            batch.skip_gone(&self.flows, b);
            let Some(&next) = batch.pending.front() else {
                self.batches.remove(&b);
                if let Some(conn) = self.conns.get_mut(&c) {
                    conn.batch = None;
                }
                return;
            };
            let may_send = matches!(conn.phase, ConnPhase::Open)
                && !conn.close_announced
                && (conn.sent.is_empty()
                    || (conn.completed > 0
                        && conn.codec.can_send()
                        && conn.sent.back().is_some_and(|s| s.idempotent)));
            if !may_send {
                return;
            }
            self.assign(now, next, c);
        }
    }

    /// Re-examine a batch after a member left or its connection went away.
    pub(super) fn batch_refresh(&mut self, now: Instant, b: u64) {
        let Some(batch) = self.batches.get_mut(&b) else {
            return;
        };
        batch.skip_gone(&self.flows, b);
        let Some(&front) = batch.pending.front() else {
            let conn = batch.conn;
            self.batches.remove(&b);
            if let Some(c) = conn.and_then(|c| self.conns.get_mut(&c)) {
                c.batch = None;
            }
            return;
        };
        match batch.conn {
            Some(c) if self.conns.contains_key(&c) => self.pump_batch(now, c),
            _ => {
                batch.conn = None;
                if let Some(f) = self.flows.get_mut(&front) {
                    if f.state == State::Held {
                        f.state = State::Waiting;
                    }
                    if f.state == State::Waiting {
                        self.waiting.insert(front);
                    }
                }
            }
        }
    }

    /// Append a member to a batch.
    pub(super) fn batch_push(&mut self, b: u64, id: RequestId) {
        if let Some(batch) = self.batches.get_mut(&b) {
            batch.pending.push_back(id);
        }
    }

    /// A connect to `key` failed: the origin is unreachable until a connect succeeds.
    pub(super) fn host_down(&mut self, key: &PoolKey, cause: NetError, retry_at: Instant) {
        let h = self.hosts.entry(key.clone()).or_insert(Health {
            down: true,
            failures: 0,
            last_error: cause,
            retry_at,
            held: false,
        });
        h.down = true;
        h.failures += 1;
        h.last_error = cause;
        h.retry_at = retry_at;
    }

    /// A connect to `key` succeeded.
    pub(super) fn host_up(&mut self, key: &PoolKey) {
        if self.hosts.remove(key).is_some() {
            tracing::debug!(host = %key.host, port = key.port, "host reachable again");
        }
    }

    /// The request a connecting connection was opened for went away: hand the connection to the oldest request
    /// waiting for the same origin, or close it (no connect outlives everyone who wanted it).
    pub(super) fn orphan_connecting(&mut self, c: ConnId) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        let key = conn.key.clone();
        let heir = self.waiting.iter().copied().find(|id| {
            self.flows
                .get(id)
                .is_some_and(|f| f.key == key && !f.fresh_only)
        });
        match heir {
            Some(id) => {
                self.waiting.remove(&id);
                if let Some(f) = self.flows.get_mut(&id) {
                    f.state = State::Connecting(c);
                }
                if let Some(conn) = self.conns.get_mut(&c) {
                    if let ConnPhase::Connecting { for_flow, .. } = &mut conn.phase {
                        *for_flow = Some(id);
                    }
                }
            }
            None => self.close_quietly(c),
        }
    }
}
