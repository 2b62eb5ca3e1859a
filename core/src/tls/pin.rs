//! Public-key pinning (curl's `--pinnedpubkey`): `sha256//BASE64` of the leaf certificate's DER
//! SubjectPublicKeyInfo. Checked after the wrapped verifier accepted the chain and the name, so a pin narrows
//! trust and never widens it. Several pins for a host are alternatives (key rotation).

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, TlsReason};
use crate::request::base64_encode;

/// `sha256//BASE64` of a certificate's SubjectPublicKeyInfo, or `None` when the certificate cannot be parsed.
pub fn spki_pin(cert: &CertificateDer<'_>) -> Option<String> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = ee.subject_public_key_info();
    Some(format!(
        "sha256//{}",
        base64_encode(&Sha256::digest(spki.as_ref()))
    ))
}

/// The presented key matched none of the host's pins; carried through rustls as `CertificateError::Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PinMismatch {
    pub presented: String,
}

impl core::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "pin mismatch: the server's key is {}", self.presented)
    }
}

impl std::error::Error for PinMismatch {}

/// A verifier that runs `inner`, then checks the leaf's key against the pins of the host (hosts without pins
/// are not affected).
#[derive(Debug)]
pub struct PinningVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    /// Host (lowercased, IPv6 without brackets) → accepted pins.
    pins: BTreeMap<String, Vec<String>>,
}

fn normalise_host(h: &str) -> String {
    h.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl PinningVerifier {
    /// Wrap `inner` with `pins` (host → `sha256//BASE64` values). A pin not of that form is refused.
    pub fn new(
        inner: Arc<dyn ServerCertVerifier>,
        pins: &BTreeMap<String, Vec<String>>,
    ) -> Result<PinningVerifier, ErrorKind> {
        let mut out = BTreeMap::new();
        for (host, list) in pins {
            for p in list {
                let ok = p
                    .strip_prefix("sha256//")
                    .is_some_and(|b| b.len() == 44 && b.ends_with('='));
                if !ok {
                    return Err(ErrorKind::Tls {
                        host: host.clone(),
                        reason: TlsReason::Other {
                            detail: format!(
                                "a pin must look like sha256//BASE64 (44 characters), not {p:?}"
                            ),
                        },
                    });
                }
            }
            out.insert(normalise_host(host), list.clone());
        }
        Ok(PinningVerifier { inner, pins: out })
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let host = normalise_host(&server_name.to_str());
        let Some(pins) = self.pins.get(&host) else {
            return Ok(verified);
        };
        let presented = spki_pin(end_entity).unwrap_or_default();
        if pins.contains(&presented) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch { presented })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}
