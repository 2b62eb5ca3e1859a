//! `health`, `sessions`, `new`.

use std::time::Instant;

use serde_json::json;

use crate::cmd::chat::subscribe_live;
use crate::fail::Fail;
use crate::oc::Oc;
use crate::ui::millis;

/// Confirm health the way the health monitor does — the first `/event` event in time, then the version from
/// `/global/health` — and print the version. A refused or lost connection is exit 3, no event in time exit 4.
pub fn health(oc: &Oc) -> Result<(), Fail> {
    let started = Instant::now();
    let doing = format!("confirm health at {}", oc.api().base_url());
    let (events, _) = subscribe_live(oc, &doing)?;
    drop(events);
    let version = oc.call(&doing, "Health checked", oc.health())?.version;
    let took = started.elapsed();
    oc.ui.out(&format!(
        "OpenCode server healthy, version {version} (confirmed through /event in {})",
        millis(took)
    ));
    oc.ui.emit(
        &json!({"healthy": true, "version": version, "url": oc.url(),
                       "ms": took.as_millis() as u64}),
    );
    Ok(())
}

/// One line per session: id, title.
pub fn sessions(oc: &Oc) -> Result<(), Fail> {
    let list = oc.call("list sessions", "Sessions listed", oc.sessions())?;
    for s in &list {
        oc.ui.out(&format!("{}  {}", s.id, s.title));
        oc.ui.emit(
            &json!({"id": s.id, "title": s.title, "directory": s.directory,
                           "created": s.time.created, "updated": s.time.updated}),
        );
    }
    if list.is_empty() {
        oc.ui.info("No sessions.");
    }
    Ok(())
}

/// Create a session and print its id.
pub fn new(oc: &Oc, title: Option<String>) -> Result<(), Fail> {
    let s = oc.call(
        "create a session",
        "Session created",
        oc.session_create(title.as_deref(), None),
    )?;
    oc.ui.out(&format!("{}  {}", s.id, s.title));
    oc.ui
        .emit(&json!({"id": s.id, "title": s.title, "directory": s.directory}));
    Ok(())
}
