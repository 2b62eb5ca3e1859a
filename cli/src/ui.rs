//! What the user sees: result lines on stdout, progress and diagnostics on stderr, a spinner only on a terminal,
//! per-request latency with `-v`, JSON lines with `--json`, and the last successful operation for error messages.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plue_http_core::error::human_duration;

/// Output settings and the record of the last operation that worked. Shared between threads.
#[derive(Debug)]
pub struct Ui {
    json: bool,
    verbose: bool,
    tty: bool,
    last_ok: Mutex<Option<(String, Instant)>>,
    /// Serialises writes so lines from threads never interleave.
    lock: Mutex<()>,
}

impl Ui {
    /// `json`: machine output on stdout; `verbose`: latency lines on stderr.
    pub fn new(json: bool, verbose: bool) -> Ui {
        Ui {
            json,
            verbose,
            tty: std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
            last_ok: Mutex::new(None),
            lock: Mutex::new(()),
        }
    }

    /// `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A result line on stdout (suppressed in JSON mode: use [`Ui::emit`] there).
    pub fn out(&self, line: &str) {
        if !self.json {
            self.write_out(line, true);
        }
    }

    /// Text on stdout without a line break, flushed at once (streamed reply pieces).
    pub fn piece(&self, text: &str) {
        if !self.json {
            self.write_out(text, false);
        }
    }

    /// One JSON value on its own stdout line (only in JSON mode).
    pub fn emit(&self, value: &serde_json::Value) {
        if self.json {
            self.write_out(&value.to_string(), true);
        }
    }

    /// With `--json`: one line that is already JSON (a raw event payload), as is.
    pub fn emit_raw(&self, line: &str) {
        if self.json {
            self.write_out(line, true);
        }
    }

    fn write_out(&self, text: &str, newline: bool) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if newline {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// A progress or diagnostic line on stderr.
    pub fn info(&self, line: &str) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
        let _ = err.flush();
    }

    /// An operation worked: remember it for error messages, and with `-v` print "Provider list fetched (124 ms)".
    pub fn done(&self, what: &str, took: Duration) {
        *self.last_ok.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((what.to_string(), Instant::now()));
        if self.verbose {
            self.info(&format!("{what} ({})", millis(took)));
        }
    }

    /// The last operation that worked and how long ago, e.g. "Session created (3 s ago)".
    pub fn last_ok(&self) -> Option<String> {
        let g = self.last_ok.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref()
            .map(|(what, at)| format!("{what} ({} ago)", human_duration(at.elapsed())))
    }

    /// Show `message` while something slow happens: an animated spinner on a terminal, one plain line
    /// otherwise. The spinner stops when the guard is dropped.
    pub fn spinner(self: &Arc<Self>, message: &str) -> Spinner {
        if !self.tty || self.json {
            self.info(message);
            return Spinner { stop: None };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (s, ui, message) = (stop.clone(), self.clone(), message.to_string());
        let thread = std::thread::spawn(move || {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            let mut i = 0;
            while !s.load(Ordering::SeqCst) {
                {
                    let _g = ui.lock.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = write!(
                        std::io::stderr(),
                        "\r{} {message}",
                        FRAMES[i % FRAMES.len()]
                    );
                    let _ = std::io::stderr().flush();
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(80));
            }
            let _g = ui.lock.lock().unwrap_or_else(|e| e.into_inner());
            // Erase the spinner line.
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            let _ = std::io::stderr().flush();
        });
        Spinner {
            stop: Some((stop, thread)),
        }
    }
}

/// A running spinner; dropping it erases it.
#[derive(Debug)]
pub struct Spinner {
    stop: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
}

/// A latency as the UX plan writes it: "124 ms" (one decimal below 10 ms).
pub fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_latency_reads_like_the_ux_plan() {
        assert_eq!(millis(Duration::from_millis(124)), "124 ms");
        assert_eq!(millis(Duration::from_micros(2_500)), "2.5 ms");
    }

    #[test]
    fn cli_last_ok_names_the_operation() {
        let ui = Ui::new(false, false);
        assert_eq!(ui.last_ok(), None);
        ui.done("Session created", Duration::from_millis(3));
        assert!(ui.last_ok().unwrap().starts_with("Session created ("));
    }
}
