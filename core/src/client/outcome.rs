//! How a request ends or goes round again: retry with backoff, free replay, failure with context, success with
//! its log line.
//!
//! Decision (issue 4): a request on a *reused* connection that died before any byte of its response arrived is
//! replayed once at once on a fresh connection, without backoff and without spending one of `max_retries` —
//! it is the pool's fault (the server closed an idle connection as we reused it), not the server's answer. The
//! replay rules still apply: a request that may have reached the server is replayed only when idempotent, keyed
//! or opted in. It does count as an attempt in error context. Every other retry spends one of `max_retries`.

use super::deadline::fits;
use super::flow::State;
use super::io::{Event, Output, RequestId};
use super::last_success::LastSuccess;
use super::machine::ClientMachine;
use super::policy::{as_judged, replay_allowed, Outcome};
use crate::error::{ApiError, ErrorKind};
use crate::time::Instant;

impl ClientMachine {
    /// Retry `id` after a backoff if the rules, the budget and the deadline allow. `false`: not retried.
    pub(super) fn schedule_retry(&mut self, now: Instant, id: RequestId, outcome: Outcome) -> bool {
        let Some(flow) = self.flows.get_mut(&id) else {
            return false;
        };
        let n = flow.retries + 1;
        if !self.retry.should_retry(&as_judged(outcome), n, &flow.req) {
            return false;
        }
        let delay = self.retry.delay_after(&outcome, n, &mut self.rng);
        if !fits(now, delay, flow.deadline) {
            return false;
        }
        flow.retries = n;
        flow.attempt += 1;
        flow.state = State::Backoff(now + delay);
        flow.batch = None;
        let max = flow.limits.max_retries + 1;
        match outcome {
            Outcome::Status(status, _) => tracing::debug!(
                id = id.0,
                status,
                delay_ms = delay.as_millis() as u64,
                "Server answered {status}. Retrying... (attempt {}/{max})",
                flow.attempt
            ),
            _ => tracing::debug!(
                id = id.0,
                ?outcome,
                delay_ms = delay.as_millis() as u64,
                "Connection lost. Reconnecting... (attempt {}/{max})",
                flow.attempt
            ),
        }
        self.waiting.remove(&id);
        true
    }

    /// An attempt of `id` failed with `outcome`. `free`: it died on a reused connection before any response
    /// byte (see the module docs).
    pub(super) fn attempt_failed(
        &mut self,
        now: Instant,
        id: RequestId,
        outcome: Outcome,
        free: bool,
    ) {
        let Some(flow) = self.flows.get_mut(&id) else {
            return;
        };
        let allowed = replay_allowed(&outcome, &flow.req);
        if free && allowed && !flow.replayed {
            flow.replayed = true;
            flow.attempt += 1;
            flow.fresh_only = true;
            flow.batch = None;
            flow.state = State::Waiting;
            tracing::debug!(
                id = id.0,
                ?outcome,
                "Pooled connection was closed. Reconnecting... (attempt {})",
                flow.attempt
            );
            self.waiting.insert(id);
            return;
        }
        if self.schedule_retry(now, id, outcome) {
            return;
        }
        let kind = match outcome {
            // The connection that failed was the one to the proxy: say so, the origin was never contacted.
            Outcome::ConnectFailed(cause)
                if self
                    .flows
                    .get(&id)
                    .is_some_and(|f| proxy_failed(&f.key, cause)) =>
            {
                ErrorKind::ProxyUnreachable { cause }
            }
            Outcome::ConnectFailed(cause) | Outcome::NotSent(cause) => {
                ErrorKind::ConnectionFailed { cause }
            }
            Outcome::MaybeSent(cause) if allowed => ErrorKind::ConnectionFailed { cause },
            Outcome::MaybeSent(cause) => ErrorKind::MaybeProcessed { cause },
            Outcome::Timeout(phase) => ErrorKind::Timeout { phase },
            Outcome::Status(status, _) => ErrorKind::Status(ApiError {
                status,
                ..ApiError::default()
            }),
        };
        self.fail(now, id, kind);
    }

    /// End `id` with an error wherever it is; a connection it was mid-exchange on is closed (its framing is
    /// lost), and the other requests on it are judged by the replay rules.
    pub(super) fn fail_active(&mut self, now: Instant, id: RequestId, kind: ErrorKind) {
        let conn = match self.flows.get(&id).map(|f| f.state) {
            Some(State::OnConn { conn, .. }) => Some(conn),
            Some(_) => None,
            None => return,
        };
        self.fail(now, id, kind);
        if let Some(c) = conn {
            self.conn_lost(
                now,
                c,
                ErrorKind::ConnectionFailed {
                    cause: crate::error::NetError::Closed,
                },
                crate::error::NetError::Closed,
                None,
            );
        }
    }

    /// Emit the one terminal `Failed` of `id` and forget it. Does not touch a connection it is on.
    pub(super) fn fail(&mut self, now: Instant, id: RequestId, kind: ErrorKind) {
        let Some(flow) = self.flows.remove(&id) else {
            return;
        };
        self.waiting.remove(&id);
        let error = self.context_error(now, &flow, kind);
        tracing::info!(
            method = %flow.req.method(),
            path = flow.req.url().path(),
            attempt = flow.attempt,
            duration_ms = (now - flow.started).as_millis() as u64,
            reused = flow.reused,
            %error,
            "request failed"
        );
        self.out
            .push_back(Output::Event(Event::Failed { id, error }));
        if let Some(b) = flow.batch {
            self.batch_refresh(now, b);
        }
        if let State::Connecting(c) = flow.state {
            self.orphan_connecting(c);
        }
    }

    /// The response of `id` is complete.
    pub(super) fn finish_ok(&mut self, now: Instant, id: RequestId) {
        let Some(flow) = self.flows.remove(&id) else {
            return;
        };
        let took = now - flow.started;
        let status = flow.status.unwrap_or(0);
        tracing::info!(
            method = %flow.req.method(),
            path = flow.req.url().path(),
            status,
            duration_ms = took.as_millis() as u64,
            attempt = flow.attempt,
            reused = flow.reused,
            "request completed"
        );
        self.last_success = Some(LastSuccess {
            method: flow.req.method().clone(),
            path: flow.req.url().path().to_string(),
            status,
            took,
            at: now,
        });
        self.out.push_back(Output::Event(Event::Done { id }));
    }
}

/// A failed connect (or resolution) of a request routed through a proxy concerns the proxy — unless it is the
/// resolution of the origin's own name, which a `socks5://` proxy needs from the client: with a proxy given as
/// an IP literal, a resolution failure can only be the origin's.
fn proxy_failed(key: &crate::pool::PoolKey, cause: crate::error::NetError) -> bool {
    let Some(hop) = &key.hop else {
        return false;
    };
    let proxy_is_literal = hop
        .proxy()
        .host_unbracketed()
        .parse::<core::net::IpAddr>()
        .is_ok();
    !(cause == crate::error::NetError::Resolve
        && key.resolves_origin_for_proxy()
        && proxy_is_literal)
}
