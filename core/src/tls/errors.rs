//! rustls errors in words a user knows: one flat [`TlsReason`].

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

use super::pin::PinMismatch;
use crate::error::TlsReason;

/// The [`TlsReason`] of a rustls error.
pub fn reason_of(e: &rustls::Error) -> TlsReason {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsReason::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsReason::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsReason::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsReason::NameMismatch
            }
            CertificateError::Revoked => TlsReason::Revoked,
            CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
                Some(p) => TlsReason::PinMismatch {
                    presented: p.presented.clone(),
                },
                None => TlsReason::BadCertificate {
                    detail: other.to_string(),
                },
            },
            other => TlsReason::BadCertificate {
                detail: format!("{other:?}"),
            },
        },
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
        | rustls::Error::PeerIncompatible(PeerIncompatible::Tls12NotOffered)
        | rustls::Error::PeerIncompatible(PeerIncompatible::Tls12NotOfferedOrEnabled)
        | rustls::Error::PeerIncompatible(PeerIncompatible::SupportedVersionsExtensionRequired)
        | rustls::Error::PeerIncompatible(
            PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
        ) => TlsReason::ProtocolVersion,
        rustls::Error::AlertReceived(a) => TlsReason::Alert {
            description: alert_name(*a),
        },
        rustls::Error::InvalidMessage(m) => TlsReason::InvalidMessage {
            detail: format!("{m:?}"),
        },
        rustls::Error::DecryptError => TlsReason::InvalidMessage {
            detail: "a record failed to decrypt (corrupted or forged)".into(),
        },
        other => TlsReason::Other {
            detail: other.to_string(),
        },
    }
}

/// `handshake_failure`, `bad_record_mac`, …: the RFC's names.
fn alert_name(a: AlertDescription) -> String {
    let camel = format!("{a:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
