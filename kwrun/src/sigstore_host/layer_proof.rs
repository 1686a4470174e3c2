//! What the `sigstore` crate leaves unchecked on classic (`.sig`) signature layers, checked
//! before any signer constraint sees them: the layer must name the one digest kwrun resolved,
//! a keyless certificate's key must have made the layer's signature, and a Rekor bundle must
//! log this layer's payload, signature and signer. Cosign v3 bundle layers (OCI referrers) are
//! held to the same rules: the crate checks them today, and kwrun does not depend on that
//! staying true. A layer that fails is dropped, with the reason kept for the error message.
//! The logged entries themselves are read by `rekor_entry` (classic) and `dsse_entry` (v3).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openssl::pkey::{PKey, Public};
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::crypto::{CosignVerificationKey, Signature};

use super::dsse_entry::{dsse_payload, logged_dsse_entry};
use super::rekor_entry::{logged_entry, logged_public_key};

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
        Some(BundleContent::RekorBundle(bundle)) => {
            let entry = logged_entry(bundle)?;
            let logged = LoggedSignature {
                log: "its Rekor bundle",
                payload_sha256: &entry.spec.data.hash.value,
                signature: &entry.spec.signature.content,
                signer_pem: &entry.spec.signature.public_key.content,
            };
            check_logged(layer, &layer.raw_data, &logged, signature)
        }
        Some(BundleContent::SigstoreBundle(tlog_entry)) => {
            let entry = logged_dsse_entry(&tlog_entry.canonicalized_body)?;
            let [logged_signature] = entry.spec.signatures.as_slice() else {
                return Err(format!(
                    "its v3 bundle's log entry records {} signatures, not one",
                    entry.spec.signatures.len()
                ));
            };
            let logged = LoggedSignature {
                log: "its v3 bundle's log entry",
                payload_sha256: &entry.spec.payload_hash.value,
                signature: &logged_signature.signature,
                signer_pem: &logged_signature.verifier,
            };
            // The layer's signed bytes are the DSSE encoding; the log hashes the payload inside.
            check_logged(layer, dsse_payload(&layer.raw_data)?, &logged, signature)
        }
        None => Ok(()),
    }
}

/// What a log entry says was signed, by what, by whom (base64 fields as logged).
struct LoggedSignature<'a> {
    /// How the error message names the entry's source.
    log: &'static str,
    payload_sha256: &'a str,
    signature: &'a str,
    signer_pem: &'a str,
}

/// The logged entry must be this layer's: its payload hash, its signature, and its signer.
fn check_logged(
    layer: &SignatureLayer,
    payload: &[u8],
    logged: &LoggedSignature<'_>,
    signature: &str,
) -> Result<(), String> {
    let log = logged.log;
    let payload_hash = hex::encode(openssl::sha::sha256(payload));
    if !logged.payload_sha256.eq_ignore_ascii_case(&payload_hash) {
        return Err(format!("{log} logs another payload"));
    }
    let logged_signature = BASE64.decode(logged.signature);
    let layer_signature = BASE64.decode(signature);
    match (logged_signature, layer_signature) {
        (Ok(logged), Ok(own)) if logged == own => {}
        _ => return Err(format!("{log} logs another signature")),
    }
    let logged_pem = BASE64
        .decode(logged.signer_pem)
        .map_err(|e| format!("{log}'s signer is not base64: {e}"))?;
    let logged_key = logged_public_key(&logged_pem).map_err(|e| format!("{log}: {e}"))?;
    match &layer.certificate_signature {
        Some(certificate) => {
            let own_key = public_key(&certificate.verification_key)?;
            if !own_key.public_eq(&logged_key) {
                return Err(format!("{log} logs another signer"));
            }
        }
        None => {
            let der = logged_key
                .public_key_to_der()
                .map_err(|e| format!("{log}'s key: {e}"))?;
            CosignVerificationKey::try_from_der(&der)
                .and_then(|key| {
                    key.verify_signature(
                        Signature::Base64Encoded(signature.as_bytes()),
                        &layer.raw_data,
                    )
                })
                .map_err(|_| format!("{log} logs a key that did not make its signature"))?;
        }
    }
    Ok(())
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
    use crate::sigstore_host::dsse_entry::tests::signed_statement;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::Private;
    use sigstore::cosign::bundle::{Bundle, Payload};
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

    /// Each layer is dropped, for a reason containing its expected text.
    fn assert_each_dropped(cases: impl IntoIterator<Item = (SignatureLayer, &'static str)>) {
        for (layer, expected) in cases {
            let reason = dropped_reason(layer);
            assert!(
                reason.contains(expected),
                "{reason} should contain {expected}"
            );
        }
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
        assert_each_dropped(cases);
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

    /// The dsse entry a log records, with the given payload, signatures and verifier.
    fn dsse_entry(payload: &[u8], signatures: &[&str], verifier_pem: &[u8]) -> BundleContent {
        let body = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": "00"},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(openssl::sha::sha256(payload))},
            "signatures": signatures.iter().map(|signature| serde_json::json!(
                {"signature": signature, "verifier": BASE64.encode(verifier_pem)})).collect::<Vec<_>>()
        }});
        BundleContent::SigstoreBundle(
            serde_json::from_value(serde_json::json!({
                "canonicalizedBody": BASE64.encode(body.to_string())
            }))
            .unwrap(),
        )
    }

    /// A v3 bundle layer as the crate returns it: the statement's digest as the signed image,
    /// the DSSE encoding as the signed bytes, the log entry as the bundle.
    fn v3_layer(
        key: &PKey<Private>,
        named_digest: &str,
        signature: Option<String>,
        bundle: impl FnOnce(&[u8], &str) -> BundleContent,
    ) -> SignatureLayer {
        let (statement, encoded) = signed_statement(named_digest);
        let signature = signature.unwrap_or_else(|| sign(key, &encoded));
        let bundle = bundle(&statement, &signature);
        let mut layer = layer(key, payload(named_digest, "v3"), signature, Some(bundle));
        layer.simple_signing.optional = None;
        layer.raw_data = encoded;
        layer
    }

    #[test]
    fn genuine_v3_bundle_layers_are_kept() {
        let signer = key();
        let genuine = v3_layer(&signer, DIGEST, None, |statement, signature| {
            dsse_entry(statement, &[signature], &public_pem(&signer))
        });
        let proof = prove_layers(vec![genuine], DIGEST);
        assert_eq!(proof.proven.len(), 1, "{:?}", proof.dropped);
    }

    #[test]
    fn forged_v3_bundles_are_dropped_with_a_reason() {
        let signer = key();
        let stranger = key();
        let signer_pem = public_pem(&signer);
        let other_signature = sign(&signer, b"another statement");
        let (other_statement, _) = signed_statement(
            "sha256:3333333333333333333333333333333333333333333333333333333333333333",
        );
        let cases: Vec<(SignatureLayer, &str)> = vec![
            (
                // The log entry of another signature by the same certificate.
                v3_layer(&signer, DIGEST, None, |statement, _| {
                    dsse_entry(statement, &[&other_signature], &signer_pem)
                }),
                "its v3 bundle's log entry logs another signature",
            ),
            (
                // The log entry names another certificate's key.
                v3_layer(&signer, DIGEST, None, |statement, signature| {
                    dsse_entry(statement, &[signature], &public_pem(&stranger))
                }),
                "its v3 bundle's log entry logs another signer",
            ),
            (
                // The log entry of another statement.
                v3_layer(&signer, DIGEST, None, |_, signature| {
                    dsse_entry(&other_statement, &[signature], &signer_pem)
                }),
                "its v3 bundle's log entry logs another payload",
            ),
            (
                // A genuine, logged bundle for another image.
                v3_layer(
                    &signer,
                    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                    None,
                    |statement, signature| dsse_entry(statement, &[signature], &signer_pem),
                ),
                "it signs sha256:2222",
            ),
            (
                // Certificate and log entry copied, signature garbage.
                v3_layer(
                    &signer,
                    DIGEST,
                    Some(BASE64.encode("garbage")),
                    |statement, signature| dsse_entry(statement, &[signature], &signer_pem),
                ),
                "it has a signature its certificate's key did not make",
            ),
            (
                v3_layer(&signer, DIGEST, None, |statement, signature| {
                    dsse_entry(statement, &[signature, signature], &signer_pem)
                }),
                "records 2 signatures, not one",
            ),
            (
                // A classic hashedrekord entry is no record of a DSSE envelope.
                v3_layer(&signer, DIGEST, None, |statement, signature| {
                    let BundleContent::RekorBundle(classic) =
                        bundle(statement, signature, &signer_pem)
                    else {
                        unreachable!()
                    };
                    BundleContent::SigstoreBundle(
                        serde_json::from_value(serde_json::json!({
                            "canonicalizedBody": classic.payload.body
                        }))
                        .unwrap(),
                    )
                }),
                "is not a dsse entry",
            ),
        ];
        assert_each_dropped(cases);
    }
}
