//! The server manager and the health watch: they carry out the [`HealthMonitor`](crate::HealthMonitor)'s and
//! [`Supervisor`](crate::Supervisor)'s decisions on a [`Host`] (tasks, timers, child processes), and report
//! every state change.
//!
//! ```text
//!  ServerManager / HealthWatch ──Msg──▶ loop (run.rs: monitor + supervisor) ──▶ Report stream
//!                                         ▲  lines, exits        │ spawn / signal / subscribe
//!                                 process tasks (process.rs) ◀───┘
//! ```

mod host;
mod launch;
mod process;
mod report;
mod run;
mod server;
mod shared;

pub use host::Host;
pub use process::{CommandFn, ManagerOptions};
pub use report::{reconnect_notice, Report, StartError};
pub use server::{HealthWatch, ServerManager};
