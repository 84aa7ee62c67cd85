//! TLS for the two outbound clients: the AWS SDK (DynamoDB, Secrets Manager) and reqwest
//! (Stripe). Both use rustls with aws-lc as the one crypto provider.
//!
//! Trust roots are chosen for cold start (measured in bench/README.md): the SDK's default
//! reads and parses the whole system CA store when its client is built, which was about 7 ms
//! of a 10 ms init on a Debian machine (hundreds of files in /etc/ssl/certs) and still
//! ~3 ms from a single bundle file. Instead:
//! - AWS endpoints are trusted through the Amazon Trust Services roots compiled in below
//!   (DynamoDB and the other AWS service endpoints moved their certificates to Amazon Trust
//!   Services, see "Is my application impacted by the migration of Amazon S3 and Amazon
//!   CloudFront certificates to Amazon Trust Services?" on AWS re:Post);
//!   `AWS_CA_BUNDLE` (a PEM file) adds roots for a TLS proxy or an emulator behind TLS.
//! - Stripe is trusted through webpki-roots (Mozilla's roots, compiled in: nothing to read).

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Amazon Root CA 1-4 and Starfield Services Root Certificate Authority - G2, as published at
/// https://www.amazontrust.com/repository/ (SHA-256 fingerprints checked in the tests below).
pub const AMAZON_TRUST_SERVICES_ROOTS: &[u8] =
    include_bytes!("../../certs/amazon-trust-services.pem");

/// Makes aws-lc the process's default rustls provider, which reqwest then uses (it is built
/// without one of its own). Idempotent; safe to call from every constructor.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: also fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Certificates in a PEM text; an error names what is wrong without echoing the file.
fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("no certificates in it".into());
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| format!("a certificate cannot be a trust root ({e})"))?;
    }
    Ok(certs)
}

/// The AWS SDK's HTTPS client: aws-lc, Amazon Trust Services roots, plus the roots in the PEM
/// file `AWS_CA_BUNDLE` names. A bundle that cannot be read or parsed is logged and left out
/// (AWS endpoints still work; the endpoint that needed it fails its handshake visibly).
pub fn aws_https_client() -> SharedHttpClient {
    let mut store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS);
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| parse_pem(&pem).map(|_| pem));
        match read {
            Ok(pem) => store = store.with_pem_certificate(pem),
            Err(e) => tracing::error!(
                path = %std::path::Path::new(&path).display(),
                "AWS_CA_BUNDLE ignored: {e}"
            ),
        }
    }
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        // Cannot fail: `build` only moves the fields (aws-smithy-http-client 1.x).
        .unwrap_or_default();
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_compiled_in_aws_roots_are_the_five_published_ones() {
        let certs = parse_pem(AMAZON_TRUST_SERVICES_ROOTS).expect("valid roots");
        let fingerprints: Vec<String> = certs
            .iter()
            .map(|c| {
                Sha256::digest(c.as_ref())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(
            fingerprints,
            [
                // Amazon Root CA 1, 2, 3, 4; Starfield Services Root Certificate Authority - G2.
                "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
                "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
                "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
                "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
                "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
            ]
        );
    }

    #[test]
    fn bad_bundles_are_refused_with_a_reason() {
        assert!(parse_pem(b"").unwrap_err().contains("no certificates"));
        assert!(parse_pem(b"hello").unwrap_err().contains("no certificates"));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(parse_pem(garbage).is_err());
    }

    #[test]
    fn installing_the_provider_twice_is_harmless() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
