//! The server process: how it is started, and the tasks that drain its output and own it until it is reaped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use futures_lite::future::or;

use super::shared::Msg;
use crate::{Auth, HealthConfig, Signal, SupervisorConfig};
use plue_http_driver::{ChildProcess, ConnRead};

/// Builds the server command for a port (`0`: any free port). Overrides the default command.
pub type CommandFn = Arc<dyn Fn(u16) -> Command + Send + Sync>;

/// How the server manager runs OpenCode.
#[derive(Clone, Default)]
pub struct ManagerOptions {
    /// The `opencode` binary; else `OPENCODE_BIN`; else `opencode` found on `PATH`.
    pub binary: Option<PathBuf>,
    /// A custom command (sandboxing, extra flags). It must print OpenCode's `listening on` line.
    pub command: Option<CommandFn>,
    /// The project directory: the server's working directory and the clients' directory.
    pub directory: Option<String>,
    /// The user name of the Basic credentials (`opencode` when `None`). The password is never taken from
    /// here or the environment: each launch gets a fresh random `OPENCODE_SERVER_PASSWORD`, which the manager's
    /// clients use.
    pub auth: Option<Auth>,
    /// One password for every launch, for a caller that shares it with other clients (`plue serve` takes
    /// `OPENCODE_SERVER_PASSWORD`). `None` (the default): a fresh random password per launch, known only to
    /// the manager's clients.
    pub password: Option<String>,
    /// Health monitor settings (`can_restart` is forced on).
    pub health: HealthConfig,
    /// Process lifecycle settings.
    pub supervisor: SupervisorConfig,
}

impl core::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("binary", &self.binary)
            .field("command", &self.command.as_ref().map(|_| "<custom>"))
            .field("directory", &self.directory)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("health", &self.health)
            .field("supervisor", &self.supervisor)
            .finish_non_exhaustive()
    }
}

impl ManagerOptions {
    /// `opencode serve --port {port} --hostname 127.0.0.1` with autoupdate off, in the project directory.
    pub fn command(&self, port: u16) -> Command {
        if let Some(make) = &self.command {
            return make(port);
        }
        let bin = self
            .binary
            .clone()
            .or_else(|| std::env::var_os("OPENCODE_BIN").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("opencode"));
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--hostname", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1");
        if let Some(dir) = &self.directory {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// Read a pipe for the process's whole life, line by line (a full pipe would block the server).
pub(super) async fn drain<P: ConnRead>(mut pipe: P, tx: Sender<Msg>, gen: u64) {
    let mut buf = vec![0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                line.clear();
                // The manager may be gone; keep draining anyway until the process closes the pipe.
                let _ = tx.try_send(Msg::Line(gen, text));
            } else if line.len() < 64 * 1024 {
                line.push(b);
            }
        }
    }
}

/// Own the process: deliver signals, report its exit (it is reaped: no zombie). If the manager vanishes, kill
/// the process rather than leave it behind.
pub(super) async fn keep<C: ChildProcess>(
    mut child: C,
    signals: Receiver<Signal>,
    tx: Sender<Msg>,
    gen: u64,
) {
    enum Step {
        Exited(Option<i32>),
        Signal(Option<Signal>),
    }
    loop {
        let step = or(
            async { Step::Exited(child.wait().await.ok().and_then(|s| s.code())) },
            async { Step::Signal(signals.recv().await.ok()) },
        )
        .await;
        match step {
            Step::Exited(code) => {
                let _ = tx.send(Msg::Exited(gen, code)).await;
                return;
            }
            Step::Signal(Some(Signal::Term)) => {
                signal_group(&child, rustix::process::Signal::TERM);
                let _ = child.terminate();
            }
            Step::Signal(Some(Signal::Kill)) => {
                signal_group(&child, rustix::process::Signal::KILL);
                let _ = child.kill();
            }
            Step::Signal(None) => {
                signal_group(&child, rustix::process::Signal::KILL);
                let _ = child.kill();
                let _ = child.wait().await;
                return;
            }
        }
    }
}

/// Signal the server's whole process group (it leads its own, so helpers it started go too). The leader itself
/// is signalled through the child handle as well, which also covers a custom command that left the group.
fn signal_group<C: ChildProcess>(child: &C, signal: rustix::process::Signal) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}
