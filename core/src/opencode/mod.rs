//! OpenCode: typed API calls, typed bus events, error meanings, the health monitor and the server supervisor.
//!
//! All sans-IO. [`calls::Api`] builds [`crate::Request`]s and parses [`crate::Response`]s for OpenCode 1.18
//! (`openapi-1.18.34.json` beside this file is the server's own `GET /doc`, kept as the reference);
//! [`events`] parses `/event` and `/global/event` payloads; [`health::HealthMonitor`] turns the `/event`
//! stream into a health verdict and restart decisions; [`supervisor::Supervisor`] decides the server process's
//! lifecycle. Drivers do the I/O.

/// A real OpenCode 1.18.34 response captured into `tests/fixtures/opencode/` (unit tests only).
#[cfg(test)]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/opencode/",
            $name
        ))
    };
}

pub mod calls;
pub mod error;
pub mod events;
pub mod follow;
pub mod health;
pub mod message;
pub mod options;
pub mod session;
pub mod supervisor;
pub mod types;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use calls::{Api, Call, Parser};
pub use error::ApiErrorKind;
pub use events::{Event, GlobalEvent};
pub use follow::{ReplyFollower, ReplyUpdate};
pub use health::{HealthConfig, HealthMonitor, HealthOutput, HealthState, StopReason};
pub use message::{
    MessageInfo, MessageWithParts, Part, PartInput, PermissionReply, PermissionRequest,
    PromptInput, Role,
};
pub use options::{Auth, DirectoryMode, OpenCodeOptions};
pub use session::{Session, SessionCreate, SessionStatus};
pub use supervisor::{Signal, Supervisor, SupervisorConfig, SupervisorOutput, SupervisorState};
pub use types::{
    Agent, Config, ConfigProviders, Health, ModelRef, PathInfo, Project, Provider, ProviderList,
};
