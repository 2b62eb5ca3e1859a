//! The whole OpenCode 1.18 API, typed from its OpenAPI document.
//!
//! [`crate::generated`] holds a type for every schema and an [`Operation`] for every operation, written by
//! `cargo run -p xtask -- gen` from `openapi-1.18.34.json`. This module is the hand-written part they stand on:
//! the [`Operation`] trait and table entry, the wire helpers, request building with routing
//! ([`CallOptions`]), and the async client methods ([`crate::OpenCode::send`], the version check and the typed
//! event streams of `/api/event` and `/api/session/{id}/event`).

pub mod call;
pub mod client;
pub mod operation;
pub mod wire;

pub use call::CallOptions;
pub use client::VersionCheck;
pub use operation::{find, Operation, OperationInfo, ParamIn, ParamInfo, ResponseKind};

#[cfg(test)]
mod call_tests;
#[cfg(test)]
mod tolerance_tests;
