//! A GET on smol.
//!
//! ```sh
//! cargo run --example smol_get --features smol -- http://127.0.0.1:4096/global/health
//! ```

use plue_http::smol::Client;
use plue_http::Options;

fn main() -> Result<(), plue_http::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:4096/global/health".into());
    smol::block_on(async {
        let client = Client::new(Options::default())?;
        let response = client.get(&url).await?;
        println!("{} {}", response.status(), response.text());
        Ok(())
    })
}
