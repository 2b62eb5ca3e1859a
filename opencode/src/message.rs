//! Messages and their parts, and the prompt body.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::ModelRef;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A role this client does not know yet.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Message times, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessageTime {
    /// Created.
    pub created: f64,
    /// Completed (assistant messages, once the answer is finished).
    pub completed: Option<f64>,
}

/// A message's metadata (`info`), user or assistant.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessageInfo {
    /// `msg_…`.
    pub id: String,
    /// The session.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// User or assistant.
    pub role: Role,
    /// Times.
    pub time: MessageTime,
    /// The user message this answers (assistant).
    #[serde(rename = "parentID")]
    pub parent_id: Option<String>,
    /// The model that answered (assistant).
    #[serde(rename = "modelID")]
    pub model_id: Option<String>,
    /// Its provider (assistant).
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// Why the answer ended (`stop`, `length`, `tool-calls`, …).
    pub finish: Option<String>,
    /// The error that ended the answer, `{name, data:{message,…}}`.
    pub error: Option<Value>,
    /// Cost of the answer.
    pub cost: Option<f64>,
    /// Token counts (shape varies between versions).
    pub tokens: Option<Value>,
}

/// One part of a message: text, reasoning, a tool call, a step marker, a file, …
///
/// Kept flat and tolerant: `kind` is the part's `type` as sent, and the common fields are optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Part {
    /// `prt_…`.
    pub id: String,
    /// The session.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The message.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// The part type: `text`, `reasoning`, `tool`, `step-start`, `step-finish`, `file`, `patch`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of `text` and `reasoning` parts.
    pub text: Option<String>,
    /// `true` for text the server injected rather than the model wrote.
    pub synthetic: Option<bool>,
    /// The tool name (`tool` parts).
    pub tool: Option<String>,
    /// The tool call's state (`tool` parts; large and version-dependent).
    pub state: Option<Value>,
    /// Why a step finished (`step-finish` parts).
    pub reason: Option<String>,
}

impl Part {
    /// The text of a `text` part, `None` for any other kind.
    pub fn as_text(&self) -> Option<&str> {
        (self.kind == "text").then_some(self.text.as_deref().unwrap_or(""))
    }
}

/// A message with its parts (`GET /session/{id}/message`, the answer of a blocking prompt).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessageWithParts {
    /// Metadata.
    pub info: MessageInfo,
    /// Parts in order.
    pub parts: Vec<Part>,
}

impl MessageWithParts {
    /// The message's visible text: every non-synthetic text part, concatenated.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter(|p| p.synthetic != Some(true))
            .filter_map(Part::as_text)
            .collect()
    }
}

/// One input part of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PartInput {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
}

/// The body of `POST /session/{id}/message` and `POST /session/{id}/prompt_async`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PromptInput {
    /// The parts.
    pub parts: Vec<PartInput>,
    /// The model; the server's default (`model` in its config) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// The agent; `build` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The id to give the user message (`msg_…`), for idempotent client-side bookkeeping.
    #[serde(rename = "messageID", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl PromptInput {
    /// A prompt with one text part.
    pub fn text(text: impl Into<String>) -> Self {
        PromptInput {
            parts: vec![PartInput::Text { text: text.into() }],
            ..PromptInput::default()
        }
    }

    /// Use this model.
    pub fn model(mut self, model: Option<ModelRef>) -> Self {
        self.model = model;
        self
    }

    /// Use this agent.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }
}

/// A reply to a permission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionReply {
    /// Allow this once.
    Once,
    /// Allow this and remember it.
    Always,
    /// Refuse.
    Reject,
}

/// A pending permission request (`GET /permission`, `permission.asked` events).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PermissionRequest {
    /// `per_…`.
    pub id: String,
    /// The session asking.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// What is asked for (`bash`, `edit`, `external_directory`, …).
    pub permission: String,
    /// The patterns it would apply to.
    pub patterns: Vec<String>,
    /// Patterns an `always` reply would remember.
    pub always: Vec<String>,
    /// Tool-specific details.
    pub metadata: Option<Value>,
    /// The tool call that asked, `{messageID, callID}`.
    pub tool: Option<Value>,
}
