//! # plue-http-os
//!
//! What the operating system tells a desktop client, turned into inputs for the core: each watcher is a raw
//! source (a clock, a file descriptor) plus a pure parser, so the decision it feeds stays in the core and the
//! parser is tested without the OS.
//!
//! - [`sleep`]: a suspend (laptop lid, system sleep) seen as a jump between the monotonic clock, which stops
//!   while suspended, and the boot-time clock, which does not. Checked whenever the driver wakes anyway; it
//!   needs no timer of its own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sleep;
