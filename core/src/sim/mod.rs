//! Deterministic simulation (feature `sim`): a virtual clock, a scripted sans-IO HTTP/1.1 server, a simulated
//! network with faults, a workload generator, an invariant checker and the runner that ties them to the client
//! machine. Everything is driven by one seed; a failing seed replays identically.

pub mod clock;
pub mod faults;
pub mod invariants;
pub mod net;
pub mod runner;
pub mod server;
pub mod workload;

pub use runner::{run_seed, run_workload, Failure, RunReport};
pub mod fake_opencode;
