//! The server process the clients talk to: nginx started by `scripts/bench-server.sh`, or the bundled
//! `bench-server` binary spawned here. Always a separate process, so its CPU time is not the client's.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    /// What it is, for the report (`nginx/1.22.1`, `bench-server`).
    pub kind: String,
    child: Option<Child>,
}

impl Server {
    /// The server named by `PLUE_BENCH_ADDR` (and `PLUE_BENCH_SERVER`, its name), if set.
    pub fn from_env() -> Option<Server> {
        let addr = std::env::var("PLUE_BENCH_ADDR").ok()?.parse().ok()?;
        let kind = std::env::var("PLUE_BENCH_SERVER").unwrap_or_else(|_| "external".into());
        Some(Server {
            addr,
            kind,
            child: None,
        })
    }

    /// Spawn the bundled server binary `bin` serving `docroot` on an ephemeral loopback port; it prints
    /// `listening on ADDR` first.
    pub fn spawn(bin: &Path, docroot: &Path) -> io::Result<Server> {
        let mut child = Command::new(bin)
            .arg("--docroot")
            .arg(docroot)
            .arg("--addr")
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Server {
                addr,
                kind: "bench-server (bundled)".into(),
                child: Some(child),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!("bench-server said {line:?}")))
            }
        }
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
