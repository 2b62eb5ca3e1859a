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
pub use dns::{ip_literal, DnsCache, Lookup};
pub use io::{ConnId, Event, Input, Output, RequestId};
pub use last_success::LastSuccess;
pub use machine::{ClientMachine, StreamOptions, MAX_UNDELIVERED};
pub use options::Options;
pub use redirect::{is_redirect, next_request as redirect_request, resolve as resolve_location};
