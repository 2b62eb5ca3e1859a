//! Conformance scenarios, drivers, loopback hosts and the real-OpenCode fixture.

pub mod drivers;
pub mod echo;
pub mod hostile;
pub mod hostile_proxy;
pub mod loopback;
pub mod mock_model;
pub mod nginx;
pub mod opencode_checks;
pub mod opencode_fixture;
pub mod scenarios;
pub mod tls_server;
