//! RetryPolicy, backoff and Retry-After tests.

use super::*;
use http::Method;
use quickcheck::QuickCheck;

use crate::request::RequestBuilder;

fn req(method: Method) -> Request {
    RequestBuilder::new(method, "http://127.0.0.1:4096/x")
        .build()
        .unwrap()
}

/// A 503 with these fields.
fn head(headers: &[(&str, &str)]) -> ResponseHead {
    crate::response::test_head(503, headers)
}

const NET: NetError = NetError::Reset;

#[test]
fn retry_defaults_match_design() {
    let p = RetryPolicy::default();
    assert_eq!(p.max_retries, 3);
    assert_eq!(p.base_delay, Duration::from_secs(1));
    assert_eq!(p.max_delay, Duration::from_secs(30));
    assert_eq!(p.jitter, Jitter::Equal);
    assert_eq!(p.retry_statuses, vec![408, 429, 502, 503, 504]);
    assert_eq!(RetryPolicy::from_options(&Options::default()), p);
}

#[test]
fn retry_never_sent_replays_any_method() {
    let p = RetryPolicy::default();
    for m in [Method::GET, Method::POST, Method::PATCH] {
        assert!(p.should_retry(
            &Outcome::ConnectFailed(NetError::Refused),
            1,
            &req(m.clone())
        ));
        assert!(p.should_retry(&Outcome::NotSent(NET), 1, &req(m.clone())));
        assert!(p.should_retry(&Outcome::Timeout(Phase::Connect), 1, &req(m)));
    }
}

#[test]
fn retry_maybe_sent_only_when_replay_safe() {
    let p = RetryPolicy::default();
    let maybe = Outcome::MaybeSent(NET);
    for m in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ] {
        assert!(p.should_retry(&maybe, 1, &req(m)));
    }
    assert!(!p.should_retry(&maybe, 1, &req(Method::POST)));
    assert!(!p.should_retry(&maybe, 1, &req(Method::PATCH)));
    let keyed = RequestBuilder::new(Method::POST, "http://127.0.0.1/x")
        .header("Idempotency-Key", "k1")
        .build()
        .unwrap();
    assert!(p.should_retry(&maybe, 1, &keyed));
    let opted = RequestBuilder::new(Method::POST, "http://127.0.0.1/x")
        .retry_non_idempotent(true)
        .build()
        .unwrap();
    assert!(p.should_retry(&maybe, 1, &opted));
    // Read timeouts: the request was written.
    assert!(!p.should_retry(
        &Outcome::Timeout(Phase::ResponseHead),
        1,
        &req(Method::POST)
    ));
    assert!(p.should_retry(&Outcome::Timeout(Phase::ResponseHead), 1, &req(Method::GET)));
    assert!(p.should_retry(&Outcome::Timeout(Phase::BodyIdle), 1, &req(Method::GET)));
}

#[test]
fn retry_statuses_only_listed_and_replay_safe() {
    let p = RetryPolicy::default();
    for s in [408, 429, 502, 503, 504] {
        assert!(
            p.should_retry(&Outcome::Status(s, None), 1, &req(Method::GET)),
            "{s}"
        );
        // The server answered: a plain POST may have done work, so it is not replayed.
        assert!(
            !p.should_retry(&Outcome::Status(s, None), 1, &req(Method::POST)),
            "{s}"
        );
    }
    for s in [200, 400, 401, 404, 500, 501] {
        assert!(
            !p.should_retry(&Outcome::Status(s, None), 1, &req(Method::GET)),
            "{s}"
        );
    }
    let custom = RetryPolicy {
        retry_statuses: vec![500],
        ..RetryPolicy::default()
    };
    assert!(custom.should_retry(&Outcome::Status(500, None), 1, &req(Method::GET)));
    assert!(!custom.should_retry(&Outcome::Status(503, None), 1, &req(Method::GET)));
}

#[test]
fn retry_whole_request_timeout_never_retried() {
    let p = RetryPolicy::default();
    assert!(!p.should_retry(&Outcome::Timeout(Phase::Request), 1, &req(Method::GET)));
}

#[test]
fn retry_budget_counts_attempts() {
    let p = RetryPolicy::default(); // 3 retries ⇒ attempts 1..=3 may be followed by another, 4 may not
    let o = Outcome::ConnectFailed(NetError::Refused);
    let r = req(Method::GET);
    assert!(p.should_retry(&o, 1, &r));
    assert!(p.should_retry(&o, 3, &r));
    assert!(!p.should_retry(&o, 4, &r));
    assert!(!p.should_retry(&o, 0, &r));
    let none = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    assert!(!none.should_retry(&o, 1, &r));
    // A request's own max_retries overrides the policy.
    let one = RequestBuilder::new(Method::GET, "http://127.0.0.1/x")
        .max_retries(1)
        .build()
        .unwrap();
    assert!(p.should_retry(&o, 1, &one));
    assert!(!p.should_retry(&o, 2, &one));
}

#[test]
fn retry_delay_without_jitter_is_exponential_and_capped() {
    let p = RetryPolicy {
        jitter: Jitter::None,
        ..RetryPolicy::default()
    };
    let mut rng = Rng::new(1);
    let secs: Vec<u64> = (1..=7).map(|n| p.delay(n, &mut rng).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(p.delay(u32::MAX, &mut rng), Duration::from_secs(30));
    let triple = RetryPolicy {
        multiplier: 3.0,
        jitter: Jitter::None,
        ..RetryPolicy::default()
    };
    assert_eq!(triple.delay(3, &mut rng), Duration::from_secs(9));
    let flat = RetryPolicy {
        multiplier: f64::NAN,
        jitter: Jitter::None,
        ..RetryPolicy::default()
    };
    assert_eq!(flat.delay(5, &mut rng), Duration::from_secs(1));
}

#[test]
fn retry_delay_jitter_ranges() {
    let mut rng = Rng::new(42);
    let equal = RetryPolicy::default();
    let full = RetryPolicy {
        jitter: Jitter::Full,
        ..RetryPolicy::default()
    };
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..1000 {
        let d = equal.delay(3, &mut rng); // nominal 4 s
        assert!(
            d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
            "{d:?}"
        );
        distinct.insert(d);
        let d = full.delay(3, &mut rng);
        assert!(d <= Duration::from_secs(4), "{d:?}");
    }
    assert!(distinct.len() > 900, "jitter must actually vary");
}

#[test]
fn retry_delay_deterministic_under_seed() {
    let p = RetryPolicy::default();
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (1..=6).map(|n| p.delay(n, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

#[test]
fn retry_delay_after_honours_retry_after_up_to_cap() {
    let p = RetryPolicy {
        jitter: Jitter::None,
        ..RetryPolicy::default()
    };
    let mut rng = Rng::new(1);
    let o = Outcome::Status(503, Some(Duration::from_secs(10)));
    assert_eq!(p.delay_after(&o, 1, &mut rng), Duration::from_secs(10));
    let o = Outcome::Status(503, Some(Duration::from_secs(3600)));
    assert_eq!(p.delay_after(&o, 1, &mut rng), Duration::from_secs(30));
    // A short Retry-After never shortens the backoff.
    let o = Outcome::Status(503, Some(Duration::ZERO));
    assert_eq!(p.delay_after(&o, 3, &mut rng), Duration::from_secs(4));
}

#[test]
fn retry_after_delta_seconds() {
    let cap = Duration::from_secs(30);
    assert_eq!(
        retry_after(&head(&[("retry-after", "5")]), cap),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        retry_after(&head(&[("Retry-After", " 0 ")]), cap),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry_after(&head(&[("retry-after", "120")]), cap),
        Some(cap)
    );
    assert_eq!(
        retry_after(&head(&[("retry-after", "99999999999999999999999")]), cap),
        Some(cap)
    );
    for bad in ["-1", "1.5", "5s", "", "soon"] {
        assert_eq!(
            retry_after(&head(&[("retry-after", bad)]), cap),
            None,
            "{bad:?}"
        );
    }
    assert_eq!(retry_after(&head(&[]), cap), None);
}

#[test]
fn retry_after_http_date_against_date_header() {
    let cap = Duration::from_secs(30);
    let h = head(&[
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", "Sun, 06 Nov 1994 08:49:57 GMT"),
    ]);
    assert_eq!(retry_after(&h, cap), Some(Duration::from_secs(20)));
    // Mixed forms: the date in RFC 850 form, Retry-After in asctime form.
    let h = head(&[
        ("date", "Sunday, 06-Nov-94 08:49:37 GMT"),
        ("retry-after", "Sun Nov  6 08:49:47 1994"),
    ]);
    assert_eq!(retry_after(&h, cap), Some(Duration::from_secs(10)));
    // Far future: capped. Past: zero.
    let h = head(&[
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", "Mon, 07 Nov 1994 08:49:37 GMT"),
    ]);
    assert_eq!(retry_after(&h, cap), Some(cap));
    let h = head(&[
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT"),
    ]);
    assert_eq!(retry_after(&h, cap), Some(Duration::ZERO));
}

#[test]
fn retry_after_http_date_ignored_without_valid_date() {
    let cap = Duration::from_secs(30);
    let h = head(&[("retry-after", "Sun, 06 Nov 1994 08:49:57 GMT")]);
    assert_eq!(retry_after(&h, cap), None);
    let h = head(&[
        ("date", "yesterday"),
        ("retry-after", "Sun, 06 Nov 1994 08:49:57 GMT"),
    ]);
    assert_eq!(retry_after(&h, cap), None);
}

#[test]
fn retry_backoff_stays_within_floor_and_cap() {
    fn prop(base_ms: u16, cap_ms: u16, mult: u8, attempt: u32, seed: u64, kind: u8) -> bool {
        let base = Duration::from_millis(u64::from(base_ms));
        let cap = Duration::from_millis(u64::from(cap_ms));
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal][usize::from(kind % 3)];
        let p = RetryPolicy {
            base_delay: base,
            max_delay: cap,
            multiplier: 1.0 + f64::from(mult) / 16.0,
            jitter,
            ..RetryPolicy::default()
        };
        let mut rng = Rng::new(seed);
        let d = p.delay(attempt, &mut rng);
        // Nominal delay: at least base (capped), at most cap; jitter lowers it by at most what its kind allows.
        let nominal_floor = base.min(cap);
        let floor = match jitter {
            Jitter::None => nominal_floor,
            Jitter::Equal => nominal_floor / 2,
            Jitter::Full => Duration::ZERO,
        };
        d >= floor && d <= cap
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(u16, u16, u8, u32, u64, u8) -> bool);
}
