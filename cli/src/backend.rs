//! Which server plue talks to: `--url` / `OPENCODE_URL`, else `--spawn`, else the embedded demo server; and
//! [`Supervised`], a server of our own under the runtime's server manager (`--spawn`, `plue serve`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use plue_http_core::client::Options;
use plue_http_core::sse::ReconnectCause;
use plue_http_core::url::redact_str;
use plue_opencode::supervisor::StartFailure;
use plue_opencode::{HealthState, OpenCodeOptions, SupervisorState};
use plue_opencode::{ManagerOptions, Report, StartError};

use crate::embedded::Embedded;
use crate::fail::{Exit, Fail};
use crate::oc::Oc;
use crate::rt::{Http, Manager, RuntimeKind};
use crate::ui::Ui;

/// What keeps the server alive for the command's duration (dropping it stops a server plue started).
pub enum Server {
    /// A server someone else runs.
    Remote,
    /// A server plue started.
    Spawned {
        /// Stops the server when dropped.
        _server: Supervised,
    },
    /// The embedded demo server.
    Embedded {
        /// Stops the server thread when dropped.
        _server: Embedded,
    },
}

/// The connection settings a command needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--url` or `OPENCODE_URL`.
    pub url: Option<String>,
    /// `--spawn`.
    pub spawn: bool,
    /// `--runtime`.
    pub runtime: RuntimeKind,
    /// `--directory`.
    pub directory: Option<String>,
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
    /// `--pin`, split at `;`.
    pub pins: Vec<String>,
}

impl Settings {
    /// The HTTP client options these settings ask for: `--cacert` trusts only that file's roots, `--pin` pins
    /// the `--url` host's key.
    pub fn http_options(&self) -> Result<Options, Fail> {
        let mut options = Options::default();
        if let Some(path) = &self.cacert {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                Fail::usage(format!(
                    "Could not read the CA file {}: {e}; nothing had succeeded before.",
                    path.display()
                ))
            })?;
            options.root_certificates = vec![pem];
            options.tls_built_in_roots = false;
        }
        let pins: Vec<String> = self
            .pins
            .iter()
            .flat_map(|p| p.split(';'))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if !pins.is_empty() {
            let Some(url) = &self.url else {
                return Err(Fail::usage(
                    "--pin needs --url (the pins are for that server's host); nothing had succeeded before.",
                ));
            };
            let host = plue_http::Url::parse(url)
                .map_err(|e| {
                    Fail::usage(format!(
                        "The server URL {url:?} cannot be used: {e}; nothing had succeeded before."
                    ))
                })?
                .host()
                .to_string();
            options.pinned_public_keys.insert(host, pins);
        }
        Ok(options)
    }
}

/// The OpenCode client for `url` on `http`'s runtime, with `--directory` (auth comes from
/// `OPENCODE_SERVER_USERNAME` / `OPENCODE_SERVER_PASSWORD`).
pub fn open(url: &str, settings: &Settings, http: &Http, ui: &Arc<Ui>) -> Result<Oc, Fail> {
    let mut opts = OpenCodeOptions::new(url);
    opts.directory.clone_from(&settings.directory);
    let opencode = http.opencode(opts).map_err(|e| {
        Fail::usage(format!(
            "The server URL {:?} cannot be used: {}; nothing had succeeded before.",
            redact_str(url),
            e.kind()
        ))
    })?;
    Ok(Oc {
        opencode,
        ui: ui.clone(),
    })
}

/// An HTTP client on the chosen runtime.
pub fn client(settings: &Settings, options: Options) -> Result<Http, Fail> {
    Http::new(settings.runtime, options).map_err(|e| {
        Fail::new(
            Exit::Usage,
            format!("Could not start the HTTP client: {e}."),
        )
    })
}

/// Choose and, where needed, start the server. Says on stderr which backend is in use.
pub fn connect(settings: &Settings, ui: &Arc<Ui>, http: &Http) -> Result<(Oc, Server), Fail> {
    let rt = settings.runtime.name();
    if let Some(url) = &settings.url {
        let from = if std::env::var("OPENCODE_URL").ok().as_deref() == Some(url) {
            "OPENCODE_URL"
        } else {
            "--url"
        };
        ui.info(&format!(
            "Backend: OpenCode server at {} (from {from}; runtime {rt})",
            redact_str(url)
        ));
        return Ok((open(url, settings, http, ui)?, Server::Remote));
    }
    if settings.spawn {
        let bin = find_binary(None)?;
        ui.info(&format!(
            "Backend: OpenCode server started by plue from {} (runtime {rt})",
            bin.display()
        ));
        let server = Supervised::start(http, bin, settings, ui);
        let opencode = server.ready()?;
        let oc = Oc {
            opencode,
            ui: ui.clone(),
        };
        return Ok((oc, Server::Spawned { _server: server }));
    }
    let embedded = Embedded::start().map_err(|e| {
        Fail::new(
            Exit::Connect,
            format!("Could not start the embedded demo server: {e}; nothing had succeeded before."),
        )
    })?;
    let url = embedded.url();
    ui.info(&format!(
        "Backend: embedded demo server at {url} (no --url, OPENCODE_URL or --spawn given; runtime {rt})"
    ));
    Ok((
        open(&url, settings, http, ui)?,
        Server::Embedded { _server: embedded },
    ))
}

/// Why a stream reconnects, in words.
pub fn cause_text(cause: &ReconnectCause) -> String {
    match cause {
        ReconnectCause::Eof => "the server ended the stream".into(),
        ReconnectCause::Network(e) => format!("{e}"),
        ReconnectCause::Status(s) => format!("the server answered {s}"),
        ReconnectCause::IdleTimeout => "no byte arrived for too long".into(),
        ReconnectCause::InvalidResponse => "the response broke HTTP framing".into(),
        _ => "the stream broke".into(),
    }
}

/// The OpenCode binary: `bin`, else `OPENCODE_BIN`, else `opencode` on `PATH` (a missing one is a usage error,
/// found before anything starts).
pub fn find_binary(bin: Option<PathBuf>) -> Result<PathBuf, Fail> {
    if let Some(b) = bin.or_else(|| std::env::var_os("OPENCODE_BIN").map(PathBuf::from)) {
        return if b.is_file() {
            Ok(b)
        } else {
            Err(Fail::usage(format!(
                "Could not start OpenCode: {} does not exist; nothing had succeeded before.",
                b.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("opencode"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Fail::usage(
                "Could not start OpenCode: no `opencode` on PATH and OPENCODE_BIN is not set (use --url for a \
                 running server, or leave both out to use the embedded demo server); nothing had succeeded before.",
            )
        })
}

/// `opencode serve` under the runtime's server manager, its reports printed on stderr by a small thread.
/// Dropping it stops the server and waits until it is reaped.
pub struct Supervised {
    manager: Arc<Manager>,
    printer: Option<JoinHandle<()>>,
    ui: Arc<Ui>,
}

impl Supervised {
    /// Start `bin serve` (returns at once; see [`Supervised::ready`]).
    pub fn start(http: &Http, bin: PathBuf, settings: &Settings, ui: &Arc<Ui>) -> Supervised {
        let base = ManagerOptions {
            binary: Some(bin.clone()),
            directory: settings.directory.clone(),
            ..ManagerOptions::default()
        };
        let mut options = base.clone();
        options.command = Some(Arc::new(move |port| {
            let mut cmd = base.command(port);
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent: if plue dies (even by
            // SIGKILL, when no manager can stop the server), the kernel stops the server instead of leaving it.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            cmd
        }));
        let manager = Arc::new(http.start_server(options));
        let (m, u) = (manager.clone(), ui.clone());
        let printer = std::thread::spawn(move || {
            let mut reports = m.reports();
            loop {
                match reports.recv_timeout(Duration::from_millis(100)) {
                    Some(r) => print_report(&u, &bin, r),
                    // Every report is queued before the manager says it finished: take the rest, then end.
                    None if m.is_finished() => {
                        while let Some(r) = reports.recv_timeout(Duration::ZERO) {
                            print_report(&u, &bin, r);
                        }
                        return;
                    }
                    None => {}
                }
            }
        });
        Supervised {
            manager,
            printer: Some(printer),
            ui: ui.clone(),
        }
    }

    /// Wait (with the spinner) until the server is healthy: a client that follows it across restarts.
    pub fn ready(&self) -> Result<plue_opencode::OpenCode, Fail> {
        let ready = {
            let _spin = self.ui.spinner("Connecting to OpenCode server...");
            self.manager.ready()
        };
        ready.map_err(|e| {
            let exit = match e {
                StartError::Failed(StartFailure::Timeout | StartFailure::HealthTimeout) => {
                    Exit::Timeout
                }
                _ => Exit::Connect,
            };
            Fail::plain(exit, "start OpenCode", &e.to_string(), None)
        })
    }

    /// `true` once the manager stopped or gave up.
    pub fn finished(&self) -> bool {
        self.manager.is_finished()
    }

    /// Stop the server, reap it, and print the last reports.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.manager.stop();
        if let Some(p) = self.printer.take() {
            let _ = p.join();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One stderr line per report that matters to a user.
fn print_report(ui: &Ui, bin: &std::path::Path, report: Report) {
    let line = match report {
        Report::Health(HealthState::Healthy { version }) => format!(
            "OpenCode server healthy (version {})",
            version.as_deref().unwrap_or("unknown version")
        ),
        Report::Health(HealthState::Restarting) => {
            "The server stopped answering: restarting it".into()
        }
        // "Connection lost. Reconnecting... (attempt k/N)", the monitor giving up, a moved server.
        Report::Notice(text) => text,
        Report::Server(state) => match state {
            SupervisorState::Idle => return,
            SupervisorState::Starting => {
                format!("Starting OpenCode server ({})...", bin.display())
            }
            SupervisorState::WaitingHealth { url } => {
                format!("OpenCode server listening on {url}; waiting for its first event")
            }
            SupervisorState::Running { url } => format!("OpenCode server running at {url}"),
            SupervisorState::Restarting => "Restarting the OpenCode server...".into(),
            SupervisorState::Stopping => "Stopping the OpenCode server (SIGTERM)...".into(),
            SupervisorState::Exited { code } => {
                format!("OpenCode server exited ({})", code_text(code))
            }
            SupervisorState::Stopped => "OpenCode server stopped".into(),
            SupervisorState::Failed(f) => format!(
                "OpenCode server failed: {}",
                StartError::Failed(f)
                    .to_string()
                    .trim_start_matches("the OpenCode server ")
            ),
        },
        _ => return,
    };
    ui.info(&line);
}

fn code_text(code: Option<i32>) -> String {
    code.map_or_else(|| "killed by a signal".into(), |c| format!("code {c}"))
}
