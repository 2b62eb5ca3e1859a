//! Blocking calls on the mio runtime: a GET, then the first events of a stream, with no async runtime.
//!
//! ```sh
//! cargo run --example mio_blocking --features mio -- http://127.0.0.1:4096
//! ```

use std::time::Duration;

use plue_http::mio::Client;
use plue_http::Options;

fn main() -> Result<(), plue_http::Error> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4096".into());
    let client = Client::new(Options {
        base_url: Some(base),
        ..Options::default()
    })?;
    let health = client.get("/global/health")?;
    println!("{} {}", health.status(), health.text());
    let mut events = client.events("/event");
    // `next_timeout` waits at most this long; `Ok(None)` means nothing arrived in time.
    while let Some(item) = events.next_timeout(Duration::from_secs(6))? {
        println!("{item:?}");
    }
    Ok(())
}
