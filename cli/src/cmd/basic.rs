//! `health`, `sessions`, `new`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use plue_http_core::opencode::{HealthConfig, HealthState, SessionCreate};
use plue_http_core::sse::StreamEvent;
use serde_json::json;

use crate::backend::cause_text;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::ui::millis;
use crate::watch::{self, Notice, Watch};

/// Confirm health the way the core's monitor does — the first `/event` event, then the version from
/// `/global/health` — and print the version. Any failed connect is a failure here (exit 3).
pub fn health(oc: &Oc) -> Result<(), Fail> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let cfg = HealthConfig {
        can_restart: false,
        ..HealthConfig::default()
    };
    let mut w = Watch::new(oc.clone(), cfg, false, tx);
    let spin = oc.ui.spinner("Connecting to OpenCode server...");
    let mut verdict: Verdict = None;
    // Until the stream reports a broken connection, a Degraded verdict means the first event did not come in
    // time: a timeout (exit 4) rather than a refused or lost connection (exit 3).
    let mut why = (
        Exit::Timeout,
        format!(
            "no event arrived on /event within {} s",
            HealthConfig::default().first_event_timeout.as_secs()
        ),
    );
    judge(w.start(), &mut verdict, &mut why);
    let deadline = started + Duration::from_secs(15);
    while verdict.is_none() && Instant::now() < deadline {
        let until = w.deadline().map_or(deadline, |d| d.min(deadline));
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(watch::Msg::Stream(g, item)) => judge(w.on_stream(g, item), &mut verdict, &mut why),
            Ok(_) => {}
            Err(_) => {
                if w.deadline().is_some_and(|d| d <= Instant::now()) {
                    judge(w.on_timeout(), &mut verdict, &mut why);
                }
            }
        }
    }
    drop(spin);
    let took = started.elapsed();
    match verdict {
        Some(Ok(version)) => {
            let version = version.unwrap_or_else(|| "unknown".into());
            oc.ui.out(&format!(
                "OpenCode server healthy, version {version} (confirmed through /event in {})",
                millis(took)
            ));
            oc.ui.emit(
                &json!({"healthy": true, "version": version, "url": oc.api.base_url().to_string(),
                                "ms": took.as_millis() as u64}),
            );
            Ok(())
        }
        Some(Err((exit, why))) => Err(oc.plain(
            exit,
            &format!("confirm health at {}", oc.api.base_url()),
            &why,
        )),
        None => Err(oc.plain(
            Exit::Timeout,
            &format!("confirm health at {}", oc.api.base_url()),
            "no event arrived within 15 s",
        )),
    }
}

/// `Some(Ok(version))` once healthy, `Some(Err((exit, why)))` once the monitor judged it unhealthy.
type Verdict = Option<Result<Option<String>, (Exit, String)>>;

fn judge(notices: Vec<Notice>, verdict: &mut Verdict, why: &mut (Exit, String)) {
    for n in notices {
        match n {
            Notice::Event(StreamEvent::Reconnecting { cause, .. }) => {
                *why = (Exit::Connect, cause_text(&cause))
            }
            Notice::State(HealthState::Healthy { version }) => *verdict = Some(Ok(version)),
            Notice::State(HealthState::Degraded { .. }) => *verdict = Some(Err(why.clone())),
            Notice::State(HealthState::Stopped(r)) => {
                *verdict = Some(Err((
                    Exit::Connect,
                    format!("the server refused the stream ({r:?})"),
                )))
            }
            _ => {}
        }
    }
}

/// One line per session: id, title, last update.
pub fn sessions(oc: &Oc) -> Result<(), Fail> {
    let list = oc.call("list sessions", "Sessions listed", oc.api.sessions())?;
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
    let body = SessionCreate {
        title,
        parent_id: None,
    };
    let s = oc.call(
        "create a session",
        "Session created",
        oc.api.session_create(&body),
    )?;
    oc.ui.out(&format!("{}  {}", s.id, s.title));
    oc.ui
        .emit(&json!({"id": s.id, "title": s.title, "directory": s.directory}));
    Ok(())
}
