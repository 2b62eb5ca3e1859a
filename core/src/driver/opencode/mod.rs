//! OpenCode on every runtime: the typed client, typed event streams, the health monitor runner and the server
//! manager. Everything here carries out the core's `opencode` decisions; none is made here.

mod client;
mod events;
mod host;
mod manager;

pub use client::{env_auth, with_env_auth, OpenCode, OpenCodeClient};
pub use events::{EventItem, Events};
pub use host::Host;
pub use manager::{
    reconnect_notice, CommandFn, HealthWatch, ManagerOptions, Report, ServerManager, StartError,
};
