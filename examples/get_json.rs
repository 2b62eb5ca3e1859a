//! A GET decoded as JSON, on tokio.
//!
//! ```sh
//! cargo run --example get_json -- http://127.0.0.1:4096/global/health
//! ```
//! Without an argument it asks `OPENCODE_URL` (or `http://127.0.0.1:4096`) for `/global/health`.

use plue_http::tokio::Client;
use plue_http::{Method, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), plue_http::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        let base = std::env::var("OPENCODE_URL").unwrap_or_else(|_| "http://127.0.0.1:4096".into());
        format!("{}/global/health", base.trim_end_matches('/'))
    });
    let client = Client::new(Options::default())?;
    // `request_json` turns a non-2xx answer into `ErrorKind::Status` with the parsed error body.
    let value: serde_json::Value = client
        .request_json(client.builder(Method::GET, &url))
        .await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    Ok(())
}
