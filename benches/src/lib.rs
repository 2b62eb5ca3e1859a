//! Shared benchmark helpers: corpora, servers and measurements.
//!
//! The benches measure plue-http and its peers against one loopback server process in one run, interleaved,
//! with the client's CPU time (getrusage) as the primary metric: client and server share two cores, so wall
//! time mostly measures the server. `benches/clients.rs` is the harness; `bench-server` the bundled server;
//! `bench-report` turns the harness's JSON (and criterion's estimates) into `benches/README.md`.

pub mod alloc;
pub mod clients;
pub mod corpus;
pub mod docroot;
pub mod harness;
pub mod measure;
pub mod server;
pub mod subject;
pub mod sys;
