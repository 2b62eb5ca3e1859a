//! `serve`: start OpenCode under the runtime's server manager until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::backend::{find_binary, Settings, Supervised};
use crate::fail::{Exit, Fail};
use crate::rt::Http;
use crate::ui::Ui;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// `plue serve [--bin PATH]`.
pub fn run(
    settings: &Settings,
    ui: &Arc<Ui>,
    http: &Http,
    bin: Option<PathBuf>,
) -> Result<(), Fail> {
    let bin = find_binary(bin)?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let server = Supervised::start(http, bin, settings, ui);
    // On failure `server` is dropped: stopped and reaped.
    let url = server.ready()?.url();
    ui.out(&format!(
        "OpenCode server ready at {url} (supervised by plue; Ctrl-C to stop)"
    ));
    ui.emit(&json!({"url": url}));
    if plue_opencode::env_auth().is_none() {
        ui.info("The server requires a password that only this plue knows; to connect other clients, start plue serve with OPENCODE_SERVER_PASSWORD set and give them the same.");
    }
    while !STOP.load(Ordering::SeqCst) && !server.finished() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let gave_up = server.finished();
    server.stop();
    if gave_up {
        return Err(Fail::plain(
            Exit::Connect,
            "keep the OpenCode server running",
            "the server manager gave up",
            ui.last_ok(),
        ));
    }
    ui.out("OpenCode server stopped.");
    Ok(())
}
