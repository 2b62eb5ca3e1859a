//! Every scenario × every driver. A pair that does not run fails the test: nothing is skipped.

use std::collections::HashSet;

use plue_http_tests::drivers::{self, DriverKind};
use plue_http_tests::scenarios;

fn run_driver(kind: DriverKind) {
    run_all(kind, drivers::run);
}

fn run_all(
    kind: DriverKind,
    run: fn(DriverKind, &scenarios::Scenario) -> Result<scenarios::Outcome, String>,
) {
    let all = scenarios::all();
    let mut names = HashSet::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for s in &all {
        assert!(names.insert(s.name), "duplicate scenario name {}", s.name);
        match run(kind, s).and_then(|o| scenarios::check(s, &o)) {
            Ok(()) => ran += 1,
            Err(e) => failures.push(format!("{kind:?} × {}: {e}", s.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    assert_eq!(ran, all.len(), "every scenario must run on {kind:?}");
}

#[test]
fn conformance_sim() {
    run_driver(DriverKind::Sim);
}

#[test]
fn conformance_tokio() {
    run_driver(DriverKind::Tokio);
}

#[test]
fn conformance_smol() {
    run_driver(DriverKind::Smol);
}

#[test]
fn conformance_mio() {
    run_driver(DriverKind::Mio);
}

/// Every scenario again over TLS (rustls on both sides, a test-made CA) on each real runtime.
#[test]
fn conformance_tls_tokio() {
    run_all(DriverKind::Tokio, drivers::run_tls);
}

#[test]
fn conformance_tls_smol() {
    run_all(DriverKind::Smol, drivers::run_tls);
}

#[test]
fn conformance_tls_mio() {
    run_all(DriverKind::Mio, drivers::run_tls);
}

/// The list of tests above must name every driver: adding a driver without a test fails here.
#[test]
fn conformance_covers_every_driver() {
    let covered = [
        DriverKind::Sim,
        DriverKind::Tokio,
        DriverKind::Smol,
        DriverKind::Mio,
    ];
    for kind in DriverKind::ALL {
        assert!(covered.contains(&kind), "{kind:?} has no conformance test");
    }
    assert!(scenarios::all().len() >= 20, "the suite lost scenarios");
}
