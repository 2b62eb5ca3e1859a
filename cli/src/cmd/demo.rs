//! `demo`: the whole flow against the embedded server, one clear line per step.
//!
//! Health through `/event` (the core's health monitor, in the background for the whole demo), a session, a
//! streamed chat, the provider list; then the server restarts (its connections are reset and the port refuses
//! for a moment): the monitor reports "Connection lost. Reconnecting... (attempt k/3)" and the recovery, while a
//! request made during the outage waits for the connection to come back and then completes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plue_http_core::client::Options;
use plue_http_core::opencode::{HealthConfig, HealthState, SessionCreate};
use plue_http_core::sse::StreamEvent;

use crate::backend::{self, Settings};
use crate::cmd::chat;
use crate::embedded::Embedded;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::ui::{millis, Ui};
use crate::watch::{healthy, Background, Notice};

/// The stream's reconnect backoff base: attempt 1 waits 200–400 ms, attempt 2 another 400–800 ms.
const RETRY_DELAY: Duration = Duration::from_millis(400);
/// How long the restarting server refuses connections: after attempt 1 (≤ 400 ms), before attempt 2 (≥ 600 ms),
/// so the user sees attempts 1/3 and 2/3 and then the recovery.
const OUTAGE: Duration = Duration::from_millis(500);

/// One demo line: plain text, or `{"demo": text}` with `--json`.
fn say(ui: &Ui, text: &str) {
    ui.out(text);
    ui.emit(&serde_json::json!({ "demo": text }));
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `plue demo`.
pub fn run(settings: &Settings, ui: &Arc<Ui>) -> Result<(), Fail> {
    let t0 = Instant::now();
    if settings.url.is_some() || settings.spawn {
        // The demo restarts its server mid-way, which only the embedded one can do on cue.
        ui.info("plue demo always runs against its embedded server; --url, OPENCODE_URL and --spawn are ignored.");
    }
    let embedded = Embedded::start().map_err(|e| {
        Fail::new(
            Exit::Connect,
            format!("Could not start the embedded demo server: {e}."),
        )
    })?;
    let options = Options {
        retry_delay: RETRY_DELAY,
        ..Options::default()
    };
    let max = options.max_connection_failures;
    let http = backend::client(settings, options.clone())?;
    let oc = backend::open(&embedded.url(), settings, &http, ui)?;
    say(
        ui,
        &format!(
            "plue demo: embedded OpenCode-compatible server at {} (runtime {})",
            embedded.url(),
            settings.runtime.name()
        ),
    );

    // The health monitor, in the background for the whole demo.
    let cfg = HealthConfig {
        can_restart: false,
        ..HealthConfig::from_options(&options)
    };
    let outage_started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut first_event: Option<String> = None;
    let (ui2, outage) = (ui.clone(), outage_started.clone());
    let mut recovered_once = false;
    let monitor = Background::start(oc.clone(), cfg, move |n| match n {
        Notice::Event(StreamEvent::Event(sse)) if first_event.is_none() => {
            let kind = serde_json::from_str::<serde_json::Value>(&sse.data)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_string))
                .unwrap_or_else(|| "{}".into());
            first_event = Some(kind);
        }
        Notice::State(HealthState::Healthy { version }) => {
            let v = version.as_deref().unwrap_or("unknown");
            if !recovered_once {
                recovered_once = true;
                let ev = first_event.as_deref().unwrap_or("an event");
                say(
                    &ui2,
                    &format!(
                    "[1/6] Health confirmed through /event: {ev} received, server version {v} ({})",
                    millis(t0.elapsed())
                ),
                );
            } else {
                let down = outage
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map(|t| t.elapsed());
                say(&ui2, &format!(
                    "Reconnected: /event is live again and the server is healthy (version {v}) after {}",
                    down.map_or_else(|| "a moment".into(), secs)
                ));
            }
        }
        Notice::State(HealthState::Degraded { attempt }) => say(
            &ui2,
            &format!("Connection lost. Reconnecting... (attempt {attempt}/{max})"),
        ),
        _ => {}
    });
    let gate = monitor.gate.clone();
    if gate.wait_for(Duration::from_secs(10), healthy).is_none() {
        return Err(oc.plain(
            Exit::Connect,
            "confirm health through /event",
            "no healthy verdict within 10 s",
        ));
    }

    // A session and a streamed chat.
    let title = "plue demo".to_string();
    let started = Instant::now();
    let s = oc.call(
        "create a session",
        "Session created",
        oc.api.session_create(&SessionCreate {
            title: Some(title.clone()),
            parent_id: None,
        }),
    )?;
    say(
        ui,
        &format!(
            "[2/6] Session created: {} {title:?} ({})",
            s.id,
            millis(started.elapsed())
        ),
    );
    let prompt = "Hello, OpenCode!";
    let sub = chat::subscribe_live(&oc)?;
    say(
        ui,
        &format!(
            "[3/6] Chat: sending {prompt:?}; the reply streams in from message.part.delta events:"
        ),
    );
    ui.piece("      ");
    let reply = chat::stream_reply(&oc, &sub, &s.id, prompt, None)?;
    drop(sub);
    say(
        ui,
        &format!(
            "      Reply complete: {} pieces streamed in {}; final text: {:?}",
            reply.pieces,
            secs(reply.took),
            reply.text
        ),
    );

    // Providers.
    let started = Instant::now();
    let providers = oc.call(
        "list providers",
        "Provider list fetched",
        oc.api.config_providers(),
    )?;
    let names: Vec<String> = providers
        .providers
        .iter()
        .map(|p| {
            format!(
                "{} ({} model{})",
                p.name,
                p.models.len(),
                if p.models.len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    say(
        ui,
        &format!(
            "[4/6] Provider list fetched ({}): {}",
            millis(started.elapsed()),
            names.join(", ")
        ),
    );

    // The outage.
    outage_demo(&embedded, &oc, ui, &outage_started, &gate)?;

    drop(monitor);
    say(ui, &format!(
        "Demo complete in {}: health, session, streamed chat, providers, reconnect and a queued request all worked.",
        secs(t0.elapsed())
    ));
    Ok(())
}

fn outage_demo(
    embedded: &Embedded,
    oc: &Oc,
    ui: &Arc<Ui>,
    outage_started: &Arc<Mutex<Option<Instant>>>,
    gate: &Arc<crate::watch::Gate>,
) -> Result<(), Fail> {
    say(ui, &format!(
        "[5/6] Restarting the demo server: it drops the event stream and refuses connections for {}",
        secs(OUTAGE)
    ));
    *outage_started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    embedded.restart(OUTAGE);
    if gate
        .wait_for(Duration::from_secs(5), |s| !healthy(s))
        .is_none()
    {
        return Err(oc.plain(
            Exit::Api,
            "see the outage",
            "the monitor never noticed the restart",
        ));
    }
    // Graceful degradation: the request waits for the connection to come back instead of failing.
    let queued = Instant::now();
    say(
        ui,
        "[6/6] Request made during the outage: GET /session waits until the connection is back...",
    );
    if gate.wait_for(Duration::from_secs(10), healthy).is_none() {
        return Err(oc.plain(
            Exit::Connect,
            "reconnect after the restart",
            "the server did not come back within 10 s",
        ));
    }
    let list = oc.call("list sessions", "Sessions listed", oc.api.sessions())?;
    say(ui, &format!(
        "      Queued request completed after waiting {}: {} session{} listed (the session survived the restart)",
        secs(queued.elapsed()),
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}
