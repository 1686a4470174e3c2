//! Signer constraints the `sigstore` crate does not ship, in its
//! `VerificationConstraint` shape so they run like its own: keyless identity
//! (email or URI subject), keyless URL prefix, GitHub Actions repository, and
//! "all of these on the same signature layer".

use sigstore::cosign::signature_layers::{CertificateSubject, SignatureLayer};
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

/// The OIDC issuer of GitHub Actions workload identities.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn subject_text(subject: &CertificateSubject) -> &str {
    match subject {
        CertificateSubject::Email(s) | CertificateSubject::Uri(s) => s,
    }
}

/// A keyless signer named exactly: OIDC issuer and certificate subject.
/// The subject may be an email (people) or a URI (workloads); both are
/// compared exactly, as Kubewarden hosts do.
#[derive(Debug)]
pub struct KeylessIdentity {
    pub issuer: String,
    pub subject: String,
}

impl VerificationConstraint for KeylessIdentity {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        Ok(layer.certificate_signature.as_ref().is_some_and(|cert| {
            cert.issuer.as_deref() == Some(self.issuer.as_str())
                && subject_text(&cert.subject) == self.subject
        }))
    }
}

/// A keyless signer whose URI subject lives under a URL prefix.
#[derive(Debug)]
pub struct KeylessUrlPrefix {
    pub issuer: String,
    /// Always ends with `/`: see [`KeylessUrlPrefix::new`].
    prefix: String,
}

impl KeylessUrlPrefix {
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

impl VerificationConstraint for KeylessUrlPrefix {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        Ok(layer.certificate_signature.as_ref().is_some_and(|cert| {
            cert.issuer.as_deref() == Some(self.issuer.as_str())
                && matches!(&cert.subject, CertificateSubject::Uri(uri) if uri.starts_with(&self.prefix))
        }))
    }
}

/// A signature made by a GitHub Actions workflow of `owner` (and `repo`,
/// when given), as recorded in the certificate's workflow-repository
/// extension (OID 1.3.6.1.4.1.57264.1.5, `owner/repo`).
#[derive(Debug)]
pub struct GithubActionsRepository {
    pub owner: String,
    pub repo: Option<String>,
}

impl VerificationConstraint for GithubActionsRepository {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        let Some(cert) = &layer.certificate_signature else {
            return Ok(false);
        };
        if cert.issuer.as_deref() != Some(GITHUB_ACTIONS_ISSUER) {
            return Ok(false);
        }
        let Some(repository) = &cert.github_workflow_repository else {
            return Ok(false);
        };
        // Compare whole path segments: owner `acme` must not match `acme-evil/x`.
        let Some((owner, repo)) = repository.split_once('/') else {
            return Ok(false);
        };
        Ok(owner == self.owner && self.repo.as_deref().is_none_or(|wanted| wanted == repo))
    }
}

/// The layer's Rekor bundle logs a signature by this key. Combined with the crate's
/// `CertificateVerifier` (which checks the signature with the certificate's key and that a
/// bundle is present), this is `requireRekorBundle` for real: `layer_proof` has already tied
/// each bundle's logged payload and signature to its layer.
pub struct LoggedBy {
    key: openssl::pkey::PKey<openssl::pkey::Public>,
}

impl LoggedBy {
    pub fn certificate(pem: &[u8]) -> std::result::Result<Self, String> {
        let key = openssl::x509::X509::from_pem(pem)
            .and_then(|certificate| certificate.public_key())
            .map_err(|e| format!("certificate is not usable: {e}"))?;
        Ok(Self { key })
    }
}

impl std::fmt::Debug for LoggedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoggedBy(certificate key)")
    }
}

impl VerificationConstraint for LoggedBy {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        use sigstore::cosign::bundle_content::BundleContent;
        let bundle = match &layer.bundle {
            Some(BundleContent::RekorBundle(bundle)) => bundle,
            // The crate binds a cosign v3 bundle's log entry to its certificate and signature.
            Some(BundleContent::SigstoreBundle(_)) => return Ok(true),
            None => return Ok(false),
        };
        Ok(super::rekor_entry::logged_signer(bundle)
            .is_ok_and(|logged| logged.public_eq(&self.key)))
    }
}

/// Every constraint must hold on one and the same layer: annotations only
/// count when the signature that carries them is the trusted signer's.
#[derive(Debug)]
pub struct SameLayer(pub Vec<Box<dyn VerificationConstraint>>);

impl VerificationConstraint for SameLayer {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        for constraint in &self.0 {
            if !constraint.verify(layer)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use sigstore::cosign::signature_layers::CertificateSignature;
    use sigstore::cosign::verification_constraint::AnnotationVerifier;
    use sigstore::crypto::CosignVerificationKey;

    fn some_key() -> CosignVerificationKey {
        let group =
            openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::ec::EcKey::generate(&group).unwrap();
        let pem = openssl::pkey::PKey::from_ec_key(key)
            .unwrap()
            .public_key_to_pem()
            .unwrap();
        CosignVerificationKey::try_from_pem(&pem).unwrap()
    }

    /// A layer as `trusted_signature_layers` would return it.
    pub(crate) fn layer(
        cert: Option<(&str, CertificateSubject, Option<&str>)>,
        annotations: serde_json::Value,
    ) -> SignatureLayer {
        let simple_signing = serde_json::from_value(serde_json::json!({
            "critical": {
                "identity": {"docker-reference": "127.0.0.1:5000/app"},
                "image": {"docker-manifest-digest": "sha256:abc"},
                "type": "cosign container image signature"
            },
            "optional": annotations
        }))
        .unwrap();
        SignatureLayer {
            simple_signing,
            oci_digest: "sha256:layer".into(),
            certificate_signature: cert.map(|(issuer, subject, repository)| CertificateSignature {
                verification_key: some_key(),
                subject,
                issuer: Some(issuer.to_string()),
                github_workflow_trigger: None,
                github_workflow_sha: None,
                github_workflow_name: None,
                github_workflow_repository: repository.map(str::to_string),
                github_workflow_ref: None,
            }),
            bundle: None,
            signature: Some("sig".into()),
            raw_data: vec![],
        }
    }

    fn uri(s: &str) -> CertificateSubject {
        CertificateSubject::Uri(s.to_string())
    }

    #[test]
    fn keyless_identity_matches_email_or_uri_exactly() {
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
        let id = |issuer: &str, subject: &str| KeylessIdentity {
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
            let constraint = KeylessUrlPrefix::new("https://idp".into(), prefix);
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
        assert!(
            !KeylessUrlPrefix::new("https://idp".into(), "https://github.com/acme")
                .verify(&email)
                .unwrap()
        );
        let wrong_issuer = layer(
            Some(("https://evil", uri("https://github.com/acme/x"), None)),
            serde_json::Value::Null,
        );
        assert!(
            !KeylessUrlPrefix::new("https://idp".into(), "https://github.com/acme")
                .verify(&wrong_issuer)
                .unwrap()
        );
    }

    #[test]
    fn github_actions_compares_owner_and_optional_repo() {
        let gh = |repository: Option<&str>, issuer: &str| {
            layer(
                Some((
                    issuer,
                    uri("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"),
                    repository,
                )),
                serde_json::Value::Null,
            )
        };
        let rule = |owner: &str, repo: Option<&str>| GithubActionsRepository {
            owner: owner.into(),
            repo: repo.map(str::to_string),
        };
        let cases = [
            // (rule owner, rule repo, cert repository, issuer, admitted)
            ("acme", None, Some("acme/app"), GITHUB_ACTIONS_ISSUER, true),
            (
                "acme",
                Some("app"),
                Some("acme/app"),
                GITHUB_ACTIONS_ISSUER,
                true,
            ),
            (
                "acme",
                Some("other"),
                Some("acme/app"),
                GITHUB_ACTIONS_ISSUER,
                false,
            ),
            (
                "acme",
                None,
                Some("acme-evil/app"),
                GITHUB_ACTIONS_ISSUER,
                false,
            ),
            ("acm", None, Some("acme/app"), GITHUB_ACTIONS_ISSUER, false),
            ("acme", None, None, GITHUB_ACTIONS_ISSUER, false),
            (
                "acme",
                None,
                Some("acme/app"),
                "https://accounts.google.com",
                false,
            ),
        ];
        for (owner, repo, repository, issuer, admitted) in cases {
            assert_eq!(
                rule(owner, repo).verify(&gh(repository, issuer)).unwrap(),
                admitted,
                "{owner}/{repo:?} vs {repository:?} from {issuer}"
            );
        }
    }

    #[test]
    fn same_layer_requires_every_constraint_on_one_layer() {
        let annotated = layer(
            Some(("https://idp", uri("https://ci/x"), None)),
            serde_json::json!({"env": "prod"}),
        );
        let plain = layer(
            Some(("https://idp", uri("https://ci/x"), None)),
            serde_json::Value::Null,
        );
        let rule = SameLayer(vec![
            Box::new(KeylessIdentity {
                issuer: "https://idp".into(),
                subject: "https://ci/x".into(),
            }),
            Box::new(AnnotationVerifier {
                annotations: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            }),
        ]);
        assert!(rule.verify(&annotated).unwrap());
        assert!(!rule.verify(&plain).unwrap());
    }
}
