//! What the health monitor and the server manager need from the world: a clock, timers, tasks, processes.
//!
//! Every async [`Runtime`] is a [`Host`]. The blocking mio crate, which has no async runtime, provides a
//! thread-based one, so one monitor and one manager serve every runtime.

use core::future::Future;
use std::io;
use std::process::Command;
use std::time::Instant as StdInstant;

use plue_http_driver::{ChildProcess, Runtime};

/// Clock, timers, tasks and child processes: the subset of [`Runtime`] the OpenCode manager uses.
pub trait Host: Clone + Send + Sync + 'static {
    /// A child process.
    type Child: ChildProcess;
    /// The monotonic clock.
    fn now(&self) -> StdInstant;
    /// Run a task in the background until it finishes.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F);
    /// Complete at (or after) `deadline`.
    fn sleep_until(&self, deadline: StdInstant) -> impl Future<Output = ()> + Send;
    /// Start a process with stdout and stderr piped and stdin empty (see [`Runtime::spawn_process`]).
    fn spawn_process(&self, command: Command) -> io::Result<Self::Child>;
    /// Whether nothing listens on `127.0.0.1:port`, so a restarted server can take the port back.
    fn port_is_free(&self, port: u16) -> impl Future<Output = bool> + Send;
}

impl<R: Runtime> Host for R {
    type Child = R::Child;
    fn now(&self) -> StdInstant {
        Runtime::now(self)
    }
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        Runtime::spawn(self, fut);
    }
    fn sleep_until(&self, deadline: StdInstant) -> impl Future<Output = ()> + Send {
        Runtime::sleep_until(self, deadline)
    }
    fn spawn_process(&self, command: Command) -> io::Result<R::Child> {
        Runtime::spawn_process(self, command)
    }
    async fn port_is_free(&self, port: u16) -> bool {
        // A refused connection means no listener: the port can be bound again (servers set SO_REUSEADDR).
        let addr = core::net::SocketAddr::from(([127, 0, 0, 1], port));
        matches!(
            Runtime::connect(self, addr).await,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused
        )
    }
}
