//! Choosing which certificates to ask the host about, on manifests made from real keys,
//! certificates and signatures: the genuine layouts, and what attackers push beside them.

use super::*;
use crate::host::KeylessIdentity;
use crate::test_pki::{
    payload, rekor_bundle, sha256, signature_manifest, CertificateSpec, TestKey, TestLayer,
};
use serde_json::json;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn alice() -> KeylessIdentity {
    KeylessIdentity {
        issuer: "https://idp".into(),
        subject: "alice@example.com".into(),
    }
}

/// A keyless signer: its key, its certificate, its layer for `DIGEST` and one it made
/// earlier for another image (public, so an attacker can copy from it).
struct Signer {
    key: TestKey,
    certificate: String,
    layer: TestLayer,
    other_image_layer: TestLayer,
}

fn signer(spec: CertificateSpec) -> Signer {
    let key = TestKey::p256();
    let certificate = key.fulcio_certificate_pem(&spec);
    Signer {
        layer: TestLayer::logged(&key, &certificate, &payload(DIGEST, json!(null))),
        other_image_layer: TestLayer::logged(
            &key,
            &certificate,
            &payload(OTHER_DIGEST, json!(null)),
        ),
        certificate,
        key,
    }
}

fn alice_signer() -> Signer {
    signer(CertificateSpec::email("alice@example.com"))
}

fn candidates_for_alice(layers: &[TestLayer]) -> Candidates {
    let alice = alice();
    keyless_candidates(&signature_manifest(layers), &IdentityMatch::Exact(&alice)).unwrap()
}

fn chosen_certificates(candidates: &Candidates) -> Vec<&str> {
    candidates
        .chosen
        .iter()
        .map(|c| c.certificate_pem.as_str())
        .collect()
}

#[test]
fn a_genuine_layer_is_the_candidate() {
    let genuine = alice_signer();
    let candidates = candidates_for_alice(std::slice::from_ref(&genuine.layer));
    assert_eq!(
        chosen_certificates(&candidates),
        [genuine.certificate.as_str()]
    );
    assert!(!candidates.left_out);
    let identity = &candidates.chosen[0].identity;
    assert_eq!(identity.not_before, "2026-01-02T03:04:05Z");
    assert!(crate::deploy::pem_material::same_public_key(
        &identity.public_key_pem,
        &genuine.key.public_key_pem()
    ));
}

#[test]
fn any_key_type_the_host_verifies_can_be_a_candidate() {
    // The policy only compares: P-384, RSA and Ed25519 certificates are chosen like P-256 ones,
    // and the host verifies their signatures.
    for key in [TestKey::p384(), TestKey::rsa(2048), TestKey::ed25519()] {
        let certificate = key.fulcio_certificate_pem(&CertificateSpec::email("alice@example.com"));
        let layer = TestLayer::logged(&key, &certificate, &payload(DIGEST, json!(null)));
        let candidates = candidates_for_alice(&[layer]);
        assert_eq!(chosen_certificates(&candidates), [certificate.as_str()]);
        assert!(crate::deploy::pem_material::same_public_key(
            &candidates.chosen[0].identity.public_key_pem,
            &key.public_key_pem()
        ));
    }
}

#[test]
fn attackers_layers_are_not_candidates_and_are_counted() {
    let genuine = alice_signer();
    let mallory = signer(CertificateSpec::email("mallory@example.com"));
    // The attack kwctl admits: certificate and bundle copied, any signature.
    let copied_bundle = TestLayer {
        payload: payload(DIGEST, json!({"env": "prod"})),
        signature: b"garbage".to_vec(),
        certificate: Some(genuine.certificate.clone()),
        bundle: genuine.other_image_layer.bundle.clone(),
    };
    let no_bundle = TestLayer {
        bundle: None,
        ..genuine.layer.clone()
    };
    let unsigned = TestLayer {
        payload: payload(DIGEST, json!({"env": "prod"})),
        signature: b"garbage".to_vec(),
        certificate: None,
        bundle: None,
    };
    let unreadable = TestLayer {
        certificate: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
        ..genuine.layer.clone()
    };
    let alice = alice();
    let layers = [
        copied_bundle,
        no_bundle,
        unsigned,
        mallory.layer,
        unreadable,
    ];
    let candidates = candidates_for_alice(&layers);
    assert!(candidates.chosen.is_empty());
    assert_eq!(
        candidates.none_found(&IdentityMatch::Exact(&alice)),
        "no layer of its signature manifest carries a certificate for alice@example.com from https://idp with a Rekor bundle that logs that layer (5 layers: 1 without a certificate, 1 with an unreadable certificate, 1 certified for another signer, 2 whose Rekor bundle is missing or logs another signature)"
    );
}

#[test]
fn a_bundle_must_log_this_layers_payload_signature_and_certificate() {
    let genuine = alice_signer();
    let other_key = TestKey::p256();
    let payload_bytes = payload(DIGEST, json!(null));
    let signature = genuine.key.sign(&payload_bytes);
    let logging = |digest: [u8; 32], signature: &[u8], signer: &str| TestLayer {
        bundle: Some(rekor_bundle(&digest, signature, signer)),
        ..genuine.layer.clone()
    };
    let cases = [
        (
            logging(sha256(&payload_bytes), &signature, &genuine.certificate),
            true,
        ),
        // Cosign may log the bare key of the certificate.
        (
            logging(
                sha256(&payload_bytes),
                &signature,
                &genuine.key.public_key_pem(),
            ),
            true,
        ),
        (
            logging(sha256(b"other"), &signature, &genuine.certificate),
            false,
        ),
        (
            logging(sha256(&payload_bytes), b"other", &genuine.certificate),
            false,
        ),
        (
            logging(
                sha256(&payload_bytes),
                &signature,
                &other_key.fulcio_certificate_pem(&CertificateSpec::email("alice@example.com")),
            ),
            false,
        ),
        (
            logging(
                sha256(&payload_bytes),
                &signature,
                &other_key.public_key_pem(),
            ),
            false,
        ),
        (
            logging(sha256(&payload_bytes), &signature, "not a PEM"),
            false,
        ),
    ];
    for (i, (mut layer, expected)) in cases.into_iter().enumerate() {
        layer.signature = signature.clone();
        let candidates = candidates_for_alice(&[layer]);
        assert_eq!(candidates.chosen.len(), usize::from(expected), "case {i}");
    }
}

#[test]
fn a_certificate_is_asked_about_once_however_many_layers_carry_it() {
    let genuine = alice_signer();
    let again = TestLayer::logged(
        &genuine.key,
        &genuine.certificate,
        &payload(DIGEST, json!({"build": "2"})),
    );
    let candidates = candidates_for_alice(&[genuine.layer.clone(), again, genuine.layer.clone()]);
    assert_eq!(
        chosen_certificates(&candidates),
        [genuine.certificate.as_str()]
    );
}

#[test]
fn at_most_max_candidates_are_chosen_in_manifest_order_and_the_rest_is_said() {
    let signers: Vec<Signer> = (0..MAX_CANDIDATES + 2).map(|_| alice_signer()).collect();
    let layers: Vec<TestLayer> = signers.iter().map(|s| s.layer.clone()).collect();
    let candidates = candidates_for_alice(&layers);
    let expected: Vec<&str> = signers[..MAX_CANDIDATES]
        .iter()
        .map(|s| s.certificate.as_str())
        .collect();
    assert_eq!(chosen_certificates(&candidates), expected);
    assert!(candidates.left_out);
    let exactly = candidates_for_alice(&layers[..MAX_CANDIDATES]);
    assert!(!exactly.left_out);
}

#[test]
fn a_thousand_layer_manifest_is_read_without_failing() {
    let genuine = alice_signer();
    let mut layers = vec![
        TestLayer {
            signature: b"garbage".to_vec(),
            ..genuine.other_image_layer.clone()
        };
        999
    ];
    layers.push(genuine.layer.clone());
    let candidates = candidates_for_alice(&layers);
    assert_eq!(
        chosen_certificates(&candidates),
        [genuine.certificate.as_str()]
    );
}

#[test]
fn an_unreadable_manifest_is_an_error() {
    let alice = alice();
    let err = keyless_candidates(b"{}", &IdentityMatch::Exact(&alice)).unwrap_err();
    assert!(err.contains("not an image manifest"), "{err}");
}

mod logged_by_certificate_key {
    use super::*;

    /// A `certificates` signer: a long-lived certificate whose key signs without Fulcio.
    fn certified() -> (TestKey, String) {
        let key = TestKey::p256();
        let certificate = key.certificate_pem("build@corp.example");
        (key, certificate)
    }

    #[test]
    fn a_layer_logged_with_the_certificates_key_passes() {
        let (key, certificate) = certified();
        let payload = payload(DIGEST, json!(null));
        for logged_as in [certificate.clone(), key.public_key_pem()] {
            let signature = key.sign(&payload);
            let layer = TestLayer {
                bundle: Some(rekor_bundle(&sha256(&payload), &signature, &logged_as)),
                payload: payload.clone(),
                signature,
                certificate: None,
            };
            assert_eq!(
                logged_by_certificate_key(&signature_manifest(&[layer]), &certificate),
                Ok(())
            );
        }
    }

    #[test]
    fn a_bundle_copied_from_another_signature_does_not() {
        let (key, certificate) = certified();
        let older = TestLayer::logged(&key, &certificate, &payload(OTHER_DIGEST, json!(null)));
        let unlogged = TestLayer {
            bundle: older.bundle.clone(),
            ..TestLayer::by_key(&key, &payload(DIGEST, json!(null)))
        };
        let stranger = alice_signer();
        for layers in [vec![unlogged], vec![stranger.layer], vec![]] {
            let err =
                logged_by_certificate_key(&signature_manifest(&layers), &certificate).unwrap_err();
            assert!(err.contains("no layer of its signature manifest carries a Rekor bundle that logs that layer's signature by the certificate's key"), "{err}");
        }
    }
}
