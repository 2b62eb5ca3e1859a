//! Which server plue talks to: `--url` / `OPENCODE_URL`, else `--spawn`, else the embedded demo server.

use std::sync::Arc;
use std::time::Duration;

use plue_http_core::client::Options;
use plue_http_core::opencode::{Api, Auth, OpenCodeOptions};
use plue_http_core::sse::ReconnectCause;

use crate::embedded::Embedded;
use crate::fail::{Exit, Fail};
use crate::manager::{self, Manager};
use crate::net::{Http, RuntimeKind};
use crate::oc::Oc;
use crate::ui::Ui;

/// What keeps the server alive for the command's duration.
pub enum Server {
    /// A server someone else runs.
    Remote,
    /// A server plue started; stopped when this is dropped.
    Spawned {
        /// Owns the process.
        _manager: Manager,
    },
    /// The embedded demo server; stopped when this is dropped.
    Embedded {
        /// Owns the server thread.
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
}

/// An OpenCode connection for `url` on `runtime`, with `--directory` and Basic auth from
/// `OPENCODE_SERVER_USERNAME` / `OPENCODE_SERVER_PASSWORD`.
pub fn open(url: &str, settings: &Settings, http: &Http, ui: &Arc<Ui>) -> Result<Oc, Fail> {
    let mut opts = OpenCodeOptions::new(url);
    opts.directory.clone_from(&settings.directory);
    opts.auth = Auth::from_env_values(
        std::env::var("OPENCODE_SERVER_USERNAME").ok().as_deref(),
        std::env::var("OPENCODE_SERVER_PASSWORD").ok().as_deref(),
    );
    let api = Api::new(&opts).map_err(|e| {
        Fail::usage(format!(
            "The server URL {url:?} cannot be used: {e}; nothing had succeeded before."
        ))
    })?;
    Ok(Oc {
        api,
        http: http.clone(),
        ui: ui.clone(),
    })
}

/// Client options for the CLI: the defaults, with `retry_delay` shortened where a command wants quick
/// reconnects.
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
            "Backend: OpenCode server at {url} (from {from}; runtime {rt})"
        ));
        return Ok((open(url, settings, http, ui)?, Server::Remote));
    }
    if settings.spawn {
        let bin = manager::find_binary(None)?;
        ui.info(&format!(
            "Backend: OpenCode server started by plue from {} (runtime {rt})",
            bin.display()
        ));
        let (s, h, u) = (settings.clone(), http.clone(), ui.clone());
        let mgr = Manager::start(bin, ui.clone(), Box::new(move |url| open(url, &s, &h, &u)));
        let url = {
            let _spin = ui.spinner("Connecting to OpenCode server...");
            mgr.wait_ready(Duration::from_secs(90))?
        };
        return Ok((
            open(&url, settings, http, ui)?,
            Server::Spawned { _manager: mgr },
        ));
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
