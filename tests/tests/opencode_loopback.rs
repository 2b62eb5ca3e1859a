//! The health watch (monitor without a manager) over the sim's fake OpenCode on a loopback port, on tokio and
//! mio: healthy, then a server restart (connections reset, port refusing for a while) → Degraded with the
//! "(attempt k)" notice (a watch cannot restart, so no "/N"), then healthy again when the port is back.

use std::time::Duration;

use plue_http_sim::fake_opencode::{FakeOpenCode, VERSION};
use plue_http_tests::loopback::Loopback;
use plue_opencode::{reconnect_notice, Report};
use plue_opencode::{HealthConfig, HealthState, OpenCodeOptions};

fn healthy() -> Report {
    Report::Health(HealthState::Healthy {
        version: Some(VERSION.into()),
    })
}

/// Reports up to and including the first one that matches `stop`.
fn until(mut next: impl FnMut() -> Option<Report>, stop: &Report) -> Vec<Report> {
    let mut seen = Vec::new();
    while seen.last() != Some(stop) {
        match next() {
            Some(r) => seen.push(r),
            None => panic!("no {stop:?} within the limit; saw {seen:?}"),
        }
    }
    seen
}

/// `/event` subscriptions the server holds open right now.
fn open_event_streams(lb: &Loopback) -> usize {
    let s = lb.server();
    let mut conns: Vec<_> = s
        .requests()
        .iter()
        .filter(|r| r.path() == "/event" && s.is_open(r.conn))
        .map(|r| r.conn)
        .collect();
    conns.dedup();
    conns.len()
}

/// No subscription left once stopped (the close may take a moment to reach the server).
fn none_soon(lb: &Loopback) {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while open_event_streams(lb) > 0 {
        assert!(
            std::time::Instant::now() < end,
            "a subscription was left behind"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_outage(seen: &[Report]) {
    let degraded = seen
        .iter()
        .position(|r| *r == Report::Health(HealthState::Degraded { attempt: 1 }))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(
        seen[degraded + 1],
        Report::Notice(reconnect_notice(1, None))
    );
    assert_eq!(
        reconnect_notice(1, None),
        "Connection lost. Reconnecting... (attempt 1)"
    );
    assert!(
        !seen.contains(&Report::Health(HealthState::Restarting)),
        "a watch never restarts: {seen:?}"
    );
}

#[test]
fn opencode_watch_tokio_degrades_on_an_outage_and_recovers() {
    let lb = Loopback::start(FakeOpenCode::server()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use plue_http::tokio::opencode::{watch, OpenCodeClient};
        use plue_http_tests::opencode_checks::next_report;
        let c = OpenCodeClient::new(OpenCodeOptions::new(lb.base_url())).unwrap();
        let w = watch(&c, HealthConfig::default());
        let reports = w.reports();
        let until_async = |stop: Report| {
            let reports = reports.clone();
            async move {
                let mut seen = Vec::new();
                while seen.last() != Some(&stop) {
                    seen.push(next_report(&reports, Duration::from_secs(20)).await);
                }
                seen
            }
        };
        assert_eq!(until_async(healthy()).await, [healthy()]);
        lb.restart(Duration::from_secs(2));
        check_outage(&until_async(healthy()).await);
        assert_eq!(open_event_streams(&lb), 1, "never two subscriptions");
        w.stop().await;
        none_soon(&lb);
        let rest: Vec<Report> = std::iter::from_fn(|| reports.try_recv().ok()).collect();
        assert!(
            rest.iter()
                .any(|r| matches!(r, Report::Health(HealthState::Stopped(_)))),
            "{rest:?}"
        );
    });
}

#[test]
fn opencode_watch_mio_degrades_on_an_outage_and_recovers() {
    use plue_http::mio::opencode::{HealthWatch, OpenCodeClient};
    let lb = Loopback::start(FakeOpenCode::server()).unwrap();
    let c = OpenCodeClient::new(OpenCodeOptions::new(lb.base_url())).unwrap();
    let w = HealthWatch::start(&c, HealthConfig::default());
    let mut reports = w.reports();
    let mut next = || reports.recv_timeout(Duration::from_secs(20));
    assert_eq!(until(&mut next, &healthy()), [healthy()]);
    lb.restart(Duration::from_secs(2));
    check_outage(&until(&mut next, &healthy()));
    assert_eq!(open_event_streams(&lb), 1, "never two subscriptions");
    w.stop();
    none_soon(&lb);
}
