//! Conformance scenarios, drivers, loopback hosts and the real-OpenCode fixture.

pub mod drivers;
pub mod echo;
pub mod loopback;
pub mod scenarios;
