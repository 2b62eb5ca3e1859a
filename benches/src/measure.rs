//! One measured run: client CPU time (the primary metric), wall time and heap allocations, per unit of work.

use std::time::Instant;

use serde::Serialize;

use crate::alloc;
use crate::sys;

/// Costs of one run divided by its units of work (requests, or SSE events).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct PerUnit {
    /// Client process CPU nanoseconds (user + system, every thread).
    pub cpu_ns: f64,
    /// Wall-clock nanoseconds.
    pub wall_ns: f64,
    /// Heap allocations.
    pub allocs: f64,
    /// Heap bytes allocated.
    pub alloc_bytes: f64,
    /// Voluntary context switches (a thread blocked: waiting for the server, or handing work to another
    /// thread), every thread of the client process.
    pub vol_switches: f64,
    /// Involuntary context switches (a thread was preempted: mostly other load on the machine).
    pub invol_switches: f64,
}

/// Run `f`, which reports how many units it did, and return its costs per unit.
pub fn per_unit<T>(f: impl FnOnce() -> Result<(u64, T), String>) -> Result<(PerUnit, T), String> {
    let a0 = alloc::snapshot();
    let s0 = sys::ctx_switches();
    let c0 = sys::cpu_time();
    let t0 = Instant::now();
    let (units, out) = f()?;
    let wall = t0.elapsed();
    let cpu = sys::cpu_time().saturating_sub(c0);
    let s1 = sys::ctx_switches();
    let (allocs, bytes) = alloc::snapshot().since(&a0);
    let u = units.max(1) as f64;
    Ok((
        PerUnit {
            cpu_ns: cpu.as_nanos() as f64 / u,
            wall_ns: wall.as_nanos() as f64 / u,
            allocs: allocs as f64 / u,
            alloc_bytes: bytes as f64 / u,
            vol_switches: s1.0.saturating_sub(s0.0) as f64 / u,
            invol_switches: s1.1.saturating_sub(s0.1) as f64 / u,
        },
        out,
    ))
}

/// The median of `xs` (mean of the middle two for an even count); 0 for none.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// Field-wise medians of `samples`.
pub fn median_of(samples: &[PerUnit]) -> PerUnit {
    let pick = |f: fn(&PerUnit) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
    PerUnit {
        cpu_ns: pick(|s| s.cpu_ns),
        wall_ns: pick(|s| s.wall_ns),
        allocs: pick(|s| s.allocs),
        alloc_bytes: pick(|s| s.alloc_bytes),
        vol_switches: pick(|s| s.vol_switches),
        invol_switches: pick(|s| s.invol_switches),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn bench_per_unit_divides_by_units() {
        let (p, out) = per_unit(|| Ok((4, 7))).unwrap();
        assert_eq!(out, 7);
        assert!(p.cpu_ns >= 0.0 && p.wall_ns >= 0.0);
        assert!(per_unit::<()>(|| Err("boom".into())).is_err());
    }
}
