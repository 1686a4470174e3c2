//! [`CertSubjectUrlPrefixVerifier`]: a keyless signer whose URI subject lives under a URL
//! prefix, matched only at a path boundary.

use sigstore::cosign::signature_layers::{CertificateSubject, SignatureLayer};
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

/// A keyless signer whose URI subject lives under a URL prefix.
#[derive(Debug)]
pub struct CertSubjectUrlPrefixVerifier {
    pub issuer: String,
    /// Always ends with `/`: see [`CertSubjectUrlPrefixVerifier::new`].
    prefix: String,
}

impl CertSubjectUrlPrefixVerifier {
    /// The prefix only matches at a path boundary: `https://github.com/acme`
    /// must not admit `https://github.com/acme-evil/...`, so a `/` is
    /// appended when missing (as Kubewarden hosts do).
    pub fn new(issuer: String, url_prefix: &str) -> Self {
        let prefix = if url_prefix.ends_with('/') {
            url_prefix.to_string()
        } else {
            format!("{url_prefix}/")
        };
        Self { issuer, prefix }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl VerificationConstraint for CertSubjectUrlPrefixVerifier {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        Ok(layer.certificate_signature.as_ref().is_some_and(|cert| {
            cert.issuer.as_deref() == Some(self.issuer.as_str())
                && matches!(&cert.subject, CertificateSubject::Uri(uri) if uri.starts_with(&self.prefix))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore_host::verification_constraint::test_layer::{layer, uri};

    #[test]
    fn url_prefix_matches_only_at_a_path_boundary() {
        let cases = [
            // (prefix, subject, admitted)
            (
                "https://github.com/acme",
                "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main",
                true,
            ),
            (
                "https://github.com/acme/",
                "https://github.com/acme/app/x",
                true,
            ),
            (
                "https://github.com/acme",
                "https://github.com/acme-evil/app/x",
                false,
            ),
            (
                "https://github.com/acm",
                "https://github.com/acme/app/x",
                false,
            ),
            ("https://github.com/acme", "https://github.com/acme", false),
        ];
        for (prefix, subject, admitted) in cases {
            let constraint = CertSubjectUrlPrefixVerifier::new("https://idp".into(), prefix);
            let sl = layer(
                Some(("https://idp", uri(subject), None)),
                serde_json::Value::Null,
            );
            assert_eq!(
                constraint.verify(&sl).unwrap(),
                admitted,
                "{prefix} vs {subject}"
            );
        }
        let email = layer(
            Some((
                "https://idp",
                CertificateSubject::Email("https://github.com/acme/x".into()),
                None,
            )),
            serde_json::Value::Null,
        );
        assert!(!CertSubjectUrlPrefixVerifier::new(
            "https://idp".into(),
            "https://github.com/acme"
        )
        .verify(&email)
        .unwrap());
        let wrong_issuer = layer(
            Some(("https://evil", uri("https://github.com/acme/x"), None)),
            serde_json::Value::Null,
        );
        assert!(!CertSubjectUrlPrefixVerifier::new(
            "https://idp".into(),
            "https://github.com/acme"
        )
        .verify(&wrong_issuer)
        .unwrap());
    }
}
