//! Signature layers as `trusted_signature_layers` returns them, for the constraints' tests
//! and the error messages'.

use sigstore::cosign::signature_layers::{
    CertificateSignature, CertificateSubject, SignatureLayer,
};
use sigstore::crypto::CosignVerificationKey;

fn some_key() -> CosignVerificationKey {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
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

pub(crate) fn uri(s: &str) -> CertificateSubject {
    CertificateSubject::Uri(s.to_string())
}
