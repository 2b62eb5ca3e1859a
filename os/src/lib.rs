//! # plue-http-os
//!
//! What the operating system tells a desktop client, turned into inputs for the core: each watcher is a raw
//! source (a clock, a file descriptor) plus a pure parser, so the decision it feeds stays in the core and the
//! parser is tested without the OS.
//!
//! - [`sleep`]: a suspend (laptop lid, system sleep) seen as a jump between the monotonic clock, which stops
//!   while suspended, and the boot-time clock, which does not. Checked whenever the driver wakes anyway; it
//!   needs no timer of its own.
//! - [`netlink`] (Linux): interface and address changes from a `NETLINK_ROUTE` socket.
//! - [`psi`] (Linux): memory pressure from a PSI trigger on `/proc/pressure/memory`.
//! - `macos` (macOS only, not compiled here): interface and address changes from a routing socket.
//! - [`watcher`]: all of the above behind ONE pollable descriptor, which each runtime registers through the
//!   driver's `Runtime::wait_readable`.
//! - [`proxy_settings`]: the system's proxy settings (macOS SystemConfiguration), as plain values for the core.
// Unsafe code is forbidden, except (on macOS only) for one reviewed CoreFoundation call in `proxy_settings`.
#![cfg_attr(not(target_os = "macos"), forbid(unsafe_code))]
#![cfg_attr(target_os = "macos", deny(unsafe_code))]
#![deny(missing_docs)]

#[cfg(target_os = "macos")]
mod macos;
pub mod netlink;
pub mod proxy_settings;
pub mod psi;
pub mod sleep;
pub mod watcher;

pub use watcher::{OsEvent, OsWatcher};
