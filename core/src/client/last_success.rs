//! The last request that worked, for error messages: "last success: GET /session 200 in 12 ms, 3 s ago".
//!
//! When something fails, the first question is "did anything work recently?". Every error the machine emits
//! carries the answer.

use core::time::Duration;

use http::Method;

use crate::error::human_duration;
use crate::time::Instant;

/// The last completed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    /// Its method.
    pub method: Method,
    /// Its path (no query: queries may carry secrets).
    pub path: String,
    /// The final status.
    pub status: u16,
    /// How long it took, from the call to the end of the body.
    pub took: Duration,
    /// When it completed.
    pub at: Instant,
}

impl LastSuccess {
    /// `GET /session 200 in 12 ms, 3 s ago` as seen at `now`.
    pub fn describe(&self, now: Instant) -> String {
        format!(
            "{} {} {} in {}, {} ago",
            self.method,
            self.path,
            self.status,
            human_duration(self.took),
            human_duration(now - self.at)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_last_success_reads_like_a_sentence() {
        let l = LastSuccess {
            method: Method::GET,
            path: "/session".into(),
            status: 200,
            took: Duration::from_millis(12),
            at: Instant::from_millis(1_000),
        };
        assert_eq!(
            l.describe(Instant::from_millis(4_000)),
            "GET /session 200 in 12 ms, 3 s ago"
        );
    }
}
