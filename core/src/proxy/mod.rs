//! Proxies: which proxy a request goes through, and the handshakes that open a tunnel through it.
//!
//! ```text
//!  TCP bytes ⇄ [ConnectStage | Socks5Stage] ⇄ [TLS] ⇄ [h1 codec] ⇄ requests      (tunnel: https://, SOCKS5)
//!  TCP bytes ⇄ [h1 codec, absolute-form target + Proxy-Authorization] ⇄ requests   (forwarding: http:// via HTTP)
//! ```
//!
//! - `config.rs` — [`ProxyConfig`] and the per-target decision [`Route`] (loopback direct unless explicit).
//! - `env.rs` — [`ProxyConfig::from_env`]: the environment as curl reads it, from a snapshot.
//! - `system.rs` — [`ProxyConfig::from_system`]: macOS settings as plain values.
//! - `no_proxy.rs` — [`NoProxy`]: the bypass list (suffixes, IPs, CIDR, ports, `*`).
//! - `url.rs` — [`ProxyUrl`] and [`Credentials`] (never shown in `Debug`, `Display` or errors).
//! - `connect.rs` — [`ConnectStage`]: the HTTP `CONNECT` handshake.
//! - `socks5.rs` — [`Socks5Stage`]: the SOCKS5 handshake (RFC 1928, RFC 1929).
//! - `hop.rs` — [`Hop`]: one connection's way through a proxy (TCP target, bottom stage, request form, pool identity).
//! - `tunnel.rs` — what both stages share: held writes, the handshake deadline, pass-through.
//! - `error.rs` — [`ProxyError`], [`SocksReply`]: typed, distinct from the origin's errors.
//!
//! Authentication: Basic for HTTP proxies (sent on the first request), username/password for SOCKS5, or none.
//! NTLM and Negotiate (Kerberos) proxy authentication are not supported. A TLS-inspecting proxy works when its
//! CA certificate is trusted (in the OS store or given as a root).

mod config;
mod connect;
mod env;
pub mod error;
mod hop;
mod no_proxy;
mod socks5;
mod system;
mod tunnel;
mod url;

pub use config::{is_loopback, IgnoredVariable, ProxyConfig, ProxySource, Route};
pub use connect::{ConnectStage, MAX_CONNECT_HEAD};
pub use error::{ProxyError, SocksReply};
pub use hop::{Hop, HopKind};
pub use no_proxy::NoProxy;
pub use socks5::{Socks5Stage, SocksTarget};
pub use system::{SystemProxy, SystemProxySettings};
pub use url::{Credentials, ProxyKind, ProxyUrl, DEFAULT_PROXY_PORT};

#[cfg(test)]
mod connect_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod socks5_tests;
