//! What the `sigstore` crate leaves unchecked on classic (`.sig`) signature layers, checked
//! before any signer constraint sees them: the layer must name the one digest kwrun resolved,
//! a keyless certificate's key must have made the layer's signature, and a Rekor bundle must
//! log this layer's payload, signature and signer. A layer that fails is dropped, with the
//! reason kept for the error message.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde::Deserialize;
use sigstore::cosign::bundle::Bundle;
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::crypto::{CosignVerificationKey, Signature};

/// Layers that hold up, and why each other layer was dropped.
pub struct ProvenLayers {
    pub proven: Vec<SignatureLayer>,
    pub dropped: Vec<String>,
}

/// Splits `layers` into proven and dropped ones for an image resolved to `digest`.
pub fn prove_layers(layers: Vec<SignatureLayer>, digest: &str) -> ProvenLayers {
    let mut proof = ProvenLayers {
        proven: Vec::new(),
        dropped: Vec::new(),
    };
    for layer in layers {
        match check(&layer, digest) {
            Ok(()) => proof.proven.push(layer),
            Err(reason) => proof
                .dropped
                .push(format!("layer {} dropped: {reason}", layer.oci_digest)),
        }
    }
    proof
}

fn check(layer: &SignatureLayer, digest: &str) -> Result<(), String> {
    // The crate resolves the tag a second time while fetching signatures; a registry that
    // answers differently must not get a layer for another digest through.
    let named = &layer.simple_signing.critical.image.docker_manifest_digest;
    if named != digest {
        return Err(format!("it signs {named}, not the resolved {digest}"));
    }
    let signature = layer.signature.as_deref().unwrap_or_default();
    if let Some(certificate) = &layer.certificate_signature {
        certificate
            .verification_key
            .verify_signature(
                Signature::Base64Encoded(signature.as_bytes()),
                &layer.raw_data,
            )
            .map_err(|_| "it has a signature its certificate's key did not make".to_string())?;
    }
    match &layer.bundle {
        Some(BundleContent::RekorBundle(bundle)) => check_logged(layer, bundle, signature),
        // Cosign v3 bundles: the crate ties the log entry to the signature itself.
        Some(BundleContent::SigstoreBundle(_)) | None => Ok(()),
    }
}

#[derive(Deserialize)]
struct HashedRekord {
    kind: String,
    spec: HashedRekordSpec,
}

#[derive(Deserialize)]
struct HashedRekordSpec {
    data: HashedRekordData,
    signature: HashedRekordSignature,
}

#[derive(Deserialize)]
struct HashedRekordData {
    hash: HashedRekordHash,
}

#[derive(Deserialize)]
struct HashedRekordHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct HashedRekordSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: HashedRekordKey,
}

#[derive(Deserialize)]
struct HashedRekordKey {
    content: String,
}

/// The hashedrekord entry a classic Rekor bundle says was logged.
fn logged_entry(bundle: &Bundle) -> Result<HashedRekord, String> {
    let body = BASE64
        .decode(&bundle.payload.body)
        .map_err(|e| format!("its Rekor bundle body is not base64: {e}"))?;
    let entry: HashedRekord = serde_json::from_slice(&body)
        .map_err(|e| format!("its Rekor bundle body is not a hashedrekord entry: {e}"))?;
    if entry.kind != "hashedrekord" || entry.spec.data.hash.algorithm != "sha256" {
        return Err("its Rekor bundle does not log a sha256 hashedrekord entry".to_string());
    }
    Ok(entry)
}

/// The public key of the signer a classic Rekor bundle logged (its certificate's or its own).
pub fn logged_signer(bundle: &Bundle) -> Result<PKey<Public>, String> {
    logged_signer_of(&logged_entry(bundle)?)
}

fn logged_signer_of(entry: &HashedRekord) -> Result<PKey<Public>, String> {
    let logged_pem = BASE64
        .decode(&entry.spec.signature.public_key.content)
        .map_err(|e| format!("its Rekor bundle's public key is not base64: {e}"))?;
    logged_public_key(&logged_pem)
}

/// The logged body must be this layer's: its payload hash, its signature, and its signer.
fn check_logged(layer: &SignatureLayer, bundle: &Bundle, signature: &str) -> Result<(), String> {
    let entry = logged_entry(bundle)?;
    let payload_hash = hex::encode(openssl::sha::sha256(&layer.raw_data));
    if !entry
        .spec
        .data
        .hash
        .value
        .eq_ignore_ascii_case(&payload_hash)
    {
        return Err("its Rekor bundle logs another payload".to_string());
    }
    let logged_signature = BASE64.decode(&entry.spec.signature.content);
    let layer_signature = BASE64.decode(signature);
    match (logged_signature, layer_signature) {
        (Ok(logged), Ok(own)) if logged == own => {}
        _ => return Err("its Rekor bundle logs another signature".to_string()),
    }
    let logged_key = logged_signer_of(&entry)?;
    match &layer.certificate_signature {
        Some(certificate) => {
            let own_key = public_key(&certificate.verification_key)?;
            if !own_key.public_eq(&logged_key) {
                return Err("its Rekor bundle logs another signer".to_string());
            }
        }
        None => {
            let der = logged_key
                .public_key_to_der()
                .map_err(|e| format!("its Rekor bundle's key: {e}"))?;
            CosignVerificationKey::try_from_der(&der)
                .and_then(|key| {
                    key.verify_signature(
                        Signature::Base64Encoded(signature.as_bytes()),
                        &layer.raw_data,
                    )
                })
                .map_err(|_| {
                    "its Rekor bundle logs a key that did not make its signature".to_string()
                })?;
        }
    }
    Ok(())
}

/// The public key of a logged PEM certificate or PEM public key.
fn logged_public_key(pem: &[u8]) -> Result<PKey<Public>, String> {
    if let Ok(certificate) = X509::from_pem(pem) {
        return certificate
            .public_key()
            .map_err(|e| format!("its Rekor bundle's certificate has no usable key: {e}"));
    }
    PKey::public_key_from_pem(pem)
        .map_err(|_| "its Rekor bundle logs neither a PEM certificate nor a PEM key".to_string())
}

/// The SubjectPublicKeyInfo inside a cosign verification key, as an OpenSSL key.
pub fn public_key(key: &CosignVerificationKey) -> Result<PKey<Public>, String> {
    let der = match key {
        CosignVerificationKey::RSA_PSS_SHA256(der)
        | CosignVerificationKey::RSA_PKCS1_SHA256(der)
        | CosignVerificationKey::ECDSA_P256_SHA256_ASN1(der)
        | CosignVerificationKey::ECDSA_P384_SHA384_ASN1(der)
        | CosignVerificationKey::ECDSA_P521_SHA512_ASN1(der)
        | CosignVerificationKey::ED25519(der) => der,
    };
    PKey::public_key_from_der(der).map_err(|e| format!("unusable certificate key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::Private;
    use sigstore::cosign::bundle::Payload;
    use sigstore::cosign::signature_layers::{CertificateSignature, CertificateSubject};

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn sign(key: &PKey<Private>, data: &[u8]) -> String {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).unwrap();
        BASE64.encode(signer.sign_oneshot_to_vec(data).unwrap())
    }

    fn public_pem(key: &PKey<Private>) -> Vec<u8> {
        key.public_key_to_pem().unwrap()
    }

    fn bundle(payload: &[u8], signature: &str, signer_pem: &[u8]) -> BundleContent {
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(openssl::sha::sha256(payload))}},
                "signature": {"content": signature, "publicKey": {"content": BASE64.encode(signer_pem)}}
            }
        });
        BundleContent::RekorBundle(Bundle {
            signed_entry_timestamp: String::new(),
            payload: Payload {
                body: BASE64.encode(body.to_string()),
                integrated_time: 0,
                log_index: 0,
                log_id: String::new(),
            },
        })
    }

    fn payload(digest: &str, note: &str) -> Vec<u8> {
        serde_json::json!({"critical": {"identity": {"docker-reference": "r/app"},
            "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"},
            "optional": {"note": note}})
        .to_string()
        .into_bytes()
    }

    /// A keyless-style layer whose certificate key is `key`, as the crate returns it.
    fn layer(
        key: &PKey<Private>,
        payload: Vec<u8>,
        signature: String,
        bundle: Option<BundleContent>,
    ) -> SignatureLayer {
        SignatureLayer {
            simple_signing: serde_json::from_slice(&payload).unwrap(),
            oci_digest: format!("sha256:{}", hex::encode(openssl::sha::sha256(&payload))),
            certificate_signature: Some(CertificateSignature {
                verification_key: CosignVerificationKey::try_from_pem(&public_pem(key)).unwrap(),
                subject: CertificateSubject::Email("alice@example.com".into()),
                issuer: Some("https://idp".into()),
                github_workflow_trigger: None,
                github_workflow_sha: None,
                github_workflow_name: None,
                github_workflow_repository: None,
                github_workflow_ref: None,
            }),
            bundle,
            signature: Some(signature),
            raw_data: payload,
        }
    }

    fn genuine(key: &PKey<Private>, note: &str) -> SignatureLayer {
        let payload = payload(DIGEST, note);
        let signature = sign(key, &payload);
        let bundle = bundle(&payload, &signature, &public_pem(key));
        layer(key, payload, signature, Some(bundle))
    }

    fn dropped_reason(layer: SignatureLayer) -> String {
        let proof = prove_layers(vec![layer], DIGEST);
        assert!(proof.proven.is_empty(), "the layer should be dropped");
        proof.dropped.join("; ")
    }

    #[test]
    fn genuine_layers_are_kept() {
        let signer = key();
        let proof = prove_layers(
            vec![genuine(&signer, "one"), genuine(&signer, "two")],
            DIGEST,
        );
        assert_eq!(proof.proven.len(), 2, "{:?}", proof.dropped);
    }

    #[test]
    fn forgeries_are_dropped_with_a_reason() {
        let signer = key();
        let older = genuine(&signer, "older");
        let fresh = payload(DIGEST, "fresh");
        let fresh_signature = sign(&signer, &fresh);
        let stranger = key();
        let cases = [
            (
                // The reported attack: certificate and bundle copied, signature garbage.
                layer(
                    &signer,
                    fresh.clone(),
                    BASE64.encode("garbage"),
                    older.bundle.clone(),
                ),
                "it has a signature its certificate's key did not make",
            ),
            (
                // A real signature with a bundle copied from an older, logged one.
                layer(
                    &signer,
                    fresh.clone(),
                    fresh_signature.clone(),
                    older.bundle.clone(),
                ),
                "its Rekor bundle logs another payload",
            ),
            (
                layer(
                    &signer,
                    fresh.clone(),
                    fresh_signature.clone(),
                    Some(bundle(
                        &fresh,
                        &older.signature.clone().unwrap(),
                        &public_pem(&signer),
                    )),
                ),
                "its Rekor bundle logs another signature",
            ),
            (
                layer(
                    &signer,
                    fresh.clone(),
                    fresh_signature.clone(),
                    Some(bundle(&fresh, &fresh_signature, &public_pem(&stranger))),
                ),
                "its Rekor bundle logs another signer",
            ),
            (
                naming(
                    genuine(&signer, "x"),
                    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                ),
                "it signs sha256:2222",
            ),
        ];
        for (layer, expected) in cases {
            let reason = dropped_reason(layer);
            assert!(
                reason.contains(expected),
                "{reason} should contain {expected}"
            );
        }
    }

    #[test]
    fn a_bare_layers_bundle_must_log_the_key_that_signed() {
        let signer = key();
        let mut bare = genuine(&signer, "bare");
        bare.certificate_signature = None;
        assert_eq!(prove_layers(vec![bare.clone()], DIGEST).proven.len(), 1);
        let stranger = key();
        bare.bundle = Some(bundle(
            &bare.raw_data,
            bare.signature.as_deref().unwrap(),
            &public_pem(&stranger),
        ));
        assert!(dropped_reason(bare).contains("logs a key that did not make its signature"));
    }

    /// The same layer, claiming to sign another image digest.
    fn naming(mut layer: SignatureLayer, digest: &str) -> SignatureLayer {
        layer.simple_signing.critical.image.docker_manifest_digest = digest.to_string();
        layer
    }
}
