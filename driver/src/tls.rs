//! The TLS inputs the core is handed: the ring crypto provider, the trust decision (the operating system's
//! verifier, given roots, or both) and the wall clock. Built here, outside the core, from `Options`'
//! `root_certificates` and `tls_built_in_roots` when the caller did not supply `Options::tls` itself.
//!
//! The OS verifier is built on first use, not with the client: loading the system store costs milliseconds
//! and a plain-`http` client never needs it. On macOS it consults the Keychain and may check revocation over
//! the network, which can block for a while; that happens on the driver task during a handshake.

use std::sync::{Arc, OnceLock};

use plue_http_core::client::Options;
use plue_http_core::error::{ErrorKind, TlsReason};
use plue_http_core::tls::TlsConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::time_provider::DefaultTimeProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

fn config_error(detail: String) -> ErrorKind {
    ErrorKind::Tls {
        host: String::new(),
        reason: TlsReason::Other { detail },
    }
}

/// The crypto provider every TLS connection of the drivers uses: ring (see ARCHITECTURE.md, "TLS").
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Parse every certificate of some PEM texts.
pub fn parse_pem_certs(pems: &[String]) -> Result<Vec<CertificateDer<'static>>, ErrorKind> {
    let mut out = Vec::new();
    for pem in pems {
        let before = out.len();
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            out.push(c.map_err(|e| config_error(format!("root certificate PEM: {e}")))?);
        }
        if out.len() == before {
            return Err(config_error(
                "a root certificate PEM holds no certificate".into(),
            ));
        }
    }
    Ok(out)
}

/// `options` with `tls` filled in (unchanged when the caller set it): the OS verifier plus
/// `root_certificates`, or only those roots when `tls_built_in_roots` is false.
pub fn with_default_tls(mut options: Options) -> Result<Options, ErrorKind> {
    if options.tls.is_some() {
        return Ok(options);
    }
    let provider = crypto_provider();
    let roots = parse_pem_certs(&options.root_certificates)?;
    let verifier: Arc<dyn ServerCertVerifier> = if options.tls_built_in_roots {
        Arc::new(LazyPlatformVerifier {
            provider: provider.clone(),
            extra_roots: roots,
            inner: OnceLock::new(),
        })
    } else {
        if roots.is_empty() {
            return Err(config_error(
                "tls_built_in_roots is off and no root_certificates were given: nothing would be trusted"
                    .into(),
            ));
        }
        let mut store = RootCertStore::empty();
        for r in roots {
            store
                .add(r)
                .map_err(|e| config_error(format!("root certificate: {e}")))?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| config_error(format!("root certificates: {e}")))?
    };
    options.tls = Some(TlsConfig {
        provider,
        verifier,
        time: Arc::new(DefaultTimeProvider),
    });
    Ok(options)
}

/// rustls-platform-verifier, built at the first handshake.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    extra_roots: Vec<CertificateDer<'static>>,
    inner: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn inner(&self) -> Result<&Arc<rustls_platform_verifier::Verifier>, rustls::Error> {
        self.inner
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new_with_extra_roots(
                    self.extra_roots.iter().cloned(),
                    self.provider.clone(),
                )
                .map(Arc::new)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
