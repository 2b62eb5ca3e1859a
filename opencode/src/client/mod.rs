//! The OpenCode client over the driver, on any runtime: typed calls and typed, reconnecting event streams.
//! Everything here carries out the crate's pure decisions; none is made here.
//!
//! ```text
//! // a server someone else runs (tokio shown; smol is the same, mio has blocking twins in plue_http_mio::opencode)
//! let oc = plue_http_tokio::opencode::OpenCodeClient::new(OpenCodeOptions::new("http://127.0.0.1:4096"))?;
//! let session = oc.session_create(Some("title"), None).await?;
//! let mut events = oc.events();                      // typed, reconnecting: EventItem::{Event, Stream, Resubscribed}
//! oc.prompt_async(&session.id, &PromptInput::text("hi")).await?;
//! let watch = plue_http_tokio::opencode::watch(&oc, HealthConfig::default());   // Report stream
//!
//! // or a server of our own, restarted when the monitor decides
//! let manager = plue_http_tokio::opencode::start_server(ManagerOptions::default())?;
//! let oc = manager.ready().await?;                   // follows the server across restarts
//! let reports = manager.reports();                   // Health / Server / Spawned / Ready / Notice
//! manager.stop().await;                              // SIGTERM, SIGKILL after the grace, reaped
//! ```

mod events;
mod hub;
mod opencode;
mod synced;

pub use events::{EventItem, Events};
pub use hub::{Filter, Hub, Subscription};
pub use opencode::{env_auth, with_env_auth, OpenCode, OpenCodeClient};
pub use synced::{fetch_snapshot, Synced};
