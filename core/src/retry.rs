//! Retry decisions: which failures may be replayed, and how long to wait first.
//!
//! The replay rule (DESIGN.md, "Replay never duplicates work"): a request that provably never reached the server
//! may be replayed whatever its method; one that may have reached it only when [`Request::is_replay_safe`]
//! (idempotent method, `Idempotency-Key`, or the caller's opt-in). A retryable status is an answer from a server
//! that may have started the work, so it is held to the same rule: a plain POST answered 503 or 429 is returned
//! to the caller, not replayed (conservative on purpose — duplicated work is worse than a visible error).
//!
//! Time and randomness are inputs: [`RetryPolicy::delay`] draws jitter from the caller's seeded [`Rng`], and
//! [`retry_after`] resolves an HTTP-date against the same response's `Date` header, never a wall clock.

use core::time::Duration;

use crate::client::Options;
use crate::error::{NetError, Phase};
use crate::request::Request;
use crate::response::ResponseHead;
use crate::rng::Rng;

mod http_date;

pub use http_date::parse_http_date;

/// How a backoff delay is randomised so that many clients do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly the exponential delay.
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// Uniform in `[d/2, d]`: never less than half the nominal delay (DESIGN.md's choice).
    #[default]
    Equal,
}

/// How one attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The connection could not be opened: nothing was sent.
    ConnectFailed(NetError),
    /// The request provably never reached the server (a reused connection died before any byte of it was
    /// written, or it was queued behind a response that said `Connection: close`).
    NotSent(NetError),
    /// The connection broke after some of the request may have reached the server.
    MaybeSent(NetError),
    /// The server answered this status; the `Retry-After` it gave, when any (see [`retry_after`]).
    Status(u16, Option<Duration>),
    /// A deadline expired.
    Timeout(Phase),
}

/// Retry settings and decisions. `RetryPolicy::default()` gives DESIGN.md's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (3 ⇒ at most 4 attempts). A request's own `max_retries` overrides it.
    pub max_retries: u32,
    /// Delay before the first retry, before jitter.
    pub base_delay: Duration,
    /// Cap on any delay, including a server's `Retry-After`.
    pub max_delay: Duration,
    /// Exponential base: retry n waits `base_delay × multiplier^(n-1)`. Values below 1 (or NaN) count as 1.
    pub multiplier: f64,
    /// Randomisation of each delay.
    pub jitter: Jitter,
    /// Statuses worth another attempt (default 408, 429, 502, 503, 504).
    pub retry_statuses: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Equal,
            retry_statuses: vec![408, 429, 502, 503, 504],
        }
    }
}

impl RetryPolicy {
    /// The policy a client's [`Options`] describe (`max_retries`, `retry_delay`, `max_retry_delay`).
    pub fn from_options(options: &Options) -> Self {
        RetryPolicy {
            max_retries: options.max_retries,
            base_delay: options.retry_delay,
            max_delay: options.max_retry_delay,
            ..RetryPolicy::default()
        }
    }

    /// May attempt number `attempt` (1 = the first), which ended with `outcome`, be followed by another?
    ///
    /// `false` once `attempt` exceeds the retry budget (the request's `max_retries` override, else the policy's),
    /// or when replaying could duplicate work the server may have done (see the module docs).
    pub fn should_retry(&self, outcome: &Outcome, attempt: u32, req: &Request) -> bool {
        let budget = req.options().max_retries.unwrap_or(self.max_retries);
        if attempt == 0 || attempt > budget {
            return false;
        }
        match outcome {
            Outcome::ConnectFailed(_) | Outcome::NotSent(_) => true,
            Outcome::MaybeSent(_) => req.is_replay_safe(),
            Outcome::Status(status, _) => {
                self.retry_statuses.contains(status) && req.is_replay_safe()
            }
            Outcome::Timeout(phase) => match phase {
                // No connection, nothing sent.
                Phase::Connect => true,
                // The whole-request deadline covers every attempt: nothing is left to retry with.
                Phase::Request => false,
                // The request was written; the server may be working on it.
                _ => req.is_replay_safe(),
            },
        }
    }

    /// The wait before retry number `attempt` (1 = the first retry): `base_delay × multiplier^(attempt-1)`,
    /// capped at `max_delay`, then jittered. Deterministic for a given `rng` state.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let nominal = backoff(
            self.base_delay,
            self.multiplier,
            attempt.saturating_sub(1),
            self.max_delay,
        );
        jitter(self.jitter, nominal, rng)
    }

    /// The wait before retrying after `outcome`: [`delay`](RetryPolicy::delay), or the server's `Retry-After`
    /// when that is longer (capped at `max_delay`).
    pub fn delay_after(&self, outcome: &Outcome, attempt: u32, rng: &mut Rng) -> Duration {
        let d = self.delay(attempt, rng);
        match outcome {
            Outcome::Status(_, Some(after)) => d.max((*after).min(self.max_delay)),
            _ => d,
        }
    }
}

/// `base × multiplier^exponent`, capped at `cap` (no overflow, no NaN: the float result is only trusted below
/// the cap).
pub(crate) fn backoff(base: Duration, multiplier: f64, exponent: u32, cap: Duration) -> Duration {
    let m = if multiplier >= 1.0 { multiplier } else { 1.0 };
    let factor = m.powi(i32::try_from(exponent).unwrap_or(i32::MAX));
    let secs = base.as_secs_f64() * factor;
    if !secs.is_finite() || secs >= cap.as_secs_f64() {
        cap
    } else {
        Duration::from_secs_f64(secs).min(cap)
    }
}

/// Apply `kind` of jitter to the nominal delay `d`.
pub(crate) fn jitter(kind: Jitter, d: Duration, rng: &mut Rng) -> Duration {
    match kind {
        Jitter::None => d,
        Jitter::Full => rng.duration_between(Duration::ZERO, d),
        Jitter::Equal => rng.duration_between(d / 2, d),
    }
}

/// The `Retry-After` of a response, at most `cap`.
///
/// Delta-seconds (`120`) are taken as they are. An HTTP-date is measured from the same response's `Date` header —
/// the server's own clock — so no wall clock is involved; without a valid `Date` the date form is ignored. A date
/// in the past gives zero. Anything unparsable gives `None`.
pub fn retry_after(head: &ResponseHead, cap: Duration) -> Option<Duration> {
    let value = head.header("retry-after")?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.bytes().fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        return Some(Duration::from_secs(secs).min(cap));
    }
    let at = parse_http_date(value)?;
    let now = parse_http_date(head.header("date")?)?;
    Some(Duration::from_secs(at.saturating_sub(now)).min(cap))
}

#[cfg(test)]
mod tests;
