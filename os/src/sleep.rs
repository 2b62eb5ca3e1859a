//! Sleep detection: `CLOCK_BOOTTIME` keeps counting while the machine is suspended, `CLOCK_MONOTONIC` does not.
//! When the boot-time clock advanced more than the monotonic clock between two looks, the difference is time
//! spent asleep.

use core::time::Duration;

/// The two clocks read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPair {
    /// `CLOCK_MONOTONIC` (stops during suspend).
    pub monotonic: Duration,
    /// `CLOCK_BOOTTIME` (includes suspend).
    pub boottime: Duration,
}

impl ClockPair {
    /// Read both clocks now (Linux). On systems without a boot-time clock both fields are the monotonic clock,
    /// so no sleep is ever reported.
    pub fn now() -> ClockPair {
        use rustix::time::{clock_gettime, ClockId};
        let monotonic = to_duration(clock_gettime(ClockId::Monotonic));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let boottime = to_duration(clock_gettime(ClockId::Boottime));
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let boottime = monotonic;
        ClockPair {
            monotonic,
            boottime,
        }
    }
}

fn to_duration(ts: rustix::time::Timespec) -> Duration {
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Reports a suspend once per sleep: feed it a [`ClockPair`] whenever the driver wakes.
#[derive(Debug, Clone)]
pub struct SleepDetector {
    last: Option<ClockPair>,
    threshold: Duration,
}

impl SleepDetector {
    /// A detector that reports sleeps longer than `threshold` (scheduling noise between the two clock reads is
    /// microseconds; a second is a safe default).
    pub fn new(threshold: Duration) -> SleepDetector {
        SleepDetector {
            last: None,
            threshold,
        }
    }

    /// Look at the clocks: `Some(asleep)` when the machine slept longer than the threshold since the last look.
    pub fn observe(&mut self, now: ClockPair) -> Option<Duration> {
        let last = self.last.replace(now)?;
        let awake = now.monotonic.saturating_sub(last.monotonic);
        let total = now.boottime.saturating_sub(last.boottime);
        let asleep = total.saturating_sub(awake);
        (asleep > self.threshold).then_some(asleep)
    }
}

impl Default for SleepDetector {
    fn default() -> Self {
        SleepDetector::new(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(mono: u64, boot: u64) -> ClockPair {
        ClockPair {
            monotonic: Duration::from_millis(mono),
            boottime: Duration::from_millis(boot),
        }
    }

    #[test]
    fn sleep_is_the_boottime_jump_beyond_the_monotonic_one() {
        let mut d = SleepDetector::default();
        assert_eq!(
            d.observe(pair(1_000, 5_000)),
            None,
            "the first look has nothing to compare with"
        );
        assert_eq!(
            d.observe(pair(2_000, 6_000)),
            None,
            "both advanced alike: awake"
        );
        assert_eq!(
            d.observe(pair(2_500, 66_500)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(d.observe(pair(3_000, 67_000)), None, "reported once");
    }

    #[test]
    fn sleep_below_the_threshold_is_noise() {
        let mut d = SleepDetector::new(Duration::from_secs(1));
        d.observe(pair(0, 0));
        assert_eq!(d.observe(pair(100, 1_050)), None);
        assert_eq!(
            d.observe(pair(200, 2_200)),
            Some(Duration::from_millis(1_050))
        );
    }

    #[test]
    fn sleep_reads_real_clocks_without_reporting_a_sleep() {
        let mut d = SleepDetector::default();
        d.observe(ClockPair::now());
        assert_eq!(d.observe(ClockPair::now()), None);
    }
}
