//! The `plue` command: talk to an OpenCode server, or stand one up. See `plue --help` and cli/README.md.
//!
//! Layout: [`args`] (clap), [`rt`] (`--runtime`: the runtime's OpenCode client, health watch and server
//! manager, blocked on), [`backend`] (which server; a supervised one for `--spawn` and `serve`), [`oc`] (typed
//! calls, timed, with one-sentence errors), [`embedded`] (the demo server), [`cmd`], [`ui`], [`fail`].

mod args;
mod backend;
mod cmd;
mod fail;
mod oc;
mod rt;
mod ui;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use plue_cli::embedded;

use args::{Cli, Command};
use backend::Settings;
use fail::{Exit, Fail};
use ui::Ui;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Arc::new(Ui::new(cli.json, cli.verbose));
    match run(cli, &ui) {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            ui.info(&format!("Error: {}", f.message));
            if ui.json() {
                ui.emit(&serde_json::json!({"error": f.message, "exit": f.exit as u8}));
            }
            f.exit.into()
        }
    }
}

fn run(cli: Cli, ui: &Arc<Ui>) -> Result<(), Fail> {
    args::check(&cli)?;
    let settings = Settings {
        url: cli.url,
        spawn: cli.spawn,
        runtime: cli.runtime,
        directory: cli.directory,
        cacert: cli.cacert,
        pins: cli.pins,
    };
    let http = || backend::client(&settings, settings.http_options()?);
    // The server (spawned or embedded) lives until the command returns.
    let connect = || -> Result<_, Fail> { backend::connect(&settings, ui, &http()?) };
    match cli.command {
        Command::Demo => cmd::demo::run(&settings, ui),
        Command::Serve { bin } => cmd::serve::run(&settings, ui, &http()?, bin),
        Command::Health => connect().and_then(|(oc, _server)| cmd::basic::health(&oc)),
        Command::Sessions => connect().and_then(|(oc, _server)| cmd::basic::sessions(&oc)),
        Command::New { title } => connect().and_then(|(oc, _server)| cmd::basic::new(&oc, title)),
        Command::Chat {
            text,
            session,
            model,
        } => connect().and_then(|(oc, _server)| cmd::chat::run(&oc, &text, session, model)),
        Command::Events { global, count } => {
            connect().and_then(|(oc, _server)| cmd::events::run(&oc, global, count))
        }
    }
}
