//! Command-line arguments. Global options come before the subcommand: `plue --url URL chat "hi"`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::fail::Fail;
use crate::rt::RuntimeKind;

const AFTER_HELP: &str = "\
Server selection: --url (or OPENCODE_URL) talks to a running OpenCode server; otherwise --spawn starts one
(OPENCODE_BIN or `opencode` on PATH); otherwise plue starts its embedded demo server on loopback (an
OpenCode-compatible fake with a canned model), so every command works with nothing installed.

Exit codes:
  0  success
  1  the server answered with an error (API error, session error, unexpected answer, an answer cut off
     mid-body)
  2  usage error (bad option, empty or bad URL, empty prompt, model or id; OpenCode binary not found for --spawn)
  3  cannot connect (TLS failures too: untrusted certificate, pin mismatch), the server is unhealthy, or
     the connection was lost before an answer began
  4  timeout

First command on a fresh clone:  cargo run --release -p plue-cli -- demo";

/// Talk to an OpenCode server (or stand one up): health, sessions, streamed chat, events, supervision.
#[derive(Debug, Parser)]
#[command(name = "plue", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The OpenCode server URL, e.g. http://127.0.0.1:4096.
    #[arg(long, env = "OPENCODE_URL", global = true)]
    pub url: Option<String>,
    /// Start an OpenCode server (OPENCODE_BIN, or `opencode` on PATH) and stop it when done.
    #[arg(long, global = true, conflicts_with = "url")]
    pub spawn: bool,
    /// The runtime that drives the HTTP client.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio, global = true)]
    pub runtime: RuntimeKind,
    /// Print each request's latency ("Provider list fetched (124 ms)") on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Machine-readable output: one JSON value per line on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The project directory the server should act in.
    #[arg(long, global = true)]
    pub directory: Option<String>,
    /// Trust only the CA certificates in this PEM file for https (as curl's --cacert).
    #[arg(long, global = true, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,
    /// Pin the server's key: sha256//BASE64 of its certificate's public key (repeatable, or ';'-separated;
    /// several are alternatives).
    #[arg(long = "pin", global = true, value_name = "sha256//BASE64")]
    pub pins: Vec<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the server through /event and print its version.
    Health,
    /// List sessions, one per line, starting with the session id.
    Sessions,
    /// Create a session and print its id.
    New {
        /// The session title.
        #[arg(long)]
        title: Option<String>,
    },
    /// Send a prompt and print the reply as it streams in, then the final text.
    Chat {
        /// The prompt.
        text: String,
        /// The session to use (a new one is created when absent).
        #[arg(long)]
        session: Option<String>,
        /// The model, as provider/model.
        #[arg(long)]
        model: Option<String>,
    },
    /// Tail the server's events, reconnecting when the connection drops (Ctrl-C to stop).
    Events {
        /// Every directory's events (/global/event) instead of this directory's (/event).
        #[arg(long)]
        global: bool,
        /// Stop after this many bus events (default: run until interrupted).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Start an OpenCode server and supervise it (restart when unhealthy) until Ctrl-C or SIGTERM.
    Serve {
        /// The OpenCode binary (default: OPENCODE_BIN, or `opencode` on PATH).
        #[arg(long)]
        bin: Option<PathBuf>,
    },
    /// Walk through everything against the embedded server: health, a session, a streamed chat, providers,
    /// then a server restart with reconnect and a queued request.
    Demo,
}

/// Checks clap cannot express, each a usage error (exit 2): an empty `--url` / `OPENCODE_URL` (a typo or an unset
/// variable must not silently fall back to the embedded demo server and its fake data), and an empty prompt.
pub fn check(cli: &Cli) -> Result<(), Fail> {
    // `demo` always uses its embedded server and says it ignores any URL.
    let uses_url = !matches!(cli.command, Command::Demo);
    if uses_url && cli.url.as_deref().is_some_and(|u| u.trim().is_empty()) {
        let from = if std::env::var_os("OPENCODE_URL").is_some_and(|v| v.is_empty()) {
            "OPENCODE_URL is set but empty"
        } else {
            "--url is empty"
        };
        return Err(Fail::usage(format!(
            "{from}: give the server URL (e.g. http://127.0.0.1:4096), or leave it out to use the embedded \
             demo server."
        )));
    }
    if let Command::Chat { text, .. } = &cli.command {
        if text.trim().is_empty() {
            return Err(Fail::usage(
                "The prompt is empty: say something, e.g. plue chat \"hello\".",
            ));
        }
    }
    Ok(())
}
