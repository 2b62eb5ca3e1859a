//! Linux memory pressure from a PSI trigger (`Documentation/accounting/psi.rst`): `/proc/pressure/memory` is
//! opened read-write, a trigger `some <stall µs> <window µs>` is written to it, and the file descriptor then
//! reports `POLLPRI` whenever tasks stalled on memory for longer than the stall within one window. The file's
//! text (`some avg10=… total=…` / `full …`) is parsed to grade the pressure.

use core::time::Duration;

use plue_http_core::client::MemoryPressure;

/// The system-wide memory pressure file.
pub const MEMORY: &str = "/proc/pressure/memory";

/// One line of a pressure file: share of time stalled (percent) over 10, 60 and 300 s, and total stall µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stall {
    /// Percent of the last 10 s.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
    /// Total stall time in microseconds since boot.
    pub total_us: u64,
}

/// A parsed pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// Some task stalled.
    pub some: Stall,
    /// Every non-idle task stalled at once.
    pub full: Stall,
}

impl Pressure {
    /// How hard to react: `Critical` when all tasks were stalled more than 10 % of the last 10 s,
    /// otherwise `Moderate` (the trigger only fires when there is pressure at all).
    pub fn level(&self) -> MemoryPressure {
        if self.full.avg10 > 10.0 {
            MemoryPressure::Critical
        } else {
            MemoryPressure::Moderate
        }
    }
}

/// Parse the text of a pressure file. Unknown lines and fields are ignored; `None` when no `some` line is there.
pub fn parse(text: &str) -> Option<Pressure> {
    let mut p = Pressure::default();
    let mut seen_some = false;
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("some") => {
                seen_some = true;
                &mut p.some
            }
            Some("full") => &mut p.full,
            _ => continue,
        };
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => slot.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => slot.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => slot.avg300 = v.parse().unwrap_or(0.0),
                "total" => slot.total_us = v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    seen_some.then_some(p)
}

/// The trigger text: `some <stall µs> <window µs>` and a terminating NUL (the kernel overwrites the last byte
/// written with a NUL, so without one the last digit would be lost).
pub fn trigger_text(stall: Duration, window: Duration) -> Vec<u8> {
    format!("some {} {}\0", stall.as_micros(), window.as_micros()).into_bytes()
}

/// The trigger the watchers arm: 150 ms of stall within 2 s. Unprivileged processes may only use windows that
/// are multiples of 2 s.
pub const DEFAULT_STALL: Duration = Duration::from_millis(150);
/// See [`DEFAULT_STALL`].
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

/// Open `path` read-write and arm a trigger on it. The returned descriptor reports `POLLPRI` when the trigger
/// fires. Fails where PSI is missing or the trigger is refused.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn arm(path: &str, stall: Duration, window: Duration) -> std::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    let fd = open(
        path,
        OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let text = trigger_text(stall, window);
    let n = rustix::io::write(&fd, &text)?;
    if n != text.len() {
        return Err(std::io::Error::other("short write of the PSI trigger"));
    }
    Ok(fd)
}

/// Read the pressure file behind a trigger descriptor (from the start) and parse it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn read(fd: rustix::fd::BorrowedFd<'_>) -> std::io::Result<Option<Pressure>> {
    let mut buf = [0u8; 512];
    let n = rustix::io::pread(fd, &mut buf, 0)?;
    Ok(parse(&String::from_utf8_lossy(&buf[..n])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n\
                          full avg10=12.00 avg60=0.10 avg300=0.00 total=6543\n";

    #[test]
    fn psi_parses_both_lines() {
        let p = parse(SAMPLE).unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_us, 123_456);
        assert_eq!(p.full.avg60, 0.1);
        assert_eq!(p.level(), MemoryPressure::Critical);
        let calm = parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert_eq!(calm.level(), MemoryPressure::Moderate);
        assert_eq!(parse("garbage\nfull avg10=x\n"), None);
    }

    #[test]
    fn psi_trigger_text_is_nul_terminated() {
        assert_eq!(
            trigger_text(Duration::from_millis(150), Duration::from_secs(2)),
            b"some 150000 2000000\0".to_vec()
        );
    }

    /// A real trigger on this machine's `/proc/pressure/memory`: the kernel accepts it (a malformed one is
    /// refused with `EINVAL`), the descriptor can be waited on for `POLLPRI`, and reading it back parses.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn memory_pressure_psi_trigger_is_armed_and_parsed() {
        use rustix::event::{poll, PollFd, PollFlags};
        use rustix::fd::AsFd;
        if std::env::var_os("CI").is_none() && !std::path::Path::new(MEMORY).exists() {
            eprintln!("no {MEMORY} on this machine");
            return;
        }
        let fd = arm(MEMORY, DEFAULT_STALL, DEFAULT_WINDOW).expect("trigger accepted");
        let p = read(fd.as_fd()).expect("read").expect("parsed");
        assert!(p.some.avg10 >= 0.0 && p.some.avg10 <= 100.0);
        let mut fds = [PollFd::new(&fd, PollFlags::PRI)];
        let ready = poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        )
        .expect("pollable");
        assert!(ready <= 1);
        // The kernel checks the trigger: a stall longer than its window is refused.
        let bad = arm(MEMORY, Duration::from_secs(3), Duration::from_secs(2));
        assert!(bad.is_err(), "an invalid trigger must be refused");
    }
}
