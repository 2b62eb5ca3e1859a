//! `demo`: the whole flow against the embedded server, one clear line per step.
//!
//! Health through `/event` (the runtime's health watch, in the background for the whole demo), a session, a
//! streamed chat, the provider list; then the server restarts (its connections are reset and the port refuses
//! for a moment): the watch reports "Connection lost. Reconnecting... (attempt k/3)" and the recovery, while a
//! request made during the outage waits for the connection to come back and then completes.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use plue_http_core::client::Options;
use plue_opencode::{reconnect_notice, Report};
use plue_opencode::{HealthConfig, HealthState};

use crate::backend::{self, Settings};
use crate::cmd::chat;
use crate::embedded::Embedded;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::ui::{millis, Ui};

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

/// The watch's latest verdict, for the demo's thread to wait on: the queued request waits for `Healthy`.
#[derive(Debug)]
struct Gate {
    state: Mutex<HealthState>,
    cv: Condvar,
}

impl Gate {
    fn set(&self, s: HealthState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = s;
        self.cv.notify_all();
    }

    /// Wait until `healthy` is the verdict's health (at most `timeout`); the verdict then, or `None`.
    fn wait(&self, timeout: Duration, healthy: bool) -> Option<HealthState> {
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (g, res) = self
            .cv
            .wait_timeout_while(g, timeout, |s| {
                matches!(s, HealthState::Healthy { .. }) != healthy
            })
            .unwrap_or_else(|e| e.into_inner());
        (!res.timed_out()).then(|| g.clone())
    }
}

/// Print the watch's reports as demo lines, then publish the verdict on the gate (so a waiter sees a verdict
/// only after it was printed). Ends when the watch stops.
fn narrate(
    reports: futures_lite::stream::Boxed<Report>,
    ui: Arc<Ui>,
    gate: Arc<Gate>,
    max: u32,
    outage: Arc<Mutex<Option<Instant>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen_healthy = false;
        for report in futures_lite::stream::block_on(reports) {
            let Report::Health(state) = report else {
                continue;
            };
            match &state {
                // The first verdict is step 1's line, printed by the demo itself.
                HealthState::Healthy { .. } if !seen_healthy => seen_healthy = true,
                HealthState::Healthy { version } => {
                    let down = outage
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .map(|t| t.elapsed());
                    say(&ui, &format!(
                        "Reconnected: /event is live again and the server is healthy (version {}) after {}",
                        version.as_deref().unwrap_or("unknown"),
                        down.map_or_else(|| "a moment".into(), secs)
                    ));
                }
                HealthState::Degraded { attempt } => {
                    say(&ui, &reconnect_notice(*attempt, Some(max)))
                }
                _ => {}
            }
            gate.set(state);
        }
    })
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

    // The health watch, in the background for the whole demo.
    let watch = http.watch(&oc, HealthConfig::from_options(&options));
    let gate = Arc::new(Gate {
        state: Mutex::new(HealthState::Connecting),
        cv: Condvar::new(),
    });
    let outage_started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let narrator = narrate(
        watch.reports().boxed(),
        ui.clone(),
        gate.clone(),
        max,
        outage_started.clone(),
    );
    let doing = format!("subscribe to {}event", oc.api().base_url());
    let (mut events, first) = chat::subscribe_live(&oc, &doing)?;
    let Some(HealthState::Healthy { version }) = gate.wait(Duration::from_secs(10), true) else {
        return Err(oc.plain(
            Exit::Connect,
            "confirm health through /event",
            "no healthy verdict within 10 s",
        ));
    };
    say(
        ui,
        &format!(
            "[1/6] Health confirmed through /event: {first} received, server version {} ({})",
            version.as_deref().unwrap_or("unknown"),
            millis(t0.elapsed())
        ),
    );

    // A session and a streamed chat.
    let title = "plue demo";
    let started = Instant::now();
    let s = oc.call(
        "create a session",
        "Session created",
        oc.session_create(Some(title), None),
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
    say(
        ui,
        &format!(
            "[3/6] Chat: sending {prompt:?}; the reply streams in from message.part.delta events:"
        ),
    );
    ui.piece("      ");
    let reply = chat::stream_reply(&oc, &mut events, &s.id, prompt, None)?;
    drop(events);
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
        oc.config_providers(),
    )?;
    let names: Vec<String> = providers
        .providers
        .iter()
        .map(|p| {
            let n = p.models.len();
            format!("{} ({n} model{})", p.name, if n == 1 { "" } else { "s" })
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

    futures_lite::future::block_on(watch.stop());
    let _ = narrator.join();
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
    gate: &Gate,
) -> Result<(), Fail> {
    say(ui, &format!(
        "[5/6] Restarting the demo server: it drops the event stream and refuses connections for {}",
        secs(OUTAGE)
    ));
    *outage_started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    embedded.restart(OUTAGE);
    if gate.wait(Duration::from_secs(5), false).is_none() {
        return Err(oc.plain(
            Exit::Api,
            "see the outage",
            "the health watch never noticed the restart",
        ));
    }
    // Graceful degradation: the request waits for the connection to come back instead of failing.
    let queued = Instant::now();
    say(
        ui,
        "[6/6] Request made during the outage: GET /session waits until the connection is back...",
    );
    if gate.wait(Duration::from_secs(10), true).is_none() {
        return Err(oc.plain(
            Exit::Connect,
            "reconnect after the restart",
            "the server did not come back within 10 s",
        ));
    }
    let list = oc.call("list sessions", "Sessions listed", oc.sessions())?;
    say(ui, &format!(
        "      Queued request completed after waiting {}: {} session{} listed (the session survived the restart)",
        secs(queued.elapsed()),
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}
