//! [`CertSubjectVerifier`]: a keyless signer named exactly by OIDC issuer and certificate
//! subject, email or URI.

use sigstore::cosign::signature_layers::{CertificateSubject, SignatureLayer};
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

fn subject_text(subject: &CertificateSubject) -> &str {
    match subject {
        CertificateSubject::Email(s) | CertificateSubject::Uri(s) => s,
    }
}

/// A keyless signer named exactly: OIDC issuer and certificate subject.
/// The subject may be an email (people) or a URI (workloads); both are
/// compared exactly, as Kubewarden hosts do.
#[derive(Debug)]
pub struct CertSubjectVerifier {
    pub issuer: String,
    pub subject: String,
}

impl VerificationConstraint for CertSubjectVerifier {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        Ok(layer.certificate_signature.as_ref().is_some_and(|cert| {
            cert.issuer.as_deref() == Some(self.issuer.as_str())
                && subject_text(&cert.subject) == self.subject
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore_host::verification_constraint::test_layer::{layer, uri};

    #[test]
    fn cert_subject_matches_email_or_uri_exactly() {
        let email = layer(
            Some((
                "https://idp",
                CertificateSubject::Email("a@x.io".into()),
                None,
            )),
            serde_json::Value::Null,
        );
        let workload = layer(
            Some(("https://idp", uri("https://ci/x"), None)),
            serde_json::Value::Null,
        );
        let id = |issuer: &str, subject: &str| CertSubjectVerifier {
            issuer: issuer.into(),
            subject: subject.into(),
        };
        assert!(id("https://idp", "a@x.io").verify(&email).unwrap());
        assert!(id("https://idp", "https://ci/x").verify(&workload).unwrap());
        assert!(!id("https://other", "a@x.io").verify(&email).unwrap());
        assert!(!id("https://idp", "b@x.io").verify(&email).unwrap());
        assert!(!id("https://idp", "a@x.io")
            .verify(&layer(None, serde_json::Value::Null))
            .unwrap());
    }
}
