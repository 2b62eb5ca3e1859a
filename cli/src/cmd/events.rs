//! `events`: tail `/event` (or `/global/event`) on the runtime's typed, reconnecting event stream. `/event`
//! resyncs after every gap and shows what the resync found; `--json` prints the raw payloads, one per line.

use plue_http_core::sse::StreamEvent;
use plue_opencode::{Event, GlobalEvent, SyncItem, Synced};
use plue_opencode::{EventItem, Events};

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
        Event::PermissionAsked(p) => line.push_str(&format!(" {} {:?}", p.permission, p.patterns)),
        _ => {}
    }
    line
}

/// `plue events [--global] [--count N]`.
pub fn run(oc: &Oc, global: bool, count: Option<usize>) -> Result<(), Fail> {
    let path = if global { "/global/event" } else { "/event" };
    oc.ui
        .info(&format!("Tailing {}{path} (Ctrl-C to stop)", oc.url()));
    if oc.ui.json() {
        let raw = if global {
            oc.raw_global_events()
        } else {
            oc.raw_events()
        };
        return tail(oc, path, raw, count, |data: &String| {
            // The payload exactly as sent: one JSON value per line (SSE data never holds a bare newline here,
            // but a multi-line `data` is joined so one payload stays one line).
            data.replace('\n', " ")
        });
    }
    if global {
        tail(oc, path, oc.global_events(), count, |g: &GlobalEvent| {
            let line = describe(&g.payload);
            match &g.directory {
                Some(d) => format!("[{d}] {line}"),
                None => line,
            }
        })
    } else {
        tail_synced(oc, Synced::new(oc.opencode.clone(), oc.events(), 0), count)
    }
}

/// The stream's reconnect feedback, shared by both tails.
fn reconnecting(oc: &Oc, item: &StreamEvent) {
    if let StreamEvent::Reconnecting {
        attempt,
        max,
        cause,
        ..
    } = item
    {
        let of = max.map_or_else(String::new, |m| format!("/{m}"));
        oc.ui.info(&format!(
            "Connection lost ({}). Reconnecting... (attempt {attempt}{of})",
            cause_text(cause)
        ));
    }
}

/// An oversized event was skipped. Reported as soon as the event crosses the limit, not when (if ever) its line
/// ends; with `--json` on stderr, so stdout stays one payload per line.
fn skipped(oc: &Oc, kind: &plue_http::ErrorKind) {
    if oc.ui.json() {
        oc.ui.info(&format!("(event skipped: {kind})"));
    } else {
        oc.ui.out(&format!("(event skipped: {kind})"));
    }
}

/// `/event` with resync: live events as lines; after a gap, a notice that events may have been missed, each
/// event the resync derived (`resync: …`), and how many there were. The first sync (the state the server had
/// when the stream opened) is not printed. Keeps no messages (`max_recent` 0): sessions, statuses and pending
/// requests are what a tail shows.
fn tail_synced(oc: &Oc, events: Synced, count: Option<usize>) -> Result<(), Fail> {
    let mut events = futures_lite::stream::block_on(events);
    let mut seen = 0usize;
    let mut initial = true;
    while count.is_none_or(|c| seen < c) {
        match events.next() {
            Some(Ok(SyncItem::Event(ev))) => {
                oc.ui.out(&describe(&ev));
                seen += 1;
            }
            Some(Ok(SyncItem::Resync(ev))) if !initial => {
                oc.ui.out(&format!("resync: {}", describe(&ev)));
                seen += 1;
            }
            Some(Ok(SyncItem::Synced {
                changes,
                initial: first,
            })) => {
                initial = false;
                if !first {
                    oc.ui.info(&format!("Resync found {changes} changes."));
                }
            }
            Some(Ok(SyncItem::Gap(gap))) => {
                initial = false;
                oc.ui.info(&format!(
                    "Events may have been missed ({gap}); resyncing..."
                ));
            }
            Some(Ok(SyncItem::ResyncFailed(e))) => oc.ui.info(&format!(
                "Resync failed ({}); trying again at the next heartbeat",
                e.kind()
            )),
            Some(Ok(SyncItem::Stream(StreamEvent::Event(sse)))) => {
                oc.ui.out(&format!("(unparsed event: {})", sse.data));
                seen += 1;
            }
            Some(Ok(SyncItem::Stream(StreamEvent::Skipped(e)))) => skipped(oc, e.kind()),
            Some(Ok(SyncItem::Stream(s))) => reconnecting(oc, &s),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(oc.fail("follow /event", &e)),
            None => return Err(oc.plain(Exit::Connect, "follow /event", "the stream ended")),
        }
    }
    Ok(())
}

/// Print every event (a line) and the stream's reconnect feedback, until `count` events or the stream ends.
fn tail<T>(
    oc: &Oc,
    path: &str,
    events: Events<T>,
    count: Option<usize>,
    show: impl Fn(&T) -> String,
) -> Result<(), Fail> {
    let mut events = futures_lite::stream::block_on(events);
    let mut seen = 0usize;
    let json = oc.ui.json();
    let print = |line: &str| {
        if json {
            oc.ui.emit_raw(line)
        } else {
            oc.ui.out(line)
        }
    };
    while count.is_none_or(|c| seen < c) {
        match events.next() {
            Some(Ok(EventItem::Event(ev))) => {
                print(&show(&ev));
                seen += 1;
            }
            Some(Ok(EventItem::Stream(StreamEvent::Event(sse)))) => {
                print(&if json {
                    sse.data.replace('\n', " ")
                } else {
                    format!("(unparsed event: {})", sse.data)
                });
                seen += 1;
            }
            Some(Ok(EventItem::Stream(s @ StreamEvent::Resumed { .. }))) => {
                reconnecting(oc, &s);
                oc.ui
                    .info("Reconnected; events sent meanwhile may have been missed.");
            }
            Some(Ok(EventItem::Stream(StreamEvent::Skipped(e)))) => skipped(oc, e.kind()),
            Some(Ok(EventItem::Stream(s))) => reconnecting(oc, &s),
            Some(Ok(EventItem::Resubscribed { url })) => oc.ui.info(&format!(
                "Resubscribed at {url}; events sent meanwhile may have been missed."
            )),
            Some(Err(e)) => return Err(oc.fail(&format!("follow {path}"), &e)),
            None => {
                return Err(oc.plain(Exit::Connect, &format!("follow {path}"), "the stream ended"))
            }
        }
    }
    Ok(())
}
