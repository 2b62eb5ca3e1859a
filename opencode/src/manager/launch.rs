//! One launch of `opencode serve`: a fresh random password (unless the caller fixed one), its own process group, and (on Linux) a death
//! signal, so a spawned server refuses strangers and never outlives the app.
//!
//! The death signal (`PR_SET_PDEATHSIG`) must be set in the child between `fork` and `exec`, which std only
//! offers through the unsafe `pre_exec`, and this crate forbids unsafe code. The server is started through
//! util-linux's `setpriv --pdeathsig KILL -- opencode …` instead: `setpriv` sets it and `exec`s the server in the
//! same process (same pid, same process group). Where `setpriv` is missing (not Linux, or a minimal system)
//! the server starts without it and a warning is logged; the process group and the manager's stop still apply.
//! The kernel sends the signal when the *thread* that spawned the server exits: the manager spawns from its own
//! loop, which lives as long as the manager.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::ManagerOptions;
use crate::Auth;

/// The command for one launch and the credentials the clients use with it.
pub(super) struct Launch {
    pub(super) command: Command,
    pub(super) auth: Auth,
}

impl core::fmt::Debug for Launch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Launch")
            .field("program", &self.command.get_program())
            .field("auth", &self.auth)
            .finish()
    }
}

/// 128 random bits from the OS, as 32 hex digits (safe in an environment variable and a Basic credential).
pub(super) fn fresh_password() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Prepare `opencode serve` on `port`: password, user name, process group, death signal. Fails when the
/// program cannot be found (before anything runs, so the failure is a spawn failure, not an early exit).
pub(super) fn prepare(options: &ManagerOptions, port: u16) -> io::Result<Launch> {
    let username = options
        .auth
        .as_ref()
        .map_or(Auth::DEFAULT_USERNAME, |a| a.username.as_str())
        .to_string();
    let password = match options.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => fresh_password()?,
    };
    let mut cmd = options.command(port);
    cmd.env("OPENCODE_SERVER_USERNAME", &username)
        .env("OPENCODE_SERVER_PASSWORD", &password)
        .process_group(0);
    let program = find_program(cmd.get_program())?;
    let command = match find_program(OsStr::new("setpriv")) {
        Ok(setpriv) if cfg!(target_os = "linux") => with_death_signal(&cmd, &setpriv, &program),
        _ => {
            tracing::warn!(
                "setpriv not found: the OpenCode server may outlive this process if it is killed"
            );
            cmd
        }
    };
    Ok(Launch {
        command,
        auth: Auth { username, password },
    })
}

/// `setpriv --pdeathsig KILL -- program args…` with everything else of `cmd` (directory, environment, group).
fn with_death_signal(cmd: &Command, setpriv: &Path, program: &Path) -> Command {
    let mut out = Command::new(setpriv);
    out.args(["--pdeathsig", "KILL", "--"])
        .arg(program)
        .args(cmd.get_args())
        .process_group(0);
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    out
}

/// A program as `exec` would find it: a path with a `/` as is, else the first executable file on `PATH`.
fn find_program(program: &OsStr) -> io::Result<PathBuf> {
    let p = Path::new(program);
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} not found", p.display()),
        )
    };
    if p.components().count() > 1 || program.as_encoded_bytes().contains(&b'/') {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(not_found())
        };
    }
    let path = std::env::var_os("PATH").ok_or_else(not_found)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(p))
        .find(|c| is_executable(c))
        .ok_or_else(not_found)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_launch_has_a_fresh_password_and_a_death_signal() {
        let opts = ManagerOptions {
            command: Some(std::sync::Arc::new(|port| {
                let mut c = Command::new("sh");
                c.args(["-c", "echo"]).arg(port.to_string()).env_remove("X");
                c
            })),
            ..ManagerOptions::default()
        };
        let a = prepare(&opts, 7).unwrap();
        let b = prepare(&opts, 7).unwrap();
        assert_ne!(a.auth.password, b.auth.password);
        assert_eq!(a.auth.password.len(), 32);
        assert_eq!(a.auth.username, "opencode");
        let envs: Vec<_> = a.command.get_envs().collect();
        assert!(envs.contains(&(
            OsStr::new("OPENCODE_SERVER_PASSWORD"),
            Some(OsStr::new(a.auth.password.as_str()))
        )));
        assert!(envs.contains(&(OsStr::new("X"), None)));
        // Debug output never shows the password.
        assert!(!format!("{a:?}").contains(&a.auth.password));
        if cfg!(target_os = "linux") && find_program(OsStr::new("setpriv")).is_ok() {
            let args: Vec<_> = a.command.get_args().collect();
            assert_eq!(&args[..3], ["--pdeathsig", "KILL", "--"]);
            assert!(Path::new(args[3]).ends_with("sh"));
            assert_eq!(&args[4..], ["-c", "echo", "7"]);
        }
        let missing = ManagerOptions {
            binary: Some("/nonexistent/opencode".into()),
            ..ManagerOptions::default()
        };
        assert_eq!(
            prepare(&missing, 0).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
