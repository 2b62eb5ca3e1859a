//! Typed OpenCode bus events, parsed from an SSE `data` string.
//!
//! `/event` sends `{"id":"evt_…","type":"…","properties":{…}}` per event; `/global/event` wraps the same payload
//! as `{"directory"?, "project"?, "payload":{…}}`. Servers from mid-2025 opened the stream with a bare `{}`;
//! that still parses, as [`Event::LegacyConnected`]. An event whose type is new, or whose properties do not have
//! the shape this client expects, becomes [`Event::Unknown`] with the raw JSON: a newer server never breaks a
//! stream.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::message::{MessageInfo, Part, PermissionReply, PermissionRequest};
use super::session::{Session, SessionStatus};
use plue_http_core::error::{ErrorKind, JsonOp};
use plue_http_core::response::excerpt;

/// One bus event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `server.connected`: the first event of every `/event` connection.
    ServerConnected,
    /// `{}`: the first event of servers from before `server.connected` existed.
    LegacyConnected,
    /// `server.heartbeat`: every 10 s.
    ServerHeartbeat,
    /// `server.instance.disposed`: the directory's instance shut down; the server ends `/event` after it.
    ServerInstanceDisposed {
        /// The directory whose instance went away.
        directory: Option<String>,
    },
    /// `global.disposed`: every instance shut down.
    GlobalDisposed,
    /// `session.created`.
    SessionCreated {
        /// The session.
        info: Session,
    },
    /// `session.updated`.
    SessionUpdated {
        /// The session.
        info: Session,
    },
    /// `session.deleted`.
    SessionDeleted {
        /// The session as it was.
        info: Session,
    },
    /// `session.status`: busy, idle, retrying.
    SessionStatus {
        /// The session.
        session_id: String,
        /// Its new status.
        status: SessionStatus,
    },
    /// `session.idle`: the session finished its prompt.
    SessionIdle {
        /// The session.
        session_id: String,
    },
    /// `session.error`: a prompt failed (`{name, data:{message}}` in `error`).
    SessionError {
        /// The session, when the error belongs to one.
        session_id: Option<String>,
        /// The error.
        error: Option<Value>,
    },
    /// `session.diff`: the files the session changed.
    SessionDiff {
        /// The session.
        session_id: String,
        /// The file diffs.
        diff: Value,
    },
    /// `session.compacted`.
    SessionCompacted {
        /// The session.
        session_id: String,
    },
    /// `message.updated`: a message was created or its metadata changed.
    MessageUpdated {
        /// The message's metadata.
        info: MessageInfo,
    },
    /// `message.removed`.
    MessageRemoved {
        /// The session.
        session_id: String,
        /// The message.
        message_id: String,
    },
    /// `message.part.updated`: a part was created or replaced whole.
    MessagePartUpdated {
        /// The part.
        part: Part,
    },
    /// `message.part.delta`: text appended to a part while the model streams.
    MessagePartDelta {
        /// The session.
        session_id: String,
        /// The message.
        message_id: String,
        /// The part.
        part_id: String,
        /// The field appended to (`text`).
        field: String,
        /// The appended text.
        delta: String,
    },
    /// `message.part.removed`.
    MessagePartRemoved {
        /// The session.
        session_id: String,
        /// The message.
        message_id: String,
        /// The part.
        part_id: String,
    },
    /// `permission.asked`: a tool waits for the user's permission.
    PermissionAsked(PermissionRequest),
    /// `permission.replied`.
    PermissionReplied {
        /// The session.
        session_id: String,
        /// The permission request.
        request_id: String,
        /// The reply.
        reply: PermissionReply,
    },
    /// `question.asked`: the model asks the user.
    QuestionAsked {
        /// `que_…`.
        id: String,
        /// The session.
        session_id: String,
        /// The questions (options, multiple choice, …).
        questions: Value,
    },
    /// `question.replied`.
    QuestionReplied {
        /// The session.
        session_id: String,
        /// The question request.
        request_id: String,
        /// The answers.
        answers: Value,
    },
    /// `question.rejected`.
    QuestionRejected {
        /// The session.
        session_id: String,
        /// The question request.
        request_id: String,
    },
    /// `todo.updated`.
    TodoUpdated {
        /// The session.
        session_id: String,
        /// The todo list.
        todos: Value,
    },
    /// `file.edited`.
    FileEdited {
        /// The file.
        file: String,
    },
    /// Any other event, or a known type whose properties had an unexpected shape.
    Unknown {
        /// The `type` as sent (empty when missing).
        kind: String,
        /// The whole event as sent.
        raw: Value,
    },
}

#[derive(Deserialize)]
struct Sid {
    #[serde(rename = "sessionID")]
    session_id: String,
}

#[derive(Deserialize)]
struct Info<T> {
    info: T,
}

#[derive(Deserialize)]
struct MessageRef {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
}

#[derive(Deserialize)]
struct PartRef {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
    #[serde(rename = "partID")]
    part_id: String,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
    #[serde(rename = "partID")]
    part_id: String,
    #[serde(default)]
    field: String,
    delta: String,
}

#[derive(Deserialize)]
struct Status {
    #[serde(rename = "sessionID")]
    session_id: String,
    status: SessionStatus,
}

#[derive(Deserialize)]
struct SessionErr {
    #[serde(rename = "sessionID", default)]
    session_id: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Diff {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(default)]
    diff: Value,
}

#[derive(Deserialize)]
struct PartOnly {
    part: Part,
}

#[derive(Deserialize)]
struct Replied {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "requestID")]
    request_id: String,
    reply: PermissionReply,
}

#[derive(Deserialize)]
struct Asked {
    id: String,
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(default)]
    questions: Value,
}

#[derive(Deserialize)]
struct Answered {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(default)]
    answers: Value,
}

#[derive(Deserialize)]
struct Rejected {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "requestID")]
    request_id: String,
}

#[derive(Deserialize)]
struct Todos {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(default)]
    todos: Value,
}

#[derive(Deserialize)]
struct File {
    file: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Dir {
    directory: Option<String>,
}

fn decode_error(data: &str, message: &str) -> ErrorKind {
    ErrorKind::Json {
        op: JsonOp::Decode,
        message: message.to_string(),
        excerpt: excerpt(data.as_bytes(), 80),
    }
}

impl Event {
    /// Parse one `/event` payload (the SSE `data`). Errors only when it is not a JSON object.
    pub fn parse(data: &str) -> Result<Event, ErrorKind> {
        let value: Value =
            serde_json::from_str(data).map_err(|e| decode_error(data, &e.to_string()))?;
        Event::from_value(value).map_err(|m| decode_error(data, m))
    }

    /// Build from an already parsed payload object.
    fn from_value(value: Value) -> Result<Event, &'static str> {
        let Value::Object(obj) = &value else {
            return Err("an event must be a JSON object");
        };
        if obj.is_empty() {
            return Ok(Event::LegacyConnected);
        }
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let null = Value::Null;
        let props = obj.get("properties").unwrap_or(&null);
        Ok(Event::typed(kind, props).unwrap_or_else(|| Event::Unknown {
            kind: kind.to_string(),
            raw: value.clone(),
        }))
    }

    /// The known event for `kind`, or `None` when the type is unknown or the properties do not fit.
    fn typed(kind: &str, p: &Value) -> Option<Event> {
        fn de<T: DeserializeOwned>(p: &Value) -> Option<T> {
            T::deserialize(p).ok()
        }
        Some(match kind {
            "server.connected" => Event::ServerConnected,
            "server.heartbeat" => Event::ServerHeartbeat,
            "server.instance.disposed" => Event::ServerInstanceDisposed {
                directory: de::<Dir>(p).unwrap_or_default().directory,
            },
            "global.disposed" => Event::GlobalDisposed,
            "session.created" => Event::SessionCreated {
                info: de::<Info<Session>>(p)?.info,
            },
            "session.updated" => Event::SessionUpdated {
                info: de::<Info<Session>>(p)?.info,
            },
            "session.deleted" => Event::SessionDeleted {
                info: de::<Info<Session>>(p)?.info,
            },
            "session.status" => {
                let s = de::<Status>(p)?;
                Event::SessionStatus {
                    session_id: s.session_id,
                    status: s.status,
                }
            }
            "session.idle" => Event::SessionIdle {
                session_id: de::<Sid>(p)?.session_id,
            },
            "session.error" => {
                let e = de::<SessionErr>(p)?;
                Event::SessionError {
                    session_id: e.session_id,
                    error: e.error,
                }
            }
            "session.diff" => {
                let d = de::<Diff>(p)?;
                Event::SessionDiff {
                    session_id: d.session_id,
                    diff: d.diff,
                }
            }
            "session.compacted" => Event::SessionCompacted {
                session_id: de::<Sid>(p)?.session_id,
            },
            "message.updated" => Event::MessageUpdated {
                info: de::<Info<MessageInfo>>(p)?.info,
            },
            "message.removed" => {
                let m = de::<MessageRef>(p)?;
                Event::MessageRemoved {
                    session_id: m.session_id,
                    message_id: m.message_id,
                }
            }
            "message.part.updated" => Event::MessagePartUpdated {
                part: de::<PartOnly>(p)?.part,
            },
            "message.part.delta" => {
                let d = de::<Delta>(p)?;
                Event::MessagePartDelta {
                    session_id: d.session_id,
                    message_id: d.message_id,
                    part_id: d.part_id,
                    field: d.field,
                    delta: d.delta,
                }
            }
            "message.part.removed" => {
                let r = de::<PartRef>(p)?;
                Event::MessagePartRemoved {
                    session_id: r.session_id,
                    message_id: r.message_id,
                    part_id: r.part_id,
                }
            }
            "permission.asked" => Event::PermissionAsked(de::<PermissionRequest>(p)?),
            "permission.replied" => {
                let r = de::<Replied>(p)?;
                Event::PermissionReplied {
                    session_id: r.session_id,
                    request_id: r.request_id,
                    reply: r.reply,
                }
            }
            "question.asked" => {
                let a = de::<Asked>(p)?;
                Event::QuestionAsked {
                    id: a.id,
                    session_id: a.session_id,
                    questions: a.questions,
                }
            }
            "question.replied" => {
                let a = de::<Answered>(p)?;
                Event::QuestionReplied {
                    session_id: a.session_id,
                    request_id: a.request_id,
                    answers: a.answers,
                }
            }
            "question.rejected" => {
                let r = de::<Rejected>(p)?;
                Event::QuestionRejected {
                    session_id: r.session_id,
                    request_id: r.request_id,
                }
            }
            "todo.updated" => {
                let t = de::<Todos>(p)?;
                Event::TodoUpdated {
                    session_id: t.session_id,
                    todos: t.todos,
                }
            }
            "file.edited" => Event::FileEdited {
                file: de::<File>(p)?.file,
            },
            _ => return None,
        })
    }

    /// The event's `type` as OpenCode names it (`{}` for the legacy first event).
    pub fn kind(&self) -> &str {
        match self {
            Event::ServerConnected => "server.connected",
            Event::LegacyConnected => "{}",
            Event::ServerHeartbeat => "server.heartbeat",
            Event::ServerInstanceDisposed { .. } => "server.instance.disposed",
            Event::GlobalDisposed => "global.disposed",
            Event::SessionCreated { .. } => "session.created",
            Event::SessionUpdated { .. } => "session.updated",
            Event::SessionDeleted { .. } => "session.deleted",
            Event::SessionStatus { .. } => "session.status",
            Event::SessionIdle { .. } => "session.idle",
            Event::SessionError { .. } => "session.error",
            Event::SessionDiff { .. } => "session.diff",
            Event::SessionCompacted { .. } => "session.compacted",
            Event::MessageUpdated { .. } => "message.updated",
            Event::MessageRemoved { .. } => "message.removed",
            Event::MessagePartUpdated { .. } => "message.part.updated",
            Event::MessagePartDelta { .. } => "message.part.delta",
            Event::MessagePartRemoved { .. } => "message.part.removed",
            Event::PermissionAsked(_) => "permission.asked",
            Event::PermissionReplied { .. } => "permission.replied",
            Event::QuestionAsked { .. } => "question.asked",
            Event::QuestionReplied { .. } => "question.replied",
            Event::QuestionRejected { .. } => "question.rejected",
            Event::TodoUpdated { .. } => "todo.updated",
            Event::FileEdited { .. } => "file.edited",
            Event::Unknown { kind, .. } => kind,
        }
    }

    /// `true` for the event that opens a stream (`server.connected`, or the legacy `{}`).
    pub fn is_connected(&self) -> bool {
        matches!(self, Event::ServerConnected | Event::LegacyConnected)
    }

    /// The session the event belongs to, when it belongs to one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Event::SessionCreated { info }
            | Event::SessionUpdated { info }
            | Event::SessionDeleted { info } => Some(&info.id),
            Event::SessionStatus { session_id, .. }
            | Event::SessionIdle { session_id }
            | Event::SessionDiff { session_id, .. }
            | Event::SessionCompacted { session_id }
            | Event::MessageRemoved { session_id, .. }
            | Event::MessagePartDelta { session_id, .. }
            | Event::MessagePartRemoved { session_id, .. }
            | Event::PermissionReplied { session_id, .. }
            | Event::QuestionAsked { session_id, .. }
            | Event::QuestionReplied { session_id, .. }
            | Event::QuestionRejected { session_id, .. }
            | Event::TodoUpdated { session_id, .. } => Some(session_id),
            Event::SessionError { session_id, .. } => session_id.as_deref(),
            Event::MessageUpdated { info } => Some(&info.session_id),
            Event::MessagePartUpdated { part } => Some(&part.session_id),
            Event::PermissionAsked(p) => Some(&p.session_id),
            _ => None,
        }
    }
}

/// One `/global/event` item: an [`Event`] and the directory (and project) it happened in.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalEvent {
    /// The directory, absent for server-wide events (`server.connected`, `server.heartbeat`).
    pub directory: Option<String>,
    /// The project id, when sent.
    pub project: Option<String>,
    /// The event.
    pub payload: Event,
}

impl GlobalEvent {
    /// Parse one `/global/event` payload. A bare `{}` (legacy first event) gives [`Event::LegacyConnected`].
    pub fn parse(data: &str) -> Result<GlobalEvent, ErrorKind> {
        let value: Value =
            serde_json::from_str(data).map_err(|e| decode_error(data, &e.to_string()))?;
        let Value::Object(mut obj) = value else {
            return Err(decode_error(data, "an event must be a JSON object"));
        };
        let legacy = obj.is_empty();
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let directory = text(obj.remove("directory"));
        let project = text(obj.remove("project"));
        let payload = match obj.remove("payload") {
            Some(p) => Event::from_value(p).map_err(|m| decode_error(data, m))?,
            None if legacy => Event::LegacyConnected,
            None => return Err(decode_error(data, "a global event needs a payload")),
        };
        Ok(GlobalEvent {
            directory,
            project,
            payload,
        })
    }
}
