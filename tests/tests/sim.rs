//! Deterministic simulation of the client machine: real workloads, faults of every kind, invariants checked on
//! every run (see `plue_http_core::sim`).
//!
//! - `cargo test --release -p plue-http-tests --test sim` runs 10,000 seeds (the CI variant, about a minute or
//!   less on two cores); a debug build runs 300 so a plain `cargo test` stays fast. `PLUE_SIM_SEEDS=N` overrides
//!   the count, `PLUE_SIM_FIRST_SEED=S` the first seed.
//! - A failing seed prints the broken invariant, a trace tail and its replay command:
//!   `PLUE_SIM_SEED=S cargo test -p plue-http-tests --test sim sim_replay_seed -- --nocapture`.
//! - `cargo test -p plue-http-tests --features fault --test sim` builds the machine with the test-only fault
//!   `fault-replay-written` (it replays a POST it already wrote) and proves the checker catches it.

use std::io::Write;
#[cfg(not(feature = "fault"))]
use std::time::Instant as WallClock;

use plue_http_core::sim::run_seed;
#[cfg(not(feature = "fault"))]
use plue_http_core::sim::{invariants::Stats, net::NetStats, Failure};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Seeds per run: `PLUE_SIM_SEEDS`, else 10,000 in release and 300 in debug builds.
fn seed_count() -> u64 {
    env_u64("PLUE_SIM_SEEDS").unwrap_or(if cfg!(debug_assertions) { 300 } else { 10_000 })
}

#[cfg(not(feature = "fault"))]
/// Totals over the passing seeds: evidence that every fault kind and outcome was exercised.
#[derive(Default)]
struct Totals {
    ops: usize,
    server_requests: usize,
    stats: Stats,
    net: NetStats,
}

#[cfg(not(feature = "fault"))]
/// Run `count` seeds from `first` on every core; return the failures (seed order), totals and the wall time.
fn run_many(first: u64, count: u64) -> (Vec<Failure>, Totals, f64) {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8) as u64;
    let start = WallClock::now();
    let mut totals = Totals::default();
    let mut failures: Vec<Failure> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut failed = Vec::new();
                    let mut totals = Totals::default();
                    let mut seed = first + t;
                    while seed < first + count {
                        match run_seed(seed) {
                            Ok(r) => {
                                totals.ops += r.ops;
                                totals.server_requests += r.server_requests;
                                totals.stats += r.stats;
                                totals.net += r.net;
                            }
                            Err(f) => failed.push(f),
                        }
                        seed += threads;
                    }
                    (failed, totals)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let (failed, t) = h.join().expect("a simulation thread panicked");
            all.extend(failed);
            totals.ops += t.ops;
            totals.server_requests += t.server_requests;
            totals.stats += t.stats;
            totals.net += t.net;
        }
        all
    });
    failures.sort_by_key(|f| f.seed);
    (failures, totals, start.elapsed().as_secs_f64())
}

#[cfg(not(feature = "fault"))]
#[test]
fn sim_seeds() {
    let first = env_u64("PLUE_SIM_FIRST_SEED").unwrap_or(0);
    let count = seed_count();
    let (failures, totals, secs) = run_many(first, count);
    // Written to stderr directly, not with the print macros, so the count shows even when output is captured.
    let _ = writeln!(
        std::io::stderr(),
        "{count} seeds ({first}..{}) in {secs:.1} s, {:.0} seeds/s, {} failed",
        first + count,
        count as f64 / secs.max(1e-9),
        failures.len()
    );
    let _ = writeln!(
        std::io::stderr(),
        "  {} ops, {} server requests, {:?}\n  {:?}",
        totals.ops,
        totals.server_requests,
        totals.stats,
        totals.net
    );
    if !failures.is_empty() {
        for f in failures.iter().take(3) {
            let _ = writeln!(std::io::stderr(), "{f}");
        }
        let seeds: Vec<String> = failures.iter().map(|f| f.seed.to_string()).collect();
        panic!(
            "{} of {count} seeds broke an invariant; failing seeds: {}",
            failures.len(),
            seeds.join(" ")
        );
    }
}

/// Replays `PLUE_SIM_SEED` (default 1) twice with tracing and checks the runs are identical.
#[test]
fn sim_replay_seed() {
    let seed = env_u64("PLUE_SIM_SEED").unwrap_or(1);
    let w = plue_http_core::sim::workload::Workload::generate;
    let a = plue_http_core::sim::run_workload(seed, w(seed), true);
    let b = plue_http_core::sim::run_workload(seed, w(seed), true);
    assert_eq!(a, b, "seed {seed} did not replay identically");
    match a {
        Ok(r) => {
            for line in &r.trace {
                println!("{line}");
            }
            println!(
                "seed {seed} passed: {} ops, {:?}, {} server requests, {} steps, {:?} virtual",
                r.ops, r.stats, r.server_requests, r.steps, r.virtual_time
            );
        }
        Err(f) => {
            if std::env::var("PLUE_SIM_SEED").is_ok() {
                panic!("{f}");
            }
            // Without an explicit seed this test only proves determinism; sim_seeds reports failures.
            println!("{f}");
        }
    }
}

#[cfg(feature = "fault")]
#[test]
fn sim_checker_catches_replayed_post() {
    use plue_http_core::sim::invariants::Invariant;
    // The same seeds a CI run covers, in order; the first seed whose POST was replayed must be caught.
    let count = seed_count();
    let mut other = 0;
    for seed in 0..count {
        let Err(f) = run_seed(seed) else { continue };
        if f.violation.invariant == Invariant::NoDuplicateExecution {
            let _ = writeln!(
                std::io::stderr(),
                "caught the replayed POST in seed {seed} (of {count}; {other} earlier seeds failed otherwise):\n{f}"
            );
            return;
        }
        other += 1;
    }
    panic!("the fault replay-written was not caught in {count} seeds");
}
