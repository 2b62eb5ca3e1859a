//! The client machine: one state machine owning the pool, the queue, per-request flows and event streams.

mod conn;
mod deadline;
mod dns;
mod exchange;
mod flow;
mod io;
mod last_success;
mod machine;
mod options;
mod outcome;
mod policy;
mod queue;
mod redirect;
mod stream;

#[cfg(test)]
mod tests;

pub use crate::pool::HostStats;
pub use io::{ConnId, Event, Input, Output, RequestId};
pub use machine::{ClientMachine, StreamOptions, MAX_UNDELIVERED};
pub use options::Options;
