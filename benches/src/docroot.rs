//! The files both servers (nginx and the bundled `bench-server`) serve: one route per measure.

use std::io;
use std::path::Path;

/// Small body route: an OpenCode-health-sized JSON answer.
pub const SMALL_PATH: &str = "/small";
/// The small body, byte for byte.
pub const SMALL_BODY: &[u8] =
    br#"{"healthy":true,"version":"0.0.0-bench","pid":4242,"uptime":12345,"ok":"plue-http bench"}"#;
/// 1 MiB body route.
pub const LARGE_PATH: &str = "/1m";
/// Size of the 1 MiB body.
pub const LARGE_LEN: usize = 1 << 20;
/// The OpenCode-shaped event stream, served as `text/event-stream`.
pub const SSE_PATH: &str = "/sse";
/// Seed of the served SSE corpus.
pub const SSE_SEED: u64 = 0x5EED_0C0D;

/// The 1 MiB body: a fixed byte pattern.
pub fn large_body() -> Vec<u8> {
    (0..LARGE_LEN)
        .map(|i| b"0123456789abcdef"[i % 16])
        .collect()
}

/// The SSE corpus served at [`SSE_PATH`]: `events` OpenCode-shaped events.
pub fn sse_body(events: usize) -> Vec<u8> {
    crate::corpus::opencode_sse_corpus(events, SSE_SEED)
}

/// Write the three files into `dir` (created if missing), named after their routes.
pub fn write(dir: &Path, sse_events: usize) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(&SMALL_PATH[1..]), SMALL_BODY)?;
    std::fs::write(dir.join(&LARGE_PATH[1..]), large_body())?;
    std::fs::write(dir.join(&SSE_PATH[1..]), sse_body(sse_events))?;
    Ok(())
}
