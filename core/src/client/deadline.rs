//! Per-request limits: the client's options with the request's own overrides applied, and the per-phase
//! deadlines derived from them.
//!
//! | phase | limit | clock starts |
//! |---|---|---|
//! | `Request` | `timeout` | the call; covers every attempt, redirect and backoff wait |
//! | `Connect` | `connect_timeout` | each connect |
//! | `ResponseHead` | `read_timeout` | the last byte written or read while no head has arrived |
//! | `BodyIdle` | `read_timeout` | the last body byte read |
//!
//! The read deadline is suspended while the owner holds reading back (backpressure): a slow consumer is not a
//! slow server.

use core::time::Duration;

use super::options::Options;
use crate::request::Request;
use crate::time::Instant;

/// The limits one request runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub whole: Option<Duration>,
    pub connect: Duration,
    pub read: Option<Duration>,
    pub max_retries: u32,
    pub max_redirects: u32,
}

impl Limits {
    pub fn of(options: &Options, req: &Request) -> Limits {
        let o = req.options();
        Limits {
            whole: o.timeout.unwrap_or(options.timeout),
            connect: o.connect_timeout.unwrap_or(options.connect_timeout),
            read: o.read_timeout.unwrap_or(options.read_timeout),
            max_retries: o.max_retries.unwrap_or(options.max_retries),
            max_redirects: o.max_redirects.unwrap_or(options.max_redirects),
        }
    }

    /// The whole-request deadline of a request started at `start`.
    pub fn deadline(&self, start: Instant) -> Option<Instant> {
        self.whole.map(|d| start + d)
    }
}

/// `true` when waiting `delay` from `now` still ends before `deadline` (so a retry after it can still succeed).
pub(crate) fn fits(now: Instant, delay: Duration, deadline: Option<Instant>) -> bool {
    deadline.is_none_or(|d| now + delay < d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn timeout_request_overrides_apply() {
        let opts = Options::default();
        let req = Request::builder(Method::GET, "http://h/")
            .timeout(None)
            .max_retries(0)
            .build()
            .unwrap();
        let l = Limits::of(&opts, &req);
        assert_eq!(l.whole, None);
        assert_eq!(l.max_retries, 0);
        assert_eq!(l.connect, Duration::from_secs(10));
        assert_eq!(l.deadline(Instant::ZERO), None);
        assert!(fits(
            Instant::ZERO,
            Duration::from_secs(1),
            Some(Instant::from_millis(1_001))
        ));
        assert!(!fits(
            Instant::ZERO,
            Duration::from_secs(1),
            Some(Instant::from_millis(1_000))
        ));
    }
}
