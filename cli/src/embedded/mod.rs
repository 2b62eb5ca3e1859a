//! The embedded default backend: the simulation's fake OpenCode server
//! ([`FakeOpenCode`], a sans-IO handler of the scripted server)
//! served over TCP on loopback by a background thread ([`host::Loopback`]). It needs nothing installed, so
//! `plue demo` and every command work on a fresh clone.

pub mod host;

use std::time::Duration;

use plue_http_sim::fake_opencode::FakeOpenCode;

/// A running embedded server. Stops when dropped.
pub struct Embedded {
    host: host::Loopback,
}

impl Embedded {
    /// Start on a free loopback port.
    pub fn start() -> std::io::Result<Embedded> {
        Ok(Embedded {
            host: host::Loopback::start(FakeOpenCode::server())?,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.host.base_url()
    }

    /// Restart the server: every connection (the event streams too) is reset and the port refuses connections
    /// for `down`; sessions survive.
    pub fn restart(&self, down: Duration) {
        self.host.restart(down);
    }
}
