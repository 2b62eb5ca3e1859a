//! Sessions: the session record, its status, and the bodies that create and update one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Session times, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SessionTime {
    /// Created.
    pub created: f64,
    /// Last updated.
    pub updated: f64,
    /// Archived, when it was.
    pub archived: Option<f64>,
}

/// A session as `GET /session`, `POST /session` and the `session.*` events carry it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Session {
    /// `ses_…`.
    pub id: String,
    /// A readable slug (`misty-mountain`).
    pub slug: Option<String>,
    /// The project it belongs to.
    #[serde(rename = "projectID")]
    pub project_id: String,
    /// The directory it works in.
    pub directory: String,
    /// The parent session, for a child (sub-agent) session.
    #[serde(rename = "parentID")]
    pub parent_id: Option<String>,
    /// The title.
    pub title: String,
    /// The server version that created it.
    pub version: Option<String>,
    /// Times.
    pub time: SessionTime,
    /// Accumulated cost.
    pub cost: Option<f64>,
    /// Token counts (shape varies between versions).
    pub tokens: Option<Value>,
    /// The share link, when shared.
    pub share: Option<Value>,
    /// Diff summary, once the session changed files.
    pub summary: Option<Value>,
}

/// What a session is doing (`GET /session/status`, `session.status` events).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionStatus {
    /// Waiting for a prompt.
    Idle,
    /// Working on a prompt.
    Busy,
    /// Waiting to retry a failed model call.
    Retry {
        /// Retry number.
        #[serde(default)]
        attempt: u32,
        /// Why.
        #[serde(default)]
        message: String,
        /// When the next attempt happens (ms since the Unix epoch).
        #[serde(default)]
        next: u64,
    },
    /// A status this client does not know yet.
    #[serde(other)]
    Unknown,
}

/// The body of `POST /session`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SessionCreate {
    /// The title; the server generates one from the first prompt when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Make it a child of this session.
    #[serde(rename = "parentID", skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

/// The body of `PATCH /session/{id}` that renames a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionUpdate {
    /// The new title.
    pub title: String,
}
