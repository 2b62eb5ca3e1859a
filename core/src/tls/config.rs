//! What the driver hands the core for TLS, and the one place the core turns it into a rustls `ClientConfig`.

use core::fmt;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::time_provider::TimeProvider;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::pin::PinningVerifier;
use crate::error::{ErrorKind, TlsReason};

/// The application protocols offered in the TLS handshake, most preferred first. HTTP/2 (`h2`) joins this list
/// when the HTTP/2 connection lands; until then only HTTP/1.1 is offered.
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"http/1.1"];

/// Crypto, trust and wall clock for TLS, built outside the core (by the driver or façade, or the simulation).
///
/// Equality is identity (the same `Arc`s), which is what comparing two `Options` needs.
#[derive(Clone)]
pub struct TlsConfig {
    /// The crypto provider (cipher suites, key exchange groups, randomness).
    pub provider: Arc<CryptoProvider>,
    /// Decides whether a server's certificate chain is trusted for a name.
    pub verifier: Arc<dyn ServerCertVerifier>,
    /// The wall clock, read only for certificate validity.
    pub time: Arc<dyn TimeProvider>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("verifier", &self.verifier)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.provider, &other.provider)
            && core::ptr::addr_eq(Arc::as_ptr(&self.verifier), Arc::as_ptr(&other.verifier))
            && core::ptr::addr_eq(Arc::as_ptr(&self.time), Arc::as_ptr(&other.time))
    }
}

impl Eq for TlsConfig {}

/// A client certificate chain and its private key, both PEM, for mutual TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first (PEM).
    pub cert_pem: String,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key never appears in logs.
        f.write_str("ClientIdentity { .. }")
    }
}

fn config_error(detail: String) -> ErrorKind {
    ErrorKind::Tls {
        host: String::new(),
        reason: TlsReason::Other { detail },
    }
}

impl TlsConfig {
    /// The rustls configuration every connection of one client machine shares: TLS 1.3 and 1.2, ALPN
    /// [`ALPN_PROTOCOLS`], SNI on, an in-memory session cache (rustls' default, 256 sessions) so later
    /// connections resume, `pins` checked after the verifier, `identity` presented when the server asks.
    pub fn client_config(
        &self,
        pins: &BTreeMap<String, Vec<String>>,
        identity: Option<&ClientIdentity>,
    ) -> Result<Arc<ClientConfig>, ErrorKind> {
        let builder = ClientConfig::builder_with_details(self.provider.clone(), self.time.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| config_error(format!("TLS setup: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if pins.is_empty() {
            self.verifier.clone()
        } else {
            Arc::new(PinningVerifier::new(self.verifier.clone(), pins)?)
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let certs: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                        .collect::<Result<_, _>>()
                        .map_err(|e| config_error(format!("client certificate PEM: {e}")))?;
                if certs.is_empty() {
                    return Err(config_error(
                        "client certificate PEM has no certificate".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
                    .map_err(|e| config_error(format!("client key PEM: {e}")))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| config_error(format!("client identity: {e}")))?
            }
        };
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}
