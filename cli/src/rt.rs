//! `--runtime tokio|smol|mio`: which runtime's client, health watch and server manager the command uses.
//!
//! Everything here is the runtimes' own OpenCode layer (`plue_http_{tokio,smol,mio}::opencode`); this file only
//! picks one and blocks on it, since the commands are sequential. The runtime-independent [`OpenCode`] handle is
//! what the commands call; its futures are driven by the runtime's own tasks (or the mio event loop), so this
//! thread merely waits on them.

use std::future::Future;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use futures_lite::stream::Boxed;
use futures_lite::StreamExt;
use plue_http::mio::opencode::{Reports, ThreadHost};
use plue_http::Error;
use plue_http_core::client::Options;
use plue_opencode::{HealthConfig, OpenCodeOptions};
use plue_opencode::{HealthWatch, ManagerOptions, OpenCode, Report, ServerManager, StartError};

/// Which runtime adapter drives the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RuntimeKind {
    /// plue-http-tokio (async, the default).
    #[default]
    Tokio,
    /// plue-http-smol (async).
    Smol,
    /// plue-http-mio (a blocking client over a mio event loop).
    Mio,
}

impl RuntimeKind {
    /// The name shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Mio => "mio",
        }
    }
}

/// An HTTP client on one of the runtimes. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Http {
    /// On tokio.
    Tokio(plue_http::tokio::Client),
    /// On smol.
    Smol(plue_http::smol::Client),
    /// On mio.
    Mio(plue_http::mio::Client),
}

impl Http {
    /// A client with `options` on `kind`.
    pub fn new(kind: RuntimeKind, options: Options) -> Result<Http, Error> {
        Ok(match kind {
            RuntimeKind::Tokio => Http::Tokio(plue_http::tokio::Client::new(options)?),
            RuntimeKind::Smol => Http::Smol(plue_http::smol::Client::new(options)?),
            RuntimeKind::Mio => Http::Mio(plue_http::mio::Client::new(options)?),
        })
    }

    /// The runtime's OpenCode client for `options`, sending through this client.
    pub fn opencode(&self, options: OpenCodeOptions) -> Result<OpenCode, Error> {
        use plue_http::{mio, smol, tokio};
        Ok(match self {
            Http::Tokio(c) => tokio::opencode::OpenCodeClient::with_client(c.clone(), options)?
                .opencode()
                .clone(),
            Http::Smol(c) => smol::opencode::OpenCodeClient::with_client(c.clone(), options)?
                .opencode()
                .clone(),
            Http::Mio(c) => mio::opencode::OpenCodeClient::with_client(c, options)?
                .opencode()
                .clone(),
        })
    }

    /// The runtime's health watch over `opencode` (mio's runs on its thread host).
    pub fn watch(&self, opencode: &OpenCode, config: HealthConfig) -> HealthWatch {
        match self {
            Http::Tokio(_) => plue_http::tokio::opencode::watch(opencode, config),
            Http::Smol(_) => plue_http::smol::opencode::watch(opencode, config),
            Http::Mio(_) => HealthWatch::start(ThreadHost, opencode.clone(), config),
        }
    }

    /// The runtime's server manager; its clients send through this client.
    pub fn start_server(&self, options: ManagerOptions) -> Manager {
        match self {
            Http::Tokio(c) => {
                Manager::Async(plue_http::tokio::opencode::start_server_with(c, options))
            }
            Http::Smol(c) => {
                Manager::Async(plue_http::smol::opencode::start_server_with(c, options))
            }
            Http::Mio(c) => Manager::Mio(plue_http::mio::opencode::ServerManager::start_with(
                c, options,
            )),
        }
    }
}

/// A runtime's server manager, blocked on.
#[derive(Debug)]
pub enum Manager {
    /// tokio's or smol's (the core's async manager).
    Async(ServerManager),
    /// mio's blocking manager.
    Mio(plue_http::mio::opencode::ServerManager),
}

impl Manager {
    /// Block until the first healthy server: a client that follows it across restarts.
    pub fn ready(&self) -> Result<OpenCode, StartError> {
        match self {
            Manager::Async(m) => futures_lite::future::block_on(m.ready()),
            Manager::Mio(m) => m.ready().map(|c| c.opencode().clone()),
        }
    }

    /// Every state change, in order (one consumer).
    pub fn reports(&self) -> ReportStream {
        match self {
            Manager::Async(m) => ReportStream::Async(m.reports().boxed()),
            Manager::Mio(m) => ReportStream::Mio(m.reports()),
        }
    }

    /// `true` once the manager stopped (asked to, or it gave up).
    pub fn is_finished(&self) -> bool {
        match self {
            Manager::Async(m) => m.is_finished(),
            Manager::Mio(m) => m.is_finished(),
        }
    }

    /// SIGTERM, SIGKILL after the grace period, reaped. Blocks until done.
    pub fn stop(&self) {
        match self {
            Manager::Async(m) => futures_lite::future::block_on(m.stop()),
            Manager::Mio(m) => m.stop(),
        }
    }
}

/// A manager's or watch's reports.
pub enum ReportStream {
    /// From the core's async handles.
    Async(Boxed<Report>),
    /// From mio's blocking manager.
    Mio(Reports),
}

impl ReportStream {
    /// The next report within `timeout` (`None`: nothing in time, or the source is gone).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Report> {
        match self {
            ReportStream::Async(s) => block_on_timeout(s.next(), timeout).flatten(),
            ReportStream::Mio(r) => r.recv_timeout(timeout),
        }
    }
}

/// Block on `fut` until `deadline`; `None` when the deadline passed first.
pub fn block_until<F: Future>(fut: F, deadline: Instant) -> Option<F::Output> {
    block_on_timeout(fut, deadline.saturating_duration_since(Instant::now()))
}

/// Block on `fut` for at most `timeout` (parking this thread between wake-ups).
pub use plue_http_driver::block_on_timeout;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_block_on_timeout_returns_ready_values_and_gives_up_at_the_deadline() {
        assert_eq!(block_on_timeout(async { 7 }, Duration::ZERO), Some(7));
        let started = Instant::now();
        let never = futures_lite::future::pending::<()>();
        assert_eq!(block_on_timeout(never, Duration::from_millis(50)), None);
        assert!(started.elapsed() >= Duration::from_millis(50));
        // A wake from another thread ends the wait early.
        let (tx, rx) = async_channel::bounded(1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = tx.send_blocking(5);
        });
        assert_eq!(
            block_on_timeout(rx.recv(), Duration::from_secs(10)).map(Result::ok),
            Some(Some(5))
        );
    }
}
