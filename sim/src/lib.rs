//! # plue-http-sim
//!
//! The deterministic simulation of plue-http: a virtual clock, a scripted sans-IO HTTP/1.1 server, a simulated
//! network with faults, a workload generator, an invariant checker, the runner that ties them to the client
//! machine, a hand-driven harness for scenario tests, and a fake OpenCode. Everything is driven by one seed; a
//! failing seed replays identically.
//!
//! - [`server`]: the scripted server (`accept` / `handle_data` / `handle_eof` / `poll_output`), reusable over real
//!   sockets.
//! - [`net`] and [`faults`]: TCP as a driver sees it, with splits, latency, refusals, black holes, resets,
//!   restarts and the idle keep-alive close race.
//! - [`workload`], [`invariants`], [`runner`]: one seed → one workload → every invariant checked
//!   ([`run_seed`]).
//! - [`harness`]: the same machine and network driven request by request.
//! - [`proxy`]: a scripted proxy (`CONNECT` and SOCKS5) in front of a scripted server, with a fault at any
//!   handshake step.
//! - [`fake_opencode`]: a small stateful fake of the OpenCode server for the demo and scenario tests.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod fake_opencode;
pub mod faults;
pub mod harness;
pub mod invariants;
pub mod lifecycle;
pub mod net;
pub mod proxy;
#[cfg(test)]
mod proxy_tests;
pub mod runner;
pub mod server;
pub mod tls;
pub mod workload;

#[cfg(test)]
mod tls_tests;

pub use harness::Harness;
pub use runner::{run_seed, run_traced, run_workload, Failure, RunReport};
