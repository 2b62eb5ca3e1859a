//! A server-sent event stream that reconnects by itself, on tokio.
//!
//! ```sh
//! cargo run --example event_stream -- http://127.0.0.1:4096/event 5
//! ```
//! Prints the first N items (default 5): `Connected`, each event, and `Reconnecting` notices if the link drops.

use futures_lite::StreamExt;
use plue_http::tokio::Client;
use plue_http::{Options, StreamEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), plue_http::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:4096/event".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let client = Client::new(Options::default())?;
    let mut events = client.events(&url);
    for _ in 0..count {
        match events.next().await {
            Some(Ok(StreamEvent::Event(ev))) => println!("event {:?}: {}", ev.event, ev.data),
            Some(Ok(other)) => println!("{other:?}"),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    // Dropping the stream aborts it and closes its connection.
    Ok(())
}
