//! [`AllOnSameLayerVerifier`]: several constraints that must all hold on one signature layer.

use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

/// Every constraint must hold on one and the same layer: annotations only
/// count when the signature that carries them is the trusted signer's.
#[derive(Debug)]
pub struct AllOnSameLayerVerifier(pub Vec<Box<dyn VerificationConstraint>>);

impl VerificationConstraint for AllOnSameLayerVerifier {
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
mod tests {
    use std::collections::BTreeMap;

    use sigstore::cosign::verification_constraint::AnnotationVerifier;

    use super::*;
    use crate::sigstore_host::verification_constraint::test_layer::{layer, uri};
    use crate::sigstore_host::verification_constraint::CertSubjectVerifier;

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
        let rule = AllOnSameLayerVerifier(vec![
            Box::new(CertSubjectVerifier {
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
