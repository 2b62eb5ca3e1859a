//! The client machine: one state machine owning the pool, the queue, per-request flows and event streams.

mod batch;
mod conn;
mod deadline;
mod dns;
mod exchange;
mod flow;
mod handshake;
pub(crate) mod io;
mod last_success;
mod machine;
mod options;
mod outcome;
mod policy;
mod queue;
pub(crate) mod redirect;
mod stack;
mod stream;
mod stream_flow;

#[cfg(test)]
mod tests;

pub use crate::pool::HostStats;
pub use io::{ConnId, Event, Input, NetInput, Output, RequestId};
pub use machine::ClientMachine;
pub use options::{Options, StreamOptions, MAX_UNDELIVERED};
