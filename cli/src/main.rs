//! The `plue` command.
use clap::Parser;

/// Talk to an OpenCode server.
#[derive(Parser)]
#[command(name = "plue", version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
