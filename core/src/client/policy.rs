//! Retry decisions for requests, on top of [`RetryPolicy`](crate::retry::RetryPolicy): the one place the
//! machine asks "may this attempt be repeated, and when?".
//!
//! Replay rules (DESIGN.md):
//! - provably never reached the server (connect failed; not one byte written; queued behind a response that said
//!   `Connection: close`): replayable whatever the method;
//! - may have reached the server: replayable only when idempotent, carrying `Idempotency-Key`, or opted in;
//! - retryable statuses 408, 429, 502, 503, 504, under the same idempotency rule (the server saw the request).
//!
//! With the test-only feature `fault-replay-written` the idempotency rule is switched off (a request that may
//! have reached the server is treated as if it had not), so a written POST is replayed: the simulation's
//! invariant checker must catch it.

use crate::error::Phase;
use crate::request::Request;
pub(crate) use crate::retry::Outcome;

/// What the policy is asked about: under the fault switch, "may have been sent" is misread as "was not".
pub(crate) fn as_judged(outcome: Outcome) -> Outcome {
    #[cfg(feature = "fault-replay-written")]
    if let Outcome::MaybeSent(e) = outcome {
        return Outcome::NotSent(e);
    }
    outcome
}

/// `true` when the outcome allows sending the request again at all, ignoring the retry budget.
pub(crate) fn replay_allowed(outcome: &Outcome, req: &Request) -> bool {
    match as_judged(*outcome) {
        Outcome::ConnectFailed(_) | Outcome::NotSent(_) | Outcome::Timeout(Phase::Connect) => true,
        Outcome::Timeout(Phase::Request) => false,
        Outcome::MaybeSent(_) | Outcome::Timeout(_) => req.is_replay_safe(),
        Outcome::Status(code, _) => {
            matches!(code, 408 | 429 | 502 | 503 | 504) && req.is_replay_safe()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NetError;
    use crate::retry::RetryPolicy;
    use crate::rng::Rng;
    use core::time::Duration;
    use http::Method;

    #[test]
    fn retry_backoff_bounds_hold() {
        let p = RetryPolicy::from_options(&crate::client::Options::default());
        let mut rng = Rng::new(3);
        for n in 1..40u32 {
            let d = p.delay(n, &mut rng);
            let full = Duration::from_secs(1)
                .saturating_mul(1 << (n - 1).min(31))
                .min(Duration::from_secs(30));
            assert!(d >= full / 2 && d <= full, "n={n} d={d:?}");
        }
    }

    #[test]
    fn retry_replay_rules() {
        let get = Request::get("http://h/").unwrap();
        let post = Request::builder(Method::POST, "http://h/").build().unwrap();
        let keyed = Request::builder(Method::POST, "http://h/")
            .header("Idempotency-Key", "k1")
            .build()
            .unwrap();
        let sent = Outcome::MaybeSent(NetError::Reset);
        assert!(replay_allowed(&Outcome::NotSent(NetError::Reset), &post));
        assert!(replay_allowed(
            &Outcome::ConnectFailed(NetError::Refused),
            &post
        ));
        assert!(replay_allowed(&sent, &get));
        assert!(replay_allowed(&sent, &keyed));
        assert_eq!(
            replay_allowed(&sent, &post),
            cfg!(feature = "fault-replay-written")
        );
        assert!(!replay_allowed(&Outcome::Status(500, None), &get));
        assert!(replay_allowed(&Outcome::Status(503, None), &get));
        assert!(!replay_allowed(&Outcome::Status(503, None), &post));
    }
}
