//! `events`: tail `/event` (or `/global/event`), reconnecting without limit, under the core's health monitor.

use std::sync::mpsc;

use plue_http_core::opencode::{Event, GlobalEvent, HealthConfig, HealthState};
use plue_http_core::sse::StreamEvent;

use crate::backend::cause_text;
use crate::fail::Fail;
use crate::oc::Oc;
use crate::watch::{self, Notice, Watch};

/// A bus event in one line: its type, session and the gist.
pub fn describe(ev: &Event) -> String {
    let mut line = ev.kind().to_string();
    if let Some(s) = ev.session_id() {
        line.push(' ');
        line.push_str(s);
    }
    match ev {
        Event::MessagePartDelta { delta, .. } => line.push_str(&format!(" {delta:?}")),
        Event::SessionStatus { status, .. } => line.push_str(&format!(" {status:?}")),
        Event::SessionCreated { info } | Event::SessionUpdated { info } => {
            line.push_str(&format!(" {:?}", info.title))
        }
        Event::FileEdited { file } => line.push_str(&format!(" {file}")),
        _ => {}
    }
    line
}

/// `plue events [--global] [--count N]`.
pub fn run(oc: &Oc, global: bool, count: Option<usize>) -> Result<(), Fail> {
    let (tx, rx) = mpsc::channel();
    let cfg = HealthConfig {
        can_restart: false,
        ..HealthConfig::default()
    };
    let mut w = Watch::new(oc.clone(), cfg, global, tx);
    let path = if global { "/global/event" } else { "/event" };
    oc.ui.info(&format!(
        "Tailing {}{path} (Ctrl-C to stop)",
        oc.api.base_url().to_string().trim_end_matches('/')
    ));
    let mut seen = 0usize;
    let mut handle = |notices: Vec<Notice>| -> bool {
        for n in notices {
            match n {
                Notice::Event(StreamEvent::Event(sse)) => {
                    if oc.ui.json() {
                        oc.ui.emit(
                            &serde_json::from_str(&sse.data)
                                .unwrap_or(serde_json::Value::String(sse.data)),
                        );
                    } else {
                        // A server that does not wrap /global/event payloads still reads as plain events.
                        let global_event =
                            global.then(|| GlobalEvent::parse(&sse.data).ok()).flatten();
                        let parsed = match global_event {
                            Some(g) => Ok(match g.directory {
                                Some(d) => format!("[{d}] {}", describe(&g.payload)),
                                None => describe(&g.payload),
                            }),
                            None => Event::parse(&sse.data).map(|e| describe(&e)),
                        };
                        oc.ui
                            .out(&parsed.unwrap_or_else(|e| format!("(unparsed event: {e})")));
                    }
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        return false;
                    }
                }
                Notice::Event(StreamEvent::Reconnecting {
                    attempt,
                    max,
                    cause,
                    ..
                }) => {
                    let of = max.map_or_else(String::new, |m| format!("/{m}"));
                    oc.ui.info(&format!(
                        "Connection lost ({}). Reconnecting... (attempt {attempt}{of})",
                        cause_text(&cause)
                    ));
                }
                Notice::Event(StreamEvent::Resumed { .. }) => oc.ui.info("Reconnected."),
                Notice::State(HealthState::Healthy { version }) => oc.ui.info(&format!(
                    "Server healthy (version {})",
                    version.as_deref().unwrap_or("unknown")
                )),
                _ => {}
            }
        }
        true
    };
    let mut go = handle(w.start());
    while go {
        let msg = match w.deadline() {
            Some(d) => rx.recv_timeout(d.saturating_duration_since(std::time::Instant::now())),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        go = match msg {
            Ok(watch::Msg::Stream(g, item)) => handle(w.on_stream(g, item)),
            Ok(_) => true,
            Err(mpsc::RecvTimeoutError::Timeout) => handle(w.on_timeout()),
            Err(mpsc::RecvTimeoutError::Disconnected) => false,
        };
        if let HealthState::Stopped(reason) = w.state() {
            return Err(oc.plain(
                crate::fail::Exit::Connect,
                &format!("follow {path}"),
                &format!("the server refused the stream ({reason:?})"),
            ));
        }
    }
    Ok(())
}
