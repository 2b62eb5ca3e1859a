//! The handles: [`ServerManager`] (a server of our own, restarted when the monitor decides) and [`HealthWatch`]
//! (the monitor alone). Both run the same loop (`run.rs`) on a [`Host`].

use async_channel::Receiver;

use super::host::Host;
use super::process::ManagerOptions;
use super::report::{Report, StartError};
use super::run::Loop;
use super::shared::{Common, Msg};
use crate::client::OpenCode;
use crate::{HealthConfig, Supervisor};
use plue_http_driver::Front;

/// A supervised `opencode serve`: started, health-monitored, restarted when the monitor decides, stopped on
/// [`ServerManager::stop`] (or, without waiting, on drop). After a restart the client it hands out points at the
/// new URL and its event streams resubscribe with a gap marker
/// ([`EventItem::Resubscribed`](crate::EventItem::Resubscribed)).
pub struct ServerManager {
    common: Common,
}

impl core::fmt::Debug for ServerManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerManager")
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl ServerManager {
    /// Start the server on `host`; clients send through `front` (its options: timeouts, event idle timeout).
    /// Returns at once: await [`ServerManager::ready`] for the first healthy server.
    pub fn start<H: Host>(host: H, front: Front, options: ManagerOptions) -> ServerManager {
        let health = HealthConfig {
            can_restart: true,
            ..options.health.clone()
        };
        let sup = Supervisor::new(options.supervisor.clone());
        ServerManager {
            common: Loop::spawn(host, front, health, Some((sup, options)), None),
        }
    }

    /// Attach to a server that is already running (its URL and credentials are `opencode`'s; replace them at
    /// run time with [`OpenCode::set_auth`]) instead of spawning one: the same handle, health-monitored, but
    /// never restarted, and [`ServerManager::stop`] leaves the server running.
    pub fn attach<H: Host>(host: H, opencode: OpenCode, health: HealthConfig) -> ServerManager {
        let health = HealthConfig {
            can_restart: false,
            ..health
        };
        let front = opencode.front().clone();
        ServerManager {
            common: Loop::spawn(host, front, health, None, Some(opencode)),
        }
    }

    /// Wait for the first healthy server: a client that follows it (across restarts and moves), or why the
    /// start failed.
    pub async fn ready(&self) -> Result<OpenCode, StartError> {
        let _ = self.common.ready.recv().await;
        self.common
            .status()
            .ready
            .clone()
            .unwrap_or(Err(StartError::Stopped))
    }

    /// The client, once the server listens.
    pub fn client(&self) -> Option<OpenCode> {
        self.common.status().opencode.clone()
    }

    /// The current server process id.
    pub fn pid(&self) -> Option<u32> {
        self.common.status().pid
    }

    /// Every state change, in order (one consumer; items stay queued until read).
    pub fn reports(&self) -> Receiver<Report> {
        self.common.reports.clone()
    }

    /// `true` once the manager stopped (on request, or because it gave up).
    pub fn is_finished(&self) -> bool {
        self.common.status().finished
    }

    /// Stop: unsubscribe, SIGTERM the server, SIGKILL after the grace period, reap it. Returns when done.
    pub async fn stop(&self) {
        self.common.stop().await;
    }
}

impl Drop for ServerManager {
    fn drop(&mut self) {
        // Without waiting: the loop stops the server by itself.
        let _ = self.common.tx.try_send(Msg::Stop);
    }
}

/// The health monitor alone, for a server someone else runs: reports Connecting, Healthy, Degraded (with
/// reconnect notices) and Stopped; never restarts.
pub struct HealthWatch {
    common: Common,
}

impl core::fmt::Debug for HealthWatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HealthWatch").finish_non_exhaustive()
    }
}

impl HealthWatch {
    /// Watch the server `opencode` talks to.
    pub fn start<H: Host>(host: H, opencode: OpenCode, config: HealthConfig) -> HealthWatch {
        let health = HealthConfig {
            can_restart: false,
            ..config
        };
        let front = opencode.front().clone();
        HealthWatch {
            common: Loop::spawn(host, front, health, None, Some(opencode)),
        }
    }

    /// Every state change, in order (one consumer).
    pub fn reports(&self) -> Receiver<Report> {
        self.common.reports.clone()
    }

    /// Stop watching (unsubscribes). Returns when done.
    pub async fn stop(&self) {
        self.common.stop().await;
    }
}

impl Drop for HealthWatch {
    fn drop(&mut self) {
        let _ = self.common.tx.try_send(Msg::Stop);
    }
}
