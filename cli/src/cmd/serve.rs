//! `serve`: start OpenCode and supervise it until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::backend::{self, Settings};
use crate::fail::{Exit, Fail};
use crate::manager::{find_binary, Manager};
use crate::net::Http;
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
    let (s, h, u) = (settings.clone(), http.clone(), ui.clone());
    let mgr = Manager::start(
        bin,
        ui.clone(),
        Box::new(move |url| backend::open(url, &s, &h, &u)),
    );
    let url = {
        let _spin = ui.spinner("Connecting to OpenCode server...");
        mgr.wait_ready(Duration::from_secs(90))
    };
    let url = match url {
        Ok(u) => u,
        Err(f) => {
            mgr.stop();
            return Err(f);
        }
    };
    ui.out(&format!(
        "OpenCode server ready at {url} (supervised by plue; Ctrl-C to stop)"
    ));
    ui.emit(&json!({"url": url}));
    while !STOP.load(Ordering::SeqCst) && !mgr.finished() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let gave_up = mgr.finished();
    mgr.stop();
    if gave_up {
        return Err(Fail::plain(
            Exit::Connect,
            "keep the OpenCode server running",
            "the supervisor gave up",
            ui.last_ok(),
        ));
    }
    ui.out("OpenCode server stopped.");
    Ok(())
}
