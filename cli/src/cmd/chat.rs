//! `chat`: subscribe to `/event` first, send `prompt_async`, print the assistant's text as it streams (the
//! core's [`ReplyFollower`] picks it out of the events), then the final text of the assistant's message.

use std::time::{Duration, Instant};

use plue_http_core::opencode::{
    Event, MessageWithParts, ModelRef, PromptInput, ReplyFollower, ReplyUpdate, Role, SessionCreate,
};
use plue_http_core::sse::StreamEvent;
use serde_json::json;

use crate::fail::{Exit, Fail};
use crate::net::{Next, Subscription};
use crate::oc::Oc;
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

/// Subscribe to `/event` and wait for its first event (the server is up and the stream is live), so no event of
/// the prompt can be missed.
pub fn subscribe_live(oc: &Oc) -> Result<Subscription, Fail> {
    let started = Instant::now();
    let sub = oc.events(false)?;
    let spin = oc.ui.spinner("Connecting to OpenCode server...");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sub.next_until(Some(deadline)) {
            Next::Event(StreamEvent::Event(_)) => break,
            Next::Event(StreamEvent::Reconnecting { cause, .. }) => {
                drop(spin);
                return Err(oc.plain(
                    Exit::Connect,
                    &format!("subscribe to {}/event", oc.api.base_url()),
                    &crate::backend::cause_text(&cause),
                ));
            }
            Next::Event(_) => {}
            Next::End(e) => {
                drop(spin);
                return Err(Fail::from_error("subscribe to events", &e, oc.ui.last_ok()));
            }
            Next::Timeout => {
                drop(spin);
                return Err(oc.plain(
                    Exit::Timeout,
                    "subscribe to events",
                    "no event arrived within 10 s",
                ));
            }
        }
    }
    drop(spin);
    oc.ui.done("Event stream connected", started.elapsed());
    Ok(sub)
}

/// The session to chat in: `given`, or a new one.
pub fn session_for(oc: &Oc, given: Option<String>) -> Result<String, Fail> {
    match given {
        Some(id) => Ok(id),
        None => {
            let s = oc.call(
                "create a session",
                "Session created",
                oc.api.session_create(&SessionCreate::default()),
            )?;
            oc.ui.info(&format!("Session {} created", s.id));
            Ok(s.id)
        }
    }
}

/// Send `text` to `session` and stream the reply to stdout (pieces as they come; JSON lines with `--json`).
pub fn stream_reply(
    oc: &Oc,
    sub: &Subscription,
    session: &str,
    text: &str,
    model: Option<ModelRef>,
) -> Result<Reply, Fail> {
    let input = PromptInput::text(text).model(model);
    let started = Instant::now();
    oc.call(
        "send the prompt",
        "Prompt sent",
        oc.api.prompt_async(session, &input),
    )?;
    let deadline = started + PROMPT_LIMIT;
    // The core's follower tells the assistant's visible text from the user's own text, reasoning and tool parts,
    // and other sessions; it fills in text a reconnect lost.
    let mut follower = ReplyFollower::new(session);
    let mut pieces = 0usize;
    loop {
        let ev = match sub.next_until(Some(deadline)) {
            Next::Event(StreamEvent::Event(sse)) => match Event::parse(&sse.data) {
                Ok(ev) => ev,
                Err(_) => continue,
            },
            Next::Event(StreamEvent::Reconnecting { attempt, cause, .. }) => {
                oc.ui.info(&format!(
                    "Connection lost ({}). Reconnecting... (attempt {attempt})",
                    crate::backend::cause_text(&cause)
                ));
                continue;
            }
            Next::Event(_) => continue,
            Next::End(e) => return Err(Fail::from_error("follow the reply", &e, oc.ui.last_ok())),
            Next::Timeout => {
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
    let took = started.elapsed();
    if pieces > 0 {
        oc.ui.piece("\n");
    }
    oc.ui.done("Reply received", took);
    let messages = oc.call(
        "fetch the reply",
        "Messages fetched",
        oc.api.messages(session),
    )?;
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
    let sub = subscribe_live(oc)?;
    let session = session_for(oc, session)?;
    let reply = stream_reply(oc, &sub, &session, text, model)?;
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
