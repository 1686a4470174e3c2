//! The transparency-log entry inside a classic cosign Rekor bundle annotation: what the log
//! recorded (payload hash, signature, signer's certificate or key), so it can be compared with
//! the layer that carries the bundle. The bundle's signed timestamp is the host's to check.

use base64ct::{Base64, Encoding};
use serde::Deserialize;

/// What one hashedrekord entry says was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    /// Lower-case hex SHA-256 of the signed payload.
    pub payload_sha256: String,
    pub signature: Vec<u8>,
    /// PEM of the signer's certificate or public key, as logged.
    pub public_key_pem: String,
}

#[derive(Deserialize)]
struct BundleAnnotation {
    #[serde(rename = "Payload")]
    payload: BundlePayload,
}

#[derive(Deserialize)]
struct BundlePayload {
    body: String,
}

#[derive(Deserialize)]
struct Body {
    kind: String,
    spec: Spec,
}

#[derive(Deserialize)]
struct Spec {
    data: Data,
    signature: LoggedSignature,
}

#[derive(Deserialize)]
struct Data {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct LoggedSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: PublicKey,
}

#[derive(Deserialize)]
struct PublicKey {
    content: String,
}

/// Reads the logged entry out of a `dev.sigstore.cosign/bundle` annotation value.
pub fn logged_entry(bundle_annotation: &str) -> Result<LoggedEntry, String> {
    let bundle: BundleAnnotation = serde_json::from_str(bundle_annotation)
        .map_err(|e| format!("its Rekor bundle is not a cosign bundle: {e}"))?;
    let body = Base64::decode_vec(&bundle.payload.body)
        .map_err(|e| format!("its Rekor bundle body is not base64: {e}"))?;
    let body: Body = serde_json::from_slice(&body)
        .map_err(|e| format!("its Rekor bundle body is not a hashedrekord entry: {e}"))?;
    if body.kind != "hashedrekord" {
        return Err(format!(
            "its Rekor bundle logs a {:?} entry; only hashedrekord entries can be tied to a layer",
            body.kind
        ));
    }
    let hash = body.spec.data.hash;
    if hash.algorithm != "sha256" {
        return Err(format!(
            "its Rekor bundle logs a {} hash, not sha256",
            hash.algorithm
        ));
    }
    let signature = Base64::decode_vec(&body.spec.signature.content)
        .map_err(|e| format!("its Rekor bundle's signature is not base64: {e}"))?;
    let public_key_pem = Base64::decode_vec(&body.spec.signature.public_key.content)
        .ok()
        .and_then(|pem| String::from_utf8(pem).ok())
        .ok_or("its Rekor bundle's public key is not base64 of a PEM")?;
    Ok(LoggedEntry {
        payload_sha256: hash.value.to_ascii_lowercase(),
        signature,
        public_key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{rekor_bundle, sha256};
    use serde_json::json;

    #[test]
    fn reads_what_was_logged() {
        let digest = sha256(b"payload");
        let entry = logged_entry(&rekor_bundle(&digest, b"sig", "PEM")).unwrap();
        assert_eq!(
            entry,
            LoggedEntry {
                payload_sha256: hex::encode(digest),
                signature: b"sig".to_vec(),
                public_key_pem: "PEM".to_string(),
            }
        );
    }

    fn bundle_with_body(body: serde_json::Value) -> String {
        json!({"SignedEntryTimestamp": "", "Payload": {"body": Base64::encode_string(body.to_string().as_bytes())}})
            .to_string()
    }

    #[test]
    fn refuses_what_cannot_be_tied_to_a_layer() {
        let spec = |algorithm: &str| {
            json!({"data": {"hash": {"algorithm": algorithm, "value": "ab"}},
                   "signature": {"content": "", "publicKey": {"content": ""}}})
        };
        let cases = [
            ("not json".to_string(), "is not a cosign bundle"),
            (json!({"Payload": {}}).to_string(), "is not a cosign bundle"),
            (
                json!({"Payload": {"body": "%%%"}}).to_string(),
                "body is not base64",
            ),
            (
                bundle_with_body(json!({"kind": "hashedrekord"})),
                "not a hashedrekord entry",
            ),
            (
                bundle_with_body(json!({"kind": "rekord", "spec": spec("sha256")})),
                "logs a \"rekord\" entry",
            ),
            (
                bundle_with_body(json!({"kind": "hashedrekord", "spec": spec("sha512")})),
                "logs a sha512 hash",
            ),
        ];
        for (annotation, expected) in cases {
            let err = logged_entry(&annotation).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}
