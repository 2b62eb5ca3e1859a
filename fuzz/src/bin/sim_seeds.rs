//! Offline simulation at scale: run many seeds of `plue_http_sim::run_seed` in release, on every core, and
//! report totals. The CI runs 10,000 seeds through `tests/tests/sim.rs`; this runner is for the million-seed run.
//!
//! ```text
//! cargo run --release --no-default-features --features stable --manifest-path fuzz/Cargo.toml --bin sim_seeds -- COUNT [FIRST] [THREADS]
//! ```
//!
//! Exits non-zero if any seed violates an invariant; each failure prints its replay command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use plue_http_sim::run_seed;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let count = arg(1, 1_000_000);
    let first = arg(2, 0);
    let threads = arg(
        3,
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
    );
    let next = AtomicU64::new(first);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let results: Vec<(u64, u64, u64, Vec<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (mut ops, mut server_requests, mut steps, mut failed) =
                        (0u64, 0u64, 0u64, Vec::new());
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= first + count {
                            break;
                        }
                        match run_seed(seed) {
                            Ok(r) => {
                                ops += r.ops as u64;
                                server_requests += r.server_requests as u64;
                                steps += r.steps;
                            }
                            Err(f) => {
                                eprintln!("{f}");
                                failed.push(seed);
                            }
                        }
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if n.is_multiple_of(50_000) {
                            eprintln!("{n} seeds in {:.0} s", start.elapsed().as_secs_f64());
                        }
                    }
                    (ops, server_requests, steps, failed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let ops: u64 = results.iter().map(|r| r.0).sum();
    let server_requests: u64 = results.iter().map(|r| r.1).sum();
    let steps: u64 = results.iter().map(|r| r.2).sum();
    let mut failed: Vec<u64> = results.into_iter().flat_map(|r| r.3).collect();
    failed.sort_unstable();
    println!(
        "sim: {count} seeds from {first} on {threads} threads in {secs:.0} s: {ops} operations, \
         {server_requests} server requests, {steps} machine steps, {} failing seeds {:?}",
        failed.len(),
        &failed[..failed.len().min(20)]
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
