//! Connections with a stack (TLS, proxy handshakes) between TCP connect and HTTP: the connection stays
//! `Connecting` (under `connect_timeout`) until every stage is established, and only then is a request written.
//! A stage error during the handshake fails the request it was opened for (or ends the event stream) without a
//! retry: a refused certificate or a protocol mismatch does not get better by asking again.

use super::conn::{Phase as ConnPhase, Role};
use super::flow::State;
use super::io::{ConnId, Output};
use super::machine::ClientMachine;
use crate::error::ErrorKind;
use crate::time::Instant;

impl ClientMachine {
    /// Hand the driver the socket bytes the stack of `c` produced.
    pub(super) fn push_transmit(&mut self, c: ConnId) {
        if let Some(data) = self.conns.get_mut(&c).and_then(|conn| conn.take_transmit()) {
            self.out.push_back(Output::Transmit { conn: c, data });
        }
    }

    /// TCP is up on `c`, which has a stack: start reading and send the stack's first flight.
    pub(super) fn start_handshake(&mut self, now: Instant, c: ConnId) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if conn.tcp_up {
            return;
        }
        conn.last_activity = now;
        let r = conn.start(now);
        self.out.push_back(Output::Read(c));
        self.push_transmit(c);
        match r {
            Err(kind) => self.handshake_failed(now, c, kind),
            Ok(news) if news.established => self.on_open(now, c),
            Ok(_) => {}
        }
    }

    /// Handshake bytes arrived on connecting connection `c`.
    pub(super) fn handshake_data(&mut self, now: Instant, c: ConnId, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if !conn.tcp_up {
            return;
        }
        conn.last_activity = now;
        let r = conn.handle_data(now, data);
        self.push_transmit(c);
        match r {
            Err(kind) => self.handshake_failed(now, c, kind),
            Ok(news) if news.established => self.on_open(now, c),
            Ok(_) => {}
        }
    }

    /// A stage of connecting connection `c` failed: close it and end whoever it was opened for.
    pub(super) fn handshake_failed(&mut self, now: Instant, c: ConnId, kind: ErrorKind) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        let ConnPhase::Connecting { for_flow, .. } = conn.phase else {
            return;
        };
        let role = conn.role;
        tracing::debug!(conn = c.0, error = %kind, "handshake failed");
        self.close_quietly(c);
        match role {
            Role::Stream(sid) => self.close_stream(now, sid, kind),
            Role::Pooled => {
                let owner = for_flow.filter(|id| {
                    self.flows
                        .get(id)
                        .is_some_and(|f| f.state == State::Connecting(c))
                });
                if let Some(id) = owner {
                    self.fail(now, id, kind);
                }
            }
        }
    }

    /// Stage deadlines (a proxy handshake step) that passed.
    pub(super) fn stack_timers(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.stack_timeout().is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        for c in due {
            let Some(conn) = self.conns.get_mut(&c) else {
                continue;
            };
            let connecting = conn.is_connecting();
            let r = conn.handle_stack_timeout(now);
            self.push_transmit(c);
            match r {
                Err(kind) if connecting => self.handshake_failed(now, c, kind),
                Err(kind) => self.conn_lost(now, c, kind, crate::error::NetError::Closed, None),
                Ok(news) if news.established => self.on_open(now, c),
                Ok(_) => {}
            }
        }
    }
}
