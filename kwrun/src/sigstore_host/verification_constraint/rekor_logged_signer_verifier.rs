//! [`RekorLoggedSignerVerifier`]: the signer a layer's Rekor bundle logged is a given
//! certificate's key (`requireRekorBundle`).

use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

/// The layer's Rekor bundle logs a signature by this key. Combined with the crate's
/// `CertificateVerifier` (which checks the signature with the certificate's key and that a
/// bundle is present), this is `requireRekorBundle` for real: `layer_proof` has already tied
/// each bundle's logged payload and signature to its layer.
pub struct RekorLoggedSignerVerifier {
    key: openssl::pkey::PKey<openssl::pkey::Public>,
}

impl RekorLoggedSignerVerifier {
    pub fn certificate(pem: &[u8]) -> std::result::Result<Self, String> {
        let key = openssl::x509::X509::from_pem(pem)
            .and_then(|certificate| certificate.public_key())
            .map_err(|e| format!("certificate is not usable: {e}"))?;
        Ok(Self { key })
    }
}

impl std::fmt::Debug for RekorLoggedSignerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RekorLoggedSignerVerifier(certificate key)")
    }
}

impl VerificationConstraint for RekorLoggedSignerVerifier {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        use sigstore::cosign::bundle_content::BundleContent;
        let bundle = match &layer.bundle {
            Some(BundleContent::RekorBundle(bundle)) => bundle,
            // The crate binds a cosign v3 bundle's log entry to its certificate and signature.
            Some(BundleContent::SigstoreBundle(_)) => return Ok(true),
            None => return Ok(false),
        };
        Ok(crate::sigstore_host::rekor_entry::logged_signer(bundle)
            .is_ok_and(|logged| logged.public_eq(&self.key)))
    }
}
