//! # plue-opencode
//!
//! OpenCode on plue-http: typed API calls, typed bus events, error meanings, the health monitor and the server
//! supervisor — all sans-IO decisions — and, over the driver, the client, typed reconnecting event streams, the
//! health watch and the server manager, with a blocking façade for blocking runtimes.
//!
//! - Pure (no I/O): [`calls::Api`] builds [`plue_http_core::Request`]s and parses responses for OpenCode 1.18
//!   (`openapi-1.18.34.json` beside this file is the server's own `GET /doc`, kept as the reference);
//!   [`events`] parses `/event` and `/global/event` payloads; [`health::HealthMonitor`] turns the `/event`
//!   stream into a health verdict and restart decisions; [`supervisor::Supervisor`] decides the server process's
//!   lifecycle.
//! - [`client`]: [`OpenCode`], the typed client over the driver's [`Front`](plue_http_driver::Front), and its
//!   typed event streams ([`Events`]).
//! - [`manager`]: [`ServerManager`] and [`HealthWatch`], which carry out the monitor's and supervisor's
//!   decisions on a [`Host`] (tasks, timers, processes).
//! - Resync after gaps: [`view::SessionView`] folds events (pure), [`view::diff`] turns one view into another,
//!   and [`Synced`] re-fetches the server's state after every reconnect and emits the difference, ending the
//!   wait for replies the server lost ([`ReplyLost`]); a [`Hub`] shares one such connection among many
//!   filtered subscribers with bounded queues.
//! - [`blocking`]: the same client, streams, manager and watch for blocking runtimes (`plue-http-mio`), with a
//!   thread-per-task [`blocking::ThreadHost`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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

pub mod api;
pub mod blocking;
pub mod calls;
pub mod client;
pub mod error;
pub mod events;
pub mod follow;
#[allow(
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items,
    clippy::needless_lifetimes,
    rustdoc::all
)]
pub mod generated;
pub mod health;
pub mod manager;
pub mod message;
pub mod options;
pub mod resync;
pub mod session;
pub mod supervisor;
pub mod types;
pub mod view;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use api::{CallOptions, Operation, OperationInfo, VersionCheck};
pub use calls::{Api, Call, Parser};
pub use client::{
    env_auth, fetch_snapshot, with_env_auth, EventItem, Events, Filter, Hub, OpenCode,
    OpenCodeClient, Subscription, Synced,
};
pub use error::ApiErrorKind;
pub use events::{Event, GlobalEvent};
pub use follow::{ReplyFollower, ReplyUpdate};
pub use health::{HealthConfig, HealthMonitor, HealthOutput, HealthState, StopReason};
pub use manager::{
    reconnect_notice, CommandFn, HealthWatch, Host, ManagerOptions, Report, ServerManager,
    StartError,
};
pub use message::{
    MessageInfo, MessageWithParts, Part, PartInput, PermissionReply, PermissionRequest,
    PromptInput, Role,
};
pub use options::{Auth, DirectoryMode, OpenCodeOptions};
pub use resync::{check_wait, Gap, ReplyLost, SyncItem, WaitVerdict};
pub use session::{Session, SessionCreate, SessionStatus};
pub use supervisor::{Signal, Supervisor, SupervisorConfig, SupervisorOutput, SupervisorState};
pub use types::{
    Agent, Config, ConfigProviders, Health, ModelRef, PathInfo, Project, Provider, ProviderList,
};
pub use view::{diff as view_diff, PendingQuestion, SessionView, Snapshot, ViewMessage};
