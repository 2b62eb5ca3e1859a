//! An OpenCode chat against a server this example spawns and supervises, on tokio.
//!
//! ```sh
//! OPENCODE_BIN=/path/to/opencode cargo run --example opencode_chat -- "Say hello"
//! ```
//! The manager starts `opencode serve` on a free loopback port, waits until `/event` says it is healthy, and
//! restarts it if it dies; the client it hands out follows the server across restarts.

use plue_http::tokio::opencode::{start_server, ManagerOptions, PromptInput};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello in five words.".into());
    let manager = start_server(ManagerOptions::default())?;
    let opencode = manager.ready().await?;
    println!("server at {}", opencode.url());
    let session = opencode
        .session_create(Some("plue-http example"), None)
        .await?;
    let reply = opencode
        .prompt(&session.id, &PromptInput::text(prompt))
        .await?;
    println!("{}", reply.text());
    manager.stop().await;
    Ok(())
}
