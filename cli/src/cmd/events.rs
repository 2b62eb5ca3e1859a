//! `events`: tail `/event` (or `/global/event`) on the runtime's typed, reconnecting event stream.

use plue_http_core::sse::StreamEvent;
use plue_opencode::{Event, GlobalEvent};
use plue_opencode::{EventItem, Events};
use serde_json::json;

use crate::backend::cause_text;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;

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
    let path = if global { "/global/event" } else { "/event" };
    oc.ui
        .info(&format!("Tailing {}{path} (Ctrl-C to stop)", oc.url()));
    if global {
        tail(oc, path, oc.global_events(), count, |g: &GlobalEvent| {
            let line = describe(&g.payload);
            let json = json!({"type": g.payload.kind(), "session": g.payload.session_id(),
                              "directory": g.directory, "line": line});
            match &g.directory {
                Some(d) => (format!("[{d}] {line}"), json),
                None => (line, json),
            }
        })
    } else {
        tail(oc, path, oc.events(), count, |e: &Event| {
            let line = describe(e);
            let json = json!({"type": e.kind(), "session": e.session_id(), "line": line});
            (line, json)
        })
    }
}

/// Print every event (a line, or a JSON value with `--json`) and the stream's reconnect feedback, until
/// `count` events or the stream ends.
fn tail<T>(
    oc: &Oc,
    path: &str,
    events: Events<T>,
    count: Option<usize>,
    show: impl Fn(&T) -> (String, serde_json::Value),
) -> Result<(), Fail> {
    let mut events = futures_lite::stream::block_on(events);
    let mut seen = 0usize;
    while count.is_none_or(|c| seen < c) {
        match events.next() {
            Some(Ok(EventItem::Event(ev))) => {
                let (line, value) = show(&ev);
                oc.ui.out(&line);
                oc.ui.emit(&value);
                seen += 1;
            }
            Some(Ok(EventItem::Stream(StreamEvent::Event(sse)))) => {
                oc.ui.out(&format!("(unparsed event: {})", sse.data));
                oc.ui.emit(&json!({"unparsed": sse.data}));
                seen += 1;
            }
            Some(Ok(EventItem::Stream(StreamEvent::Reconnecting {
                attempt,
                max,
                cause,
                ..
            }))) => {
                let of = max.map_or_else(String::new, |m| format!("/{m}"));
                oc.ui.info(&format!(
                    "Connection lost ({}). Reconnecting... (attempt {attempt}{of})",
                    cause_text(&cause)
                ));
            }
            Some(Ok(EventItem::Stream(StreamEvent::Skipped(e)))) => {
                // Reported as soon as the event crosses the limit, not when (if ever) its line ends.
                oc.ui.out(&format!("(event skipped: {})", e.kind()));
                oc.ui.emit(&json!({"skipped": e.kind().to_string()}));
            }
            Some(Ok(EventItem::Stream(StreamEvent::Resumed { .. }))) => oc.ui.info("Reconnected."),
            Some(Ok(EventItem::Resubscribed { url })) => oc.ui.info(&format!(
                "Resubscribed at {url} (events in between are lost)."
            )),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(oc.fail(&format!("follow {path}"), &e)),
            None => {
                return Err(oc.plain(Exit::Connect, &format!("follow {path}"), "the stream ended"))
            }
        }
    }
    Ok(())
}
