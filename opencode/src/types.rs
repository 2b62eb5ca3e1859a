//! Server-level response types: health, paths, project, config, providers, agents.
//!
//! Every struct ignores unknown fields and defaults what a server may omit, so a newer OpenCode does not break
//! us. Large or unstable shapes stay as [`serde_json::Value`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /global/health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Health {
    /// Always `true` when the server answers at all.
    #[serde(default)]
    pub healthy: bool,
    /// The server version, e.g. `1.18.34`.
    #[serde(default)]
    pub version: String,
}

/// `GET /path`: where the server keeps things and which directory a request acts in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PathInfo {
    /// The user's home.
    pub home: String,
    /// OpenCode's state directory.
    pub state: String,
    /// OpenCode's config directory.
    pub config: String,
    /// The project's worktree root (`/` outside a repository).
    pub worktree: String,
    /// The directory this request acts in.
    pub directory: String,
}

/// Creation and update times, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Times {
    /// Created.
    pub created: f64,
    /// Last updated, when the server tracks it.
    pub updated: Option<f64>,
}

/// `GET /project/current`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Project {
    /// `global` outside a repository, else a hash of the root commit.
    pub id: String,
    /// The worktree root.
    pub worktree: String,
    /// The version control system, when detected (`git`).
    pub vcs: Option<String>,
    /// A display name, when set.
    pub name: Option<String>,
    /// Times.
    pub time: Times,
}

/// `GET /config`: the few fields Plue reads; everything else is kept in [`Config::rest`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// The default model, `provider/model`.
    pub model: Option<String>,
    /// The model used for titles and summaries.
    pub small_model: Option<String>,
    /// `manual`, `auto` or `disabled`.
    pub share: Option<String>,
    /// The user name shown in sessions.
    pub username: Option<String>,
    /// Every other field as sent.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// A `provider/model` pair, as prompts and agents name a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct ModelRef {
    /// The provider id, e.g. `anthropic`.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// The model id within the provider (may itself contain `/`).
    #[serde(rename = "modelID")]
    pub model_id: String,
}

impl ModelRef {
    /// A model reference.
    pub fn new(provider_id: impl Into<String>, model_id: impl Into<String>) -> Self {
        ModelRef {
            provider_id: provider_id.into(),
            model_id: model_id.into(),
        }
    }

    /// Parse `provider/model`, splitting at the first `/` (`openrouter/anthropic/claude` →
    /// `openrouter` + `anthropic/claude`). `None` when either side is empty.
    pub fn parse(s: &str) -> Option<ModelRef> {
        let (p, m) = s.split_once('/')?;
        if p.is_empty() || m.is_empty() {
            return None;
        }
        Some(ModelRef::new(p, m))
    }
}

/// One model of a provider.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Model {
    /// The model id.
    pub id: String,
    /// The provider it belongs to.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// Display name.
    pub name: String,
    /// Model family, when known.
    pub family: Option<String>,
    /// `active`, `beta`, `deprecated`, … when known.
    pub status: Option<String>,
    /// Context and output limits (shape varies between versions).
    pub limit: Option<Value>,
}

/// A provider and its models.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Provider {
    /// The provider id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where it came from: `env`, `config`, `custom` or `api`.
    pub source: Option<String>,
    /// Environment variables that configure it.
    pub env: Vec<String>,
    /// Its models by id.
    pub models: BTreeMap<String, Model>,
}

/// `GET /provider`: every known provider, default models and the connected ones.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ProviderList {
    /// All providers (a 1.18 server answers ~6.5 MB here: its whole model catalogue).
    pub all: Vec<Provider>,
    /// Default model per provider id.
    pub default: BTreeMap<String, String>,
    /// Ids of providers that are usable now.
    pub connected: Vec<String>,
}

/// `GET /config/providers`: the providers usable with the current configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ConfigProviders {
    /// The providers.
    pub providers: Vec<Provider>,
    /// Default model per provider id.
    pub default: BTreeMap<String, String>,
}

/// `GET /agent`: one agent.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Agent {
    /// The agent name (`build`, `plan`, …).
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// `primary`, `subagent` or `all`.
    pub mode: String,
    /// Built into OpenCode.
    pub native: Option<bool>,
    /// Hidden from pickers.
    pub hidden: Option<bool>,
    /// The model it is pinned to, when it is.
    pub model: Option<ModelRef>,
}
