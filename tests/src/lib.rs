//! Conformance scenarios, drivers, loopback hosts and the real-OpenCode fixture.

pub mod bad_proxies;
pub mod drivers;
pub mod echo;
pub mod hostile;
pub mod hostile_proxy;
pub mod loopback;
pub mod mock_model;
pub mod netns;
pub mod nginx;
pub mod opencode_checks;
pub mod opencode_fixture;
pub mod real_proxies;
pub mod scenarios;
pub mod tls_server;

/// The tokio runtime the per-runtime tests drive their scenarios on: two workers, timers and I/O on.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
