//! How registry failures and signatures read in the Sigstore host capabilities' error messages:
//! an error with its causes and the likely fix, one line per signature found.

use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::signature_layers::{CertificateSubject, SignatureLayer};

/// Why an `annotations` rule fails on a signature that otherwise matches, and the fix.
pub(super) const V3_ANNOTATIONS_HINT: &str = "; cosign v3 (bundle format) signatures carry no annotations, so an annotations rule never matches them: sign with `cosign sign --new-bundle-format=false -a KEY=VALUE` (the classic .sig layout) to use annotations";

/// An error with every cause it wraps (the crates' messages alone read "error sending request"
/// for a DNS failure and a TLS mismatch alike), and the fix when the cause is a known one.
pub(super) fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("wrong version number")
        || lower.contains("http/0.9")
        || lower.contains("invalid http version")
        || lower.contains("record layer failure")
    {
        Some("the registry may speak plain HTTP: list it under insecure_sources in the --sources-path file")
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        Some("the registry host name does not resolve from here")
    } else if lower.contains("error sending request") {
        // The sigstore crate keeps only this line of the transport error.
        Some("the registry could not be reached: check the host name and that it listens; a registry that speaks plain HTTP must be listed under insecure_sources in the --sources-path file")
    } else if lower.contains("connection refused") {
        Some("nothing listens at that registry address")
    } else if lower.contains("unauthorized") || lower.contains("denied") {
        Some("the registry wants credentials: pass --docker-config-json-path")
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{text} (hint: {hint})"),
        None => text,
    }
}

/// A cosign v3 bundle (OCI referrer), as opposed to a classic `.sig` layer.
pub(super) fn is_v3_bundle(layer: &SignatureLayer) -> bool {
    matches!(layer.bundle, Some(BundleContent::SigstoreBundle(_)))
}

/// One signature as it reads in an error message: who signed it, and in which format.
pub(super) fn describe_layer(layer: &SignatureLayer) -> String {
    let signer = match &layer.certificate_signature {
        Some(cert) => {
            let subject = match &cert.subject {
                CertificateSubject::Email(s) | CertificateSubject::Uri(s) => s,
            };
            let mut text = format!(
                "keyless issuer={} subject={subject}",
                cert.issuer.as_deref().unwrap_or("?")
            );
            if let Some(repository) = &cert.github_workflow_repository {
                text.push_str(&format!(" repository={repository}"));
            }
            text
        }
        None if layer.bundle.is_some() => {
            "key or certificate signature with Rekor bundle".to_string()
        }
        None => "key or certificate signature".to_string(),
    };
    let signer = if is_v3_bundle(layer) {
        format!("{signer} (cosign v3 bundle)")
    } else {
        signer
    };
    match &layer.simple_signing.optional {
        Some(optional) if !optional.extra.is_empty() => {
            let annotations: Vec<String> = optional
                .extra
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(text) => format!("{k}={text}"),
                    None => format!("{k}={v}"),
                })
                .collect();
            format!("{signer} [annotations {}]", annotations.join(","))
        }
        _ => signer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore_host::verification_constraint::test_layer;

    #[test]
    fn layers_are_described_by_signer_and_annotations() {
        let layer = test_layer::layer(
            Some((
                "https://idp",
                CertificateSubject::Email("a@b.io".into()),
                Some("acme/app"),
            )),
            serde_json::json!({"env": "prod"}),
        );
        assert_eq!(
            describe_layer(&layer),
            "keyless issuer=https://idp subject=a@b.io repository=acme/app [annotations env=prod]"
        );
        let key_only = test_layer::layer(None, serde_json::Value::Null);
        assert_eq!(describe_layer(&key_only), "key or certificate signature");
        let mut v3 = test_layer::layer(
            Some((
                "https://idp",
                CertificateSubject::Email("a@b.io".into()),
                None,
            )),
            serde_json::Value::Null,
        );
        v3.bundle = Some(BundleContent::SigstoreBundle(Default::default()));
        assert_eq!(
            describe_layer(&v3),
            "keyless issuer=https://idp subject=a@b.io (cosign v3 bundle)"
        );
    }

    #[test]
    fn registry_errors_keep_their_causes_and_suggest_the_fix() {
        #[derive(Debug)]
        struct Cause(&'static str, Option<Box<Cause>>);
        impl std::fmt::Display for Cause {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Cause {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1
                    .as_deref()
                    .map(|c| c as &(dyn std::error::Error + 'static))
            }
        }
        let tls = Cause(
            "error sending request",
            Some(Box::new(Cause("ssl: wrong version number", None))),
        );
        assert_eq!(
            explain(&tls),
            "error sending request: ssl: wrong version number (hint: the registry may speak plain HTTP: list it under insecure_sources in the --sources-path file)"
        );
        let dns = Cause(
            "error sending request",
            Some(Box::new(Cause("dns error: failed to lookup address", None))),
        );
        assert!(
            explain(&dns).ends_with("(hint: the registry host name does not resolve from here)")
        );
        assert_eq!(
            explain(&Cause("manifest unknown", None)),
            "manifest unknown"
        );
    }
}
