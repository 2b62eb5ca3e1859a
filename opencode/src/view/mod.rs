//! [`SessionView`]: what an app shows of a server — its sessions, their status, pending permissions and
//! questions, and the messages of the recently active sessions — kept by folding bus events.
//!
//! The view is a pure reducer: [`SessionView::apply`] takes one [`Event`] (live, or derived by a resync), and
//! [`SessionView::from_snapshot`] builds the same view from the answers of the GET calls. The two agree by
//! construction: every field is keyed the way the server keys it, parts are ordered by id (OpenCode ids sort by
//! creation time), and which sessions keep their messages is a function of the sessions alone (the
//! [`SessionView::max_recent`] most recently updated). [`diff`] turns one view into another as a list of events,
//! which is what a resync emits after a gap.

mod calls;
mod diff;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;

pub use diff::diff;

use crate::{Event, MessageInfo, Part, PermissionRequest, Session, SessionStatus};

/// How many sessions keep their messages by default.
pub const DEFAULT_MAX_RECENT: usize = 8;

/// A question the model asked and nobody answered yet (`GET /question`, `question.asked`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PendingQuestion {
    /// `que_…`.
    pub id: String,
    /// The session asking.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The questions as sent.
    #[serde(default)]
    pub questions: Value,
}

/// A message and its parts, keyed by part id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewMessage {
    /// Metadata.
    pub info: MessageInfo,
    /// Parts by id (creation order).
    pub parts: BTreeMap<String, Part>,
}

impl ViewMessage {
    /// `true` for an assistant message the server has not finished: no completion time and no error.
    pub fn is_unfinished_reply(&self) -> bool {
        self.info.role == crate::Role::Assistant
            && self.info.time.completed.is_none()
            && self.info.error.is_none()
    }
}

/// What the GET calls answered; [`SessionView::from_snapshot`] builds a view from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// `GET /session`.
    pub sessions: Vec<Session>,
    /// `GET /session/status` (idle sessions are absent).
    pub status: BTreeMap<String, SessionStatus>,
    /// `GET /permission`.
    pub permissions: Vec<PermissionRequest>,
    /// `GET /question`.
    pub questions: Vec<PendingQuestion>,
    /// `GET /session/{id}/message` for some sessions (only those the view keeps messages for are used).
    pub messages: BTreeMap<String, Vec<crate::MessageWithParts>>,
}

/// Sessions, statuses, pending requests and recent messages, as events leave them.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    max_recent: usize,
    sessions: BTreeMap<String, Session>,
    status: BTreeMap<String, SessionStatus>,
    permissions: BTreeMap<String, PermissionRequest>,
    questions: BTreeMap<String, PendingQuestion>,
    messages: BTreeMap<String, BTreeMap<String, ViewMessage>>,
}

impl Default for SessionView {
    fn default() -> Self {
        SessionView::new(DEFAULT_MAX_RECENT)
    }
}

impl SessionView {
    /// An empty view keeping the messages of the `max_recent` most recently updated sessions.
    pub fn new(max_recent: usize) -> Self {
        SessionView {
            max_recent,
            sessions: BTreeMap::new(),
            status: BTreeMap::new(),
            permissions: BTreeMap::new(),
            questions: BTreeMap::new(),
            messages: BTreeMap::new(),
        }
    }

    /// A view built from the GET calls' answers (what a view that followed every event holds).
    pub fn from_snapshot(max_recent: usize, snap: &Snapshot) -> Self {
        let mut v = SessionView::new(max_recent);
        v.sessions = snap
            .sessions
            .iter()
            .map(|s| (s.id.clone(), s.clone()))
            .collect();
        v.status = snap
            .status
            .iter()
            .filter(|(_, s)| **s != SessionStatus::Idle)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        v.permissions = snap
            .permissions
            .iter()
            .map(|p| (p.id.clone(), p.clone()))
            .collect();
        v.questions = snap
            .questions
            .iter()
            .map(|q| (q.id.clone(), q.clone()))
            .collect();
        for id in v.recent() {
            let msgs = snap.messages.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            let m = msgs
                .iter()
                .map(|m| {
                    let parts = m.parts.iter().map(|p| (p.id.clone(), p.clone())).collect();
                    let vm = ViewMessage {
                        info: m.info.clone(),
                        parts,
                    };
                    (m.info.id.clone(), vm)
                })
                .collect();
            v.messages.insert(id, m);
        }
        v
    }

    /// How many sessions keep their messages.
    pub fn max_recent(&self) -> usize {
        self.max_recent
    }

    /// The sessions by id.
    pub fn sessions(&self) -> &BTreeMap<String, Session> {
        &self.sessions
    }

    /// The status of every session that is not idle.
    pub fn statuses(&self) -> &BTreeMap<String, SessionStatus> {
        &self.status
    }

    /// A session's status (`Idle` when none is known).
    pub fn status(&self, session_id: &str) -> SessionStatus {
        self.status
            .get(session_id)
            .cloned()
            .unwrap_or(SessionStatus::Idle)
    }

    /// Pending permission requests by id.
    pub fn permissions(&self) -> &BTreeMap<String, PermissionRequest> {
        &self.permissions
    }

    /// Pending questions by id.
    pub fn questions(&self) -> &BTreeMap<String, PendingQuestion> {
        &self.questions
    }

    /// The messages of a session, by id, when the view keeps them (a recent session).
    pub fn messages(&self, session_id: &str) -> Option<&BTreeMap<String, ViewMessage>> {
        self.messages.get(session_id)
    }

    /// Every kept session's messages.
    pub fn all_messages(&self) -> &BTreeMap<String, BTreeMap<String, ViewMessage>> {
        &self.messages
    }

    /// The sessions whose messages the view keeps: the `max_recent` most recently updated (ties by id).
    pub fn recent(&self) -> Vec<String> {
        let mut all: Vec<&Session> = self.sessions.values().collect();
        all.sort_by(|a, b| {
            b.time
                .updated
                .total_cmp(&a.time.updated)
                .then_with(|| a.id.cmp(&b.id))
        });
        all.into_iter()
            .take(self.max_recent)
            .map(|s| s.id.clone())
            .collect()
    }

    /// Fold one event. Events that change nothing the view keeps are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::SessionCreated { info } | Event::SessionUpdated { info } => {
                self.sessions.insert(info.id.clone(), info.clone());
                self.prune();
            }
            Event::SessionDeleted { info } => {
                let id = &info.id;
                self.sessions.remove(id);
                self.status.remove(id);
                self.permissions.retain(|_, p| &p.session_id != id);
                self.questions.retain(|_, q| &q.session_id != id);
                self.prune();
            }
            Event::SessionStatus { session_id, status } => {
                if *status == SessionStatus::Idle {
                    self.status.remove(session_id);
                } else {
                    self.status.insert(session_id.clone(), status.clone());
                }
            }
            Event::SessionIdle { session_id } => {
                self.status.remove(session_id);
            }
            Event::PermissionAsked(p) => {
                self.permissions.insert(p.id.clone(), p.clone());
            }
            Event::PermissionReplied { request_id, .. } => {
                self.permissions.remove(request_id);
            }
            Event::QuestionAsked {
                id,
                session_id,
                questions,
            } => {
                let q = PendingQuestion {
                    id: id.clone(),
                    session_id: session_id.clone(),
                    questions: questions.clone(),
                };
                self.questions.insert(id.clone(), q);
            }
            Event::QuestionReplied { request_id, .. }
            | Event::QuestionRejected { request_id, .. } => {
                self.questions.remove(request_id);
            }
            Event::MessageUpdated { info } => {
                if let Some(msgs) = self.messages.get_mut(&info.session_id) {
                    msgs.entry(info.id.clone()).or_default().info = info.clone();
                }
            }
            Event::MessageRemoved {
                session_id,
                message_id,
            } => {
                if let Some(msgs) = self.messages.get_mut(session_id) {
                    msgs.remove(message_id);
                }
            }
            Event::MessagePartUpdated { part } => {
                if let Some(m) = self.message_mut(&part.session_id, &part.message_id) {
                    m.parts.insert(part.id.clone(), part.clone());
                }
            }
            Event::MessagePartDelta {
                session_id,
                message_id,
                part_id,
                field,
                delta,
            } => {
                // Deltas extend `text` (text and reasoning parts); the part's next whole update replaces it.
                if field != "text" {
                    return;
                }
                if let Some(p) = self
                    .message_mut(session_id, message_id)
                    .and_then(|m| m.parts.get_mut(part_id))
                {
                    p.text.get_or_insert_with(String::new).push_str(delta);
                }
            }
            Event::MessagePartRemoved {
                session_id,
                message_id,
                part_id,
            } => {
                if let Some(m) = self.message_mut(session_id, message_id) {
                    m.parts.remove(part_id);
                }
            }
            _ => {}
        }
    }

    /// A known message of a kept session (a part of a message whose `message.updated` was not seen waits for
    /// the resync: the view never invents a message's metadata).
    fn message_mut(&mut self, session_id: &str, message_id: &str) -> Option<&mut ViewMessage> {
        self.messages.get_mut(session_id)?.get_mut(message_id)
    }

    /// Keep messages for the recent sessions only; a session that becomes recent starts with none.
    fn prune(&mut self) {
        let recent = self.recent();
        self.messages.retain(|id, _| recent.contains(id));
        for id in recent {
            self.messages.entry(id).or_default();
        }
    }
}
