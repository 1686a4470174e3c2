//! The cosign `.sig` manifest as the policy reads it: per layer, the payload digest and the
//! signature, certificate and Rekor bundle annotations, decoded strictly. A manifest the policy
//! cannot read proves nothing.

use std::collections::BTreeMap;

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use crate::reference::is_well_formed_digest;

const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// One signature layer's claims, not yet checked.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// `sha256:<hex>` as the manifest writes it: the digest of the signed payload.
    pub digest: String,
    pub signature: Option<String>,
    pub certificate_pem: Option<String>,
    pub bundle: Option<String>,
}

impl SignatureLayer {
    /// The lower-case hex SHA-256 of the payload.
    pub fn payload_sha256(&self) -> &str {
        &self.digest["sha256:".len()..]
    }

    /// The signature's bytes; `None` when the layer has none.
    pub fn signature_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.signature
            .as_deref()
            .map(|text| {
                Base64::decode_vec(text.trim())
                    .map_err(|e| format!("layer {}: its signature is not base64: {e}", self.digest))
            })
            .transpose()
    }
}

#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    annotations: Option<BTreeMap<String, String>>,
}

/// Every layer of a `.sig` image manifest (OCI or Docker schema 2: both list `layers`).
pub fn signature_layers(manifest: &[u8]) -> Result<Vec<SignatureLayer>, String> {
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| format!("the signature manifest is not an image manifest: {e}"))?;
    manifest.layers.into_iter().map(layer).collect()
}

fn layer(descriptor: Descriptor) -> Result<SignatureLayer, String> {
    let digest = descriptor.digest;
    if !digest.starts_with("sha256:") || !is_well_formed_digest(&digest) {
        return Err(format!("layer {digest:?} does not have a sha256 digest"));
    }
    let mut annotations = descriptor.annotations.unwrap_or_default();
    Ok(SignatureLayer {
        signature: annotations.remove(SIGNATURE_ANNOTATION),
        certificate_pem: annotations.remove(CERTIFICATE_ANNOTATION),
        bundle: annotations.remove(BUNDLE_ANNOTATION),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{sha256, signature_manifest, TestKey, TestLayer};
    use serde_json::json;

    #[test]
    fn reads_every_layer_with_its_annotations() {
        let key = TestKey::p256();
        let certificate = key.certificate_pem("signer");
        let layers = [
            TestLayer::logged(&key, &certificate, b"one"),
            TestLayer::by_key(&key, b"two"),
        ];
        let read = signature_layers(&signature_manifest(&layers)).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].payload_sha256(), hex::encode(sha256(b"one")));
        assert_eq!(
            read[0].signature_bytes().unwrap().as_deref(),
            Some(&layers[0].signature[..])
        );
        assert_eq!(
            read[0].certificate_pem.as_deref(),
            Some(certificate.as_str())
        );
        assert!(read[0].bundle.is_some());
        assert_eq!(read[1].payload_sha256(), hex::encode(sha256(b"two")));
        assert!(read[1].certificate_pem.is_none() && read[1].bundle.is_none());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let manifest = |layer: serde_json::Value| json!({"layers": [layer]}).to_string();
        let hex = "ab".repeat(32);
        let cases = [
            ("{}".to_string(), "not an image manifest"),
            (
                json!({"manifests": []}).to_string(),
                "not an image manifest",
            ),
            (
                manifest(json!({"digest": format!("sha512:{hex}")})),
                "does not have a sha256 digest",
            ),
            (
                manifest(json!({"digest": format!("sha256:{}", "AB".repeat(32))})),
                "does not have a sha256 digest",
            ),
            (
                manifest(json!({"digest": format!("sha256:{hex}"), "annotations": {"a": 1}})),
                "not an image manifest",
            ),
        ];
        for (manifest, expected) in cases {
            let err = signature_layers(manifest.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn a_signature_that_is_not_base64_is_an_error_when_read() {
        let manifest = json!({"layers": [{"digest": format!("sha256:{}", "ab".repeat(32)),
            "annotations": {"dev.cosignproject.cosign/signature": "%%"}}]});
        let layers = signature_layers(manifest.to_string().as_bytes()).unwrap();
        let err = layers[0].signature_bytes().unwrap_err();
        assert!(err.contains("its signature is not base64"), "{err}");
    }
}
