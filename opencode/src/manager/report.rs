//! What the monitor and the manager tell their owner.

use crate::supervisor::StartFailure;
use crate::{HealthState, SupervisorState};
use plue_http_core::error::Error;

/// What the monitor and the manager report, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The health monitor's state changed.
    Health(HealthState),
    /// Human feedback, e.g. "Connection lost. Reconnecting... (attempt 1/3)".
    Notice(String),
    /// The supervisor's state changed.
    Server(SupervisorState),
    /// A server process was started.
    Spawned {
        /// Its process id.
        pid: u32,
    },
    /// The server is healthy at `url`; `moved`: a restart changed the URL (clients moved, events were lost).
    Ready {
        /// The server URL.
        url: String,
        /// The URL changed.
        moved: bool,
    },
}

/// Why [`ServerManager::ready`](super::ServerManager::ready) has no server.
#[derive(Debug, Clone, PartialEq)]
pub enum StartError {
    /// The process did not start, exited early, or never became healthy.
    Failed(StartFailure),
    /// The URL it printed is unusable for the client.
    Client(Error),
    /// The manager stopped (or gave up) before the server was ready.
    Stopped,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Failed(StartFailure::SpawnFailed(m)) => {
                write!(f, "the OpenCode server could not be run: {m}")
            }
            StartError::Failed(StartFailure::Timeout) => {
                f.write_str("the OpenCode server did not print its URL in time")
            }
            StartError::Failed(StartFailure::ExitedEarly { code }) => {
                write!(
                    f,
                    "the OpenCode server exited before listening (code {code:?})"
                )
            }
            StartError::Failed(StartFailure::HealthTimeout) => {
                f.write_str("the OpenCode server listened but never became healthy")
            }
            StartError::Client(e) => write!(f, "the OpenCode server's URL is unusable: {e}"),
            StartError::Stopped => f.write_str("the server manager stopped"),
        }
    }
}

impl std::error::Error for StartError {}

/// The reconnect feedback line: "Connection lost. Reconnecting... (attempt k/N)", or "(attempt k)" without a
/// limit.
pub fn reconnect_notice(attempt: u32, max: Option<u32>) -> String {
    match max {
        Some(n) => format!("Connection lost. Reconnecting... (attempt {attempt}/{n})"),
        None => format!("Connection lost. Reconnecting... (attempt {attempt})"),
    }
}
