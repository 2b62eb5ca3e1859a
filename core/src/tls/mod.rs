//! HTTPS: TLS 1.2 and 1.3 through rustls, as a [`Stage`](crate::stage::Stage) of a connection.
//!
//! rustls' `ClientConnection` is itself sans-IO (ciphertext in with `read_tls`, plaintext out of `reader`,
//! plaintext in with `writer`, ciphertext out with `write_tls`), so the core drives it like any other stage and
//! no runtime adapter has TLS code. What the core does **not** own, it is handed in [`TlsConfig`]:
//!
//! - **crypto**: a rustls `CryptoProvider` (the driver passes ring; the simulation a provider whose randomness
//!   and key exchange derive from its seed);
//! - **trust**: a `ServerCertVerifier` (the driver builds the OS verifier, or one over given roots); the core
//!   never reads a trust store;
//! - **the wall clock**: a rustls `TimeProvider`, consulted only for certificate validity; the driver's reads the
//!   system clock, the simulation's returns a fixed date. The core itself never reads a clock.
//!
//! What the core decides, in one place ([`TlsConfig::client_config`]): protocol versions (1.3 and 1.2), the
//! ALPN list ([`ALPN_PROTOCOLS`]), SNI (the URL's host; none for an IP literal), session resumption (one
//! in-memory store per client machine, so pool refills and event-stream reconnects resume), key pinning (checked
//! after the verifier accepted the chain, so a pin never makes an untrusted chain trusted) and the client
//! identity for mutual TLS.

mod config;
mod errors;
mod pin;
mod stage;

pub use config::{ClientIdentity, TlsConfig, ALPN_PROTOCOLS};
pub use errors::reason_of;
pub use pin::{spki_pin, PinningVerifier};
pub use stage::TlsStage;

#[cfg(test)]
mod tests;
