//! The cosign `.sig` manifest as the policy reads it: per layer, the payload digest, the
//! signature, and the certificate and Rekor bundle annotations, decoded strictly. A manifest
//! the policy cannot read proves nothing.

use std::collections::BTreeMap;

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use crate::image_ref::is_well_formed_digest;

const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// One signature layer's claims, not yet checked.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// `sha256:<hex>` as the manifest writes it: the digest of the signed payload.
    pub digest: String,
    pub payload_sha256: [u8; 32],
    pub signature: Option<Vec<u8>>,
    pub certificate_pem: Option<String>,
    pub bundle: Option<String>,
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
    let payload_sha256 = sha256_of(&digest)
        .ok_or_else(|| format!("layer {digest:?} does not have a sha256 digest"))?;
    let mut annotations = descriptor.annotations.unwrap_or_default();
    let signature = match annotations.remove(SIGNATURE_ANNOTATION) {
        Some(text) => Some(
            Base64::decode_vec(text.trim())
                .map_err(|e| format!("layer {digest}: its signature is not base64: {e}"))?,
        ),
        None => None,
    };
    Ok(SignatureLayer {
        payload_sha256,
        signature,
        certificate_pem: annotations.remove(CERTIFICATE_ANNOTATION),
        bundle: annotations.remove(BUNDLE_ANNOTATION),
        digest,
    })
}

/// `sha256:<64 lower-case hex>` → the 32 bytes.
fn sha256_of(digest: &str) -> Option<[u8; 32]> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|_| is_well_formed_digest(digest))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature_proof::test_pki::{sha256, signature_manifest, TestKey, TestLayer};
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
        assert_eq!(read[0].payload_sha256, sha256(b"one"));
        assert_eq!(read[0].signature.as_deref(), Some(&layers[0].signature[..]));
        assert_eq!(
            read[0].certificate_pem.as_deref(),
            Some(certificate.as_str())
        );
        assert!(read[0].bundle.is_some());
        assert_eq!(read[1].payload_sha256, sha256(b"two"));
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
                manifest(json!({"digest": format!("sha256:{hex}"),
                    "annotations": {"dev.cosignproject.cosign/signature": "%%"}})),
                "its signature is not base64",
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
}
