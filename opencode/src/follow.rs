//! Following one prompt's reply on the event stream: which deltas belong to the assistant's visible text.
//!
//! OpenCode streams a reply as `message.part.delta` events, but deltas also flow for reasoning parts and for
//! other sessions. [`ReplyFollower`] keeps what it needs to tell them apart (the session's assistant messages and
//! the kinds of their parts, both announced before their deltas) and turns the stream into [`ReplyUpdate`]s.
//! A `message.part.updated` that carries more text than the deltas delivered (a delta lost while the stream was
//! reconnecting) yields the missing suffix, so the text always ends complete. A `session.idle` that comes before
//! the session was seen working (a busy `session.status` or an assistant message) ends an earlier prompt, not
//! this one, and is ignored.

use std::collections::HashMap;

use serde_json::Value;

use super::events::Event;
use super::message::Role;
use super::session::SessionStatus;

/// What a reply did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyUpdate {
    /// More visible text.
    Text(String),
    /// The session finished the prompt (`session.idle`).
    Idle,
    /// The prompt failed (`session.error`), with the error as sent.
    Error(Option<Value>),
}

#[derive(Debug, Default)]
struct TextPart {
    message_id: String,
    text: String,
}

/// Follows the replies of one session. Create it before sending the prompt.
#[derive(Debug)]
pub struct ReplyFollower {
    session_id: String,
    /// Assistant message ids of this session.
    assistant: Vec<String>,
    /// Text parts by id, and their order of appearance.
    parts: HashMap<String, TextPart>,
    order: Vec<String>,
    /// Part ids known not to be text (reasoning, tools, …).
    other: Vec<String>,
    /// The session was seen working on the prompt: only then does `session.idle` end it.
    working: bool,
    idle: bool,
}

impl ReplyFollower {
    /// Follow `session_id`.
    pub fn new(session_id: impl Into<String>) -> Self {
        ReplyFollower {
            session_id: session_id.into(),
            assistant: Vec::new(),
            parts: HashMap::new(),
            order: Vec::new(),
            other: Vec::new(),
            working: false,
            idle: false,
        }
    }

    /// `true` once the session went idle.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// The visible text so far: every assistant text part, in order of appearance.
    pub fn text(&self) -> String {
        self.order
            .iter()
            .filter_map(|id| self.parts.get(id))
            .map(|p| p.text.as_str())
            .collect()
    }

    /// The text of one assistant message.
    pub fn message_text(&self, message_id: &str) -> String {
        self.order
            .iter()
            .filter_map(|id| self.parts.get(id))
            .filter(|p| p.message_id == message_id)
            .map(|p| p.text.as_str())
            .collect()
    }

    fn part(&mut self, id: &str, message_id: &str) -> &mut TextPart {
        if !self.parts.contains_key(id) {
            self.order.push(id.to_string());
        }
        self.parts
            .entry(id.to_string())
            .or_insert_with(|| TextPart {
                message_id: message_id.to_string(),
                text: String::new(),
            })
    }

    /// Feed one event; `Some` when it changed the reply.
    pub fn handle(&mut self, event: &Event) -> Option<ReplyUpdate> {
        if event.session_id() != Some(self.session_id.as_str()) {
            return None;
        }
        match event {
            Event::MessageUpdated { info } => {
                if info.role == Role::Assistant && !self.assistant.contains(&info.id) {
                    self.assistant.push(info.id.clone());
                    self.working = true;
                }
                None
            }
            Event::SessionStatus { status, .. } => {
                self.working |= *status == SessionStatus::Busy;
                None
            }
            Event::MessagePartUpdated { part } => {
                if !self.assistant.contains(&part.message_id) {
                    return None;
                }
                if part.kind != "text" || part.synthetic == Some(true) {
                    if !self.other.contains(&part.id) {
                        self.other.push(part.id.clone());
                    }
                    return None;
                }
                let full = part.text.clone().unwrap_or_default();
                let have = self.part(&part.id, &part.message_id);
                // A whole-part update extends what the deltas delivered: emit only what is new. One that does not
                // extend it (the server rewrote the part) replaces it silently: the server is the truth.
                let suffix = full.strip_prefix(have.text.as_str()).map(str::to_string);
                have.text = full;
                suffix.filter(|s| !s.is_empty()).map(ReplyUpdate::Text)
            }
            Event::MessagePartDelta {
                message_id,
                part_id,
                field,
                delta,
                ..
            } => {
                if field != "text"
                    || !self.assistant.contains(message_id)
                    || self.other.contains(part_id)
                {
                    return None;
                }
                self.part(part_id, message_id).text.push_str(delta);
                Some(ReplyUpdate::Text(delta.clone()))
            }
            Event::SessionIdle { .. } if self.working && !self.idle => {
                self.idle = true;
                Some(ReplyUpdate::Idle)
            }
            Event::SessionError { error, .. } => Some(ReplyUpdate::Error(error.clone())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        fixture!("event_chat.txt")
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| Event::parse(d).unwrap())
            .collect()
    }

    #[test]
    fn opencode_follow_a_real_reply_delta_by_delta() {
        let mut f = ReplyFollower::new("ses_df042e4abffe5Rn2JeQcG51t96");
        let mut out = Vec::new();
        for e in events() {
            if let Some(u) = f.handle(&e) {
                let idle = u == ReplyUpdate::Idle;
                out.push(u);
                if idle {
                    break;
                }
            }
        }
        assert_eq!(
            out,
            [
                ReplyUpdate::Text("Hello ".into()),
                ReplyUpdate::Text("from ".into()),
                ReplyUpdate::Text("the ".into()),
                ReplyUpdate::Text("mock.".into()),
                ReplyUpdate::Idle
            ]
        );
        assert_eq!(f.text(), "Hello from the mock.");
        assert!(f.is_idle());
    }

    #[test]
    fn opencode_follow_ignores_user_text_reasoning_and_other_sessions_and_fills_gaps() {
        let all = events();
        // The user's own prompt text ("Say hello") is a text part too, but not an assistant one.
        let mut f = ReplyFollower::new("ses_df042e4abffe5Rn2JeQcG51t96");
        for e in &all {
            f.handle(e);
        }
        assert_eq!(f.text(), "Hello from the mock.".repeat(3));
        let mut other = ReplyFollower::new("ses_other");
        assert!(all.iter().all(|e| other.handle(e).is_none()));
        // Drop every delta: the final part update still delivers the whole text.
        let mut gaps = ReplyFollower::new("ses_df042e4abffe5Rn2JeQcG51t96");
        let texts: Vec<ReplyUpdate> = all
            .iter()
            .filter(|e| !matches!(e, Event::MessagePartDelta { .. }))
            .filter_map(|e| gaps.handle(e))
            .filter(|u| matches!(u, ReplyUpdate::Text(_)))
            .collect();
        assert_eq!(texts.len(), 3);
        assert_eq!(gaps.text(), f.text());
        // Reasoning deltas never count as visible text.
        let mut r = ReplyFollower::new("ses_1");
        let ev = |s: &str| Event::parse(s).unwrap();
        r.handle(&ev(r#"{"type":"message.updated","properties":{"info":{"id":"msg_a","sessionID":"ses_1","role":"assistant"}}}"#));
        r.handle(&ev(r#"{"type":"message.part.updated","properties":{"part":{"id":"prt_r","sessionID":"ses_1","messageID":"msg_a","type":"reasoning","text":""}}}"#));
        assert_eq!(
            r.handle(&ev(r#"{"type":"message.part.delta","properties":{"sessionID":"ses_1","messageID":"msg_a","partID":"prt_r","field":"text","delta":"hmm"}}"#)),
            None
        );
        assert_eq!(
            r.handle(&ev(r#"{"type":"message.part.delta","properties":{"sessionID":"ses_1","messageID":"msg_a","partID":"prt_t","field":"text","delta":"Hi"}}"#)),
            Some(ReplyUpdate::Text("Hi".into()))
        );
        assert_eq!(r.message_text("msg_a"), "Hi");
        assert_eq!(
            r.handle(&ev(
                r#"{"type":"session.idle","properties":{"sessionID":"ses_1"}}"#
            )),
            Some(ReplyUpdate::Idle)
        );
        // An idle before the session was seen working ends an earlier prompt.
        let mut early = ReplyFollower::new("ses_1");
        let idle = ev(r#"{"type":"session.idle","properties":{"sessionID":"ses_1"}}"#);
        assert_eq!(early.handle(&idle), None);
        early.handle(&ev(r#"{"type":"session.status","properties":{"sessionID":"ses_1","status":{"type":"busy"}}}"#));
        assert_eq!(early.handle(&idle), Some(ReplyUpdate::Idle));
        assert!(matches!(
            r.handle(&ev(r#"{"type":"session.error","properties":{"sessionID":"ses_1","error":{"name":"UnknownError"}}}"#)),
            Some(ReplyUpdate::Error(Some(_)))
        ));
    }
}
