//! Network fault settings for one run.
//!
//! Reply-level faults (resets mid-head or mid-chunk, delayed heads, stalled or dripping bodies, dropped
//! requests) are scripted per route by the workload; these are the faults of the wire and the hosts.

use core::time::Duration;

use plue_http_core::rng::Rng;
use plue_http_core::time::Instant;

/// Probabilities are per mille (0..=1000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// Largest one-way latency of a segment (each segment draws uniformly up to this).
    pub max_latency: Duration,
    /// Chance a write or a server transmit is cut into random pieces.
    pub split: u32,
    /// Chance a cut write is cut into single bytes.
    pub split_bytes: u32,
    /// Chance a connect is refused although the host is up.
    pub refuse: u32,
    /// Chance a connect never completes (the SYN is lost; only the connect timeout ends it).
    pub blackhole: u32,
    /// Chance that a request arriving on an idle keep-alive connection finds the server has just closed it.
    pub idle_close_race: u32,
    /// Chance a name lookup fails.
    pub dns_fail: u32,
    /// Server restarts: (when, host index, how long the port refuses connections).
    pub restarts: Vec<(Instant, usize, Duration)>,
}

impl Faults {
    /// No faults and no latency: a perfect network.
    pub fn none() -> Faults {
        Faults {
            max_latency: Duration::ZERO,
            split: 0,
            split_bytes: 0,
            refuse: 0,
            blackhole: 0,
            idle_close_race: 0,
            dns_fail: 0,
            restarts: Vec::new(),
        }
    }

    /// A random mix for one seed: every fault kind is enabled, intensities vary from seed to seed, and at least
    /// one server restart happens. `horizon` bounds when restarts happen; `hosts` is the number of hosts.
    pub fn random(rng: &mut Rng, horizon: Duration, hosts: usize) -> Faults {
        let mut restarts = Vec::new();
        let n = 1 + rng.below(2);
        for _ in 0..n {
            let at = Instant::ZERO + rng.duration_between(Duration::ZERO, horizon);
            let host = rng.below(hosts as u64) as usize;
            let down = rng.duration_between(Duration::from_millis(10), Duration::from_secs(3));
            restarts.push((at, host, down));
        }
        restarts.sort();
        Faults {
            max_latency: rng
                .duration_between(Duration::from_micros(100), Duration::from_millis(20)),
            split: 100 + rng.below(901) as u32,
            split_bytes: 10 + rng.below(190) as u32,
            refuse: 5 + rng.below(75) as u32,
            blackhole: 2 + rng.below(28) as u32,
            idle_close_race: 20 + rng.below(280) as u32,
            dns_fail: 5 + rng.below(45) as u32,
            restarts,
        }
    }
}

/// Cut `len` bytes into pieces per the fault settings: whole, random cuts, or single bytes.
pub fn cut_points(rng: &mut Rng, faults: &Faults, len: usize) -> Vec<usize> {
    if len <= 1 || !rng.chance(u64::from(faults.split), 1000) {
        return vec![len];
    }
    if rng.chance(u64::from(faults.split_bytes), 1000) && len <= 4096 {
        return vec![1; len];
    }
    let mut pieces = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = 1 + rng.below(left.min(64) as u64) as usize;
        let n = if rng.chance(1, 4) { left } else { n };
        pieces.push(n);
        left -= n;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_cut_points_cover_the_input() {
        let mut rng = Rng::new(3);
        let mut f = Faults::none();
        f.split = 1000;
        f.split_bytes = 500;
        let mut saw_single = false;
        for len in 0..300 {
            let p = cut_points(&mut rng, &f, len);
            assert_eq!(p.iter().sum::<usize>(), len);
            assert!(p.iter().all(|&n| n > 0) || len == 0);
            saw_single |= len > 2 && p.len() == len;
        }
        assert!(saw_single);
        assert_eq!(cut_points(&mut rng, &Faults::none(), 10), vec![10]);
    }
}
