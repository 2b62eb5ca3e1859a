//! `chat`: subscribe to `/event` first, send `prompt_async`, print the assistant's text as it streams (the
//! core's [`ReplyFollower`] picks it out of the events), then the final text of the assistant's message.

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use plue_http_core::sse::StreamEvent;
use plue_opencode::{
    HealthConfig, MessageWithParts, ModelRef, PromptInput, ReplyFollower, ReplyUpdate, Role,
};
use plue_opencode::{SyncItem, Synced};
use serde_json::json;

use crate::backend::cause_text;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::rt::block_until;
use crate::ui::millis;

/// How long a prompt may take in all.
const PROMPT_LIMIT: Duration = Duration::from_secs(600);

/// A finished reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The session.
    pub session: String,
    /// The assistant's final text.
    pub text: String,
    /// Text pieces printed while it streamed.
    pub pieces: usize,
    /// From sending the prompt to `session.idle`.
    pub took: Duration,
}

/// Subscribe to `/event` and wait for its first event, the health monitor's way (within
/// `first_event_timeout` of subscribing, or of the response head): the server is up and the stream is live,
/// so no event of a prompt can be missed. Returns the stream and the first event's type (`{}` for the legacy
/// empty event). A refused or broken connection is exit 3, no event in time exit 4.
/// `doing` completes "Could not …" in a failure.
///
/// The stream resyncs after every gap ([`Synced`]); it keeps no session's messages but those it waits on, so a
/// chat fetches no more than it needs.
pub fn subscribe_live(oc: &Oc, doing: &str) -> Result<(Synced, String), Fail> {
    let started = Instant::now();
    let within = HealthConfig::default().first_event_timeout;
    let mut events = Synced::new(oc.opencode.clone(), oc.events(), 0);
    let spin = oc.ui.spinner("Connecting to OpenCode server...");
    let mut deadline = started + within;
    let first = loop {
        match block_until(events.next(), deadline) {
            Some(Some(Ok(SyncItem::Event(ev)))) => break ev.kind().to_string(),
            Some(Some(Ok(SyncItem::Stream(StreamEvent::Event(sse))))) => {
                break if sse.data.trim() == "{}" {
                    "{}".to_string()
                } else {
                    "an event".to_string()
                };
            }
            Some(Some(Ok(SyncItem::Stream(StreamEvent::Connected)))) => {
                deadline = Instant::now() + within;
            }
            Some(Some(Ok(SyncItem::Stream(StreamEvent::Reconnecting { cause, .. })))) => {
                drop(spin);
                return Err(oc.plain(Exit::Connect, doing, &cause_text(&cause)));
            }
            Some(Some(Ok(_))) => {}
            Some(Some(Err(e))) => {
                drop(spin);
                return Err(oc.fail("subscribe to events", &e));
            }
            Some(None) => {
                drop(spin);
                return Err(oc.plain(Exit::Connect, doing, "the event stream ended"));
            }
            None => {
                drop(spin);
                let why = format!("no event arrived on /event within {} s", within.as_secs());
                return Err(oc.plain(Exit::Timeout, doing, &why));
            }
        }
    };
    drop(spin);
    oc.ui.done("Event stream connected", started.elapsed());
    Ok((events, first))
}

/// The session to chat in: `given`, or a new one.
pub fn session_for(oc: &Oc, given: Option<String>) -> Result<String, Fail> {
    match given {
        Some(id) => Ok(id),
        None => {
            let s = oc.call(
                "create a session",
                "Session created",
                oc.session_create(None, None),
            )?;
            oc.ui.info(&format!("Session {} created", s.id));
            Ok(s.id)
        }
    }
}

/// Send `text` to `session` and stream the reply to stdout (pieces as they come; JSON lines with `--json`).
/// After any reconnect the stream's resync checks the session: a reply the server lost (it restarted mid-reply)
/// ends the wait at once with exit 3, and a reply that finished during the gap ends it normally.
pub fn stream_reply(
    oc: &Oc,
    events: &mut Synced,
    session: &str,
    text: &str,
    model: Option<ModelRef>,
) -> Result<Reply, Fail> {
    let input = PromptInput::text(text).model(model);
    let started = Instant::now();
    oc.call(
        "send the prompt",
        "Prompt sent",
        oc.prompt_async(session, &input),
    )?;
    events.wait_for(session);
    let deadline = started + PROMPT_LIMIT;
    // The core's follower tells the assistant's visible text from the user's own text, reasoning and tool parts,
    // and other sessions; it fills in text a reconnect lost.
    let mut follower = ReplyFollower::new(session);
    let mut pieces = 0usize;
    loop {
        let ev = match block_until(events.next(), deadline) {
            Some(Some(Ok(SyncItem::Event(ev) | SyncItem::Resync(ev)))) => ev,
            Some(Some(Ok(SyncItem::ReplyLost(lost)))) => {
                events.stop_waiting(session);
                if pieces > 0 {
                    oc.ui.piece("\n");
                }
                return Err(oc.plain(Exit::Connect, "get the reply", &lost.to_string()));
            }
            Some(Some(Ok(SyncItem::Gap(gap)))) => {
                oc.ui.info(&format!(
                    "Events may have been missed ({gap}); resyncing..."
                ));
                continue;
            }
            Some(Some(Ok(SyncItem::ResyncFailed(e)))) => {
                oc.ui.info(&format!(
                    "Resync failed ({}); trying again at the next heartbeat",
                    e.kind()
                ));
                continue;
            }
            Some(Some(Ok(SyncItem::Stream(StreamEvent::Reconnecting {
                attempt, cause, ..
            })))) => {
                oc.ui.info(&format!(
                    "Connection lost ({}). Reconnecting... (attempt {attempt})",
                    cause_text(&cause)
                ));
                continue;
            }
            Some(Some(Ok(_))) => continue,
            Some(Some(Err(e))) => {
                events.stop_waiting(session);
                return Err(oc.fail("follow the reply", &e));
            }
            Some(None) => {
                return Err(oc.plain(Exit::Connect, "follow the reply", "the event stream ended"))
            }
            None => {
                return Err(oc.plain(
                    Exit::Timeout,
                    "get the reply",
                    "it did not finish within 10 min",
                ))
            }
        };
        match follower.handle(&ev) {
            Some(ReplyUpdate::Text(delta)) => {
                pieces += 1;
                oc.ui.piece(&delta);
                oc.ui.emit(&json!({"type": "delta", "text": delta}));
            }
            Some(ReplyUpdate::Error(error)) => {
                if pieces > 0 {
                    oc.ui.piece("\n");
                }
                let msg = error
                    .as_ref()
                    .and_then(|e| e["data"]["message"].as_str().or(e["name"].as_str()))
                    .unwrap_or("the session reported an error")
                    .to_string();
                return Err(oc.plain(Exit::Api, "get the reply", &msg));
            }
            Some(ReplyUpdate::Idle) => break,
            None => {}
        }
    }
    events.stop_waiting(session);
    let took = started.elapsed();
    if pieces > 0 {
        oc.ui.piece("\n");
    }
    oc.ui.done("Reply received", took);
    let messages = oc.call("fetch the reply", "Messages fetched", oc.messages(session))?;
    let text = messages
        .iter()
        .rev()
        .find(|m| m.info.role == Role::Assistant)
        .map(MessageWithParts::text)
        .unwrap_or_default();
    Ok(Reply {
        session: session.to_string(),
        text,
        pieces,
        took,
    })
}

/// `plue chat`.
pub fn run(
    oc: &Oc,
    text: &str,
    session: Option<String>,
    model: Option<String>,
) -> Result<(), Fail> {
    let model = match model {
        None => None,
        Some(m) => Some(ModelRef::parse(&m).ok_or_else(|| {
            Fail::usage(format!("The model {m:?} is not provider/model (e.g. anthropic/claude-sonnet-4); nothing was sent."))
        })?),
    };
    let doing = format!("subscribe to {}event", oc.api().base_url());
    let (mut events, _) = subscribe_live(oc, &doing)?;
    let session = session_for(oc, session)?;
    let reply = stream_reply(oc, &mut events, &session, text, model)?;
    oc.ui.out(&format!("Final reply: {}", reply.text));
    oc.ui.info(&format!(
        "Reply complete in {} ({} streamed pieces, session {})",
        millis(reply.took),
        reply.pieces,
        reply.session
    ));
    oc.ui.emit(
        &json!({"type": "reply", "session": reply.session, "text": reply.text,
                        "pieces": reply.pieces, "ms": reply.took.as_millis() as u64}),
    );
    Ok(())
}
