//! The client machine: one state machine owning the pool, the queue, per-request flows and event streams.

mod io;
mod options;

pub use io::{ConnId, Event, Input, Output, RequestId};
pub use options::Options;
