//! The forgeries found against Kubewarden hosts, and the genuine layouts that must still pass,
//! as manifests made from real keys and signatures.

use super::test_pki::{payload, rekor_bundle, sha256, signature_manifest, TestKey, TestLayer};
use super::*;
use serde_json::json;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A genuine keyless signer and the layer it made for `DIGEST`, plus one it made earlier for
/// another image (public, so an attacker can copy from it).
struct Genuine {
    key: TestKey,
    certificate: String,
    layer: TestLayer,
    other_image_layer: TestLayer,
}

fn genuine(key: TestKey) -> Genuine {
    let certificate = key.certificate_pem("alice@example.com");
    Genuine {
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

/// The attack: the victim's certificate and bundle copied onto a payload of the attacker's
/// choosing, with any signature bytes.
fn forged(from: &Genuine, signature: &[u8]) -> TestLayer {
    TestLayer {
        payload: payload(DIGEST, json!({"env": "prod"})),
        signature: signature.to_vec(),
        certificate: from.layer.certificate.clone(),
        bundle: from.other_image_layer.bundle.clone(),
    }
}

fn keyless(layers: &[TestLayer]) -> Result<(), String> {
    prove(&signature_manifest(layers), ProofDemand::CertificateLayer)
}

fn logged_by(certificate: &str, layers: &[TestLayer]) -> Result<(), String> {
    prove(
        &signature_manifest(layers),
        ProofDemand::LoggedSignatureBy {
            certificate_pem: certificate,
        },
    )
}

fn assert_refused(outcome: Result<(), String>, expected: &str) {
    match outcome {
        Err(reason) => assert!(
            reason.contains(expected),
            "{reason:?} should contain {expected:?}"
        ),
        Ok(()) => panic!("accepted, expected a refusal containing {expected:?}"),
    }
}

#[test]
fn genuine_keyless_layers_pass() {
    for key in [TestKey::p256(), TestKey::rsa(2048)] {
        let signer = genuine(key);
        assert_eq!(keyless(std::slice::from_ref(&signer.layer)), Ok(()));
        // A genuine layer for another image beside it is harmless: the host drops it.
        assert_eq!(
            keyless(&[signer.other_image_layer.clone(), signer.layer.clone()]),
            Ok(())
        );
    }
}

#[test]
fn forged_keyless_layers_are_refused() {
    let signer = genuine(TestKey::p256());
    let garbage = forged(&signer, b"garbage");
    let stolen_signature = forged(&signer, &signer.other_image_layer.signature);
    let by_attacker = forged(&signer, &TestKey::p256().sign(&garbage.payload));
    let forged_name = garbage.descriptor()["digest"].as_str().unwrap().to_string();
    let did_not_make =
        format!("layer {forged_name} has a signature its certificate's key did not make");
    let cases: [(&str, Vec<TestLayer>); 5] = [
        ("garbage signature", vec![garbage.clone()]),
        (
            "signature copied from another layer",
            vec![stolen_signature],
        ),
        ("signature by the attacker's own key", vec![by_attacker]),
        (
            "genuine layer first",
            vec![signer.layer.clone(), garbage.clone()],
        ),
        (
            "genuine layer copied whole beside it",
            vec![garbage, signer.other_image_layer.clone()],
        ),
    ];
    for (case, layers) in cases {
        let outcome = keyless(&layers);
        assert!(
            matches!(&outcome, Err(reason) if reason == &did_not_make),
            "{case}: {outcome:?}"
        );
    }
}

#[test]
fn a_bundle_must_log_this_layer() {
    let signer = genuine(TestKey::p256());
    let fresh_payload = payload(DIGEST, json!({"build": "never logged"}));
    let signature = signer.key.sign(&fresh_payload);
    let with_bundle = |bundle: String| TestLayer {
        payload: fresh_payload.clone(),
        signature: signature.clone(),
        certificate: Some(signer.certificate.clone()),
        bundle: Some(bundle),
    };
    let other = TestKey::p256();
    let cases = [
        (
            // Signed for real by the certificate's key, bundle copied from an older signature.
            signer.other_image_layer.bundle.clone().unwrap(),
            "Rekor bundle logs another payload",
        ),
        (
            rekor_bundle(
                &sha256(&fresh_payload),
                b"another signature",
                &signer.certificate,
            ),
            "Rekor bundle logs another signature",
        ),
        (
            rekor_bundle(
                &sha256(&fresh_payload),
                &signature,
                &other.certificate_pem("alice@example.com"),
            ),
            "Rekor bundle logs another certificate",
        ),
        (
            rekor_bundle(&sha256(&fresh_payload), &signature, &other.public_key_pem()),
            "Rekor bundle logs another key",
        ),
        (
            rekor_bundle(&sha256(&fresh_payload), &signature, "not a key"),
            "neither a PEM certificate nor a PEM public key",
        ),
    ];
    for (bundle, expected) in cases {
        assert_refused(keyless(&[with_bundle(bundle.clone())]), expected);
        assert_refused(
            logged_by(&signer.certificate, &[with_bundle(bundle)]),
            expected,
        );
    }
    // The same signature, logged for real, passes; so does a bundle logging the bare key.
    let logged = rekor_bundle(&sha256(&fresh_payload), &signature, &signer.certificate);
    assert_eq!(keyless(&[with_bundle(logged)]), Ok(()));
    let logged_key = rekor_bundle(
        &sha256(&fresh_payload),
        &signature,
        &signer.key.public_key_pem(),
    );
    assert_eq!(keyless(&[with_bundle(logged_key)]), Ok(()));
}

#[test]
fn keyless_needs_a_logged_certificate_layer() {
    let signer = genuine(TestKey::p256());
    let mut unlogged = signer.layer.clone();
    unlogged.bundle = None;
    let by_key = TestLayer::by_key(&signer.key, &payload(DIGEST, json!(null)));
    for layers in [vec![], vec![unlogged], vec![by_key]] {
        assert_refused(
            keyless(&layers),
            "no layer of its signature manifest carries a certificate",
        );
    }
}

#[test]
fn logged_certificate_signatures_pass_and_others_do_not() {
    let signer = genuine(TestKey::p256());
    assert_eq!(
        logged_by(&signer.certificate, std::slice::from_ref(&signer.layer)),
        Ok(())
    );
    // cosign may leave the certificate off the layer: the logged certificate still ties it.
    let mut bare = signer.layer.clone();
    bare.certificate = None;
    assert_eq!(
        logged_by(&signer.certificate, std::slice::from_ref(&bare)),
        Ok(())
    );

    let other = genuine(TestKey::p256());
    let mut unlogged = signer.layer.clone();
    unlogged.bundle = None;
    for layers in [vec![other.layer], vec![unlogged], vec![]] {
        assert_refused(
            logged_by(&signer.certificate, &layers),
            "no layer of its signature manifest is signed by the certificate's key",
        );
    }
}

#[test]
fn a_bundle_on_a_bare_layer_must_log_the_key_that_signed() {
    let signer = genuine(TestKey::p256());
    let stranger = TestKey::p256();
    let mut bare = signer.layer.clone();
    bare.certificate = None;
    bare.bundle = Some(rekor_bundle(
        &sha256(&bare.payload),
        &bare.signature,
        &stranger.public_key_pem(),
    ));
    assert_refused(
        keyless(&[signer.layer.clone(), bare]),
        "Rekor bundle logs a key that did not make its signature",
    );
}

#[test]
fn keys_the_policy_cannot_check_fail_closed() {
    for (key, named) in [
        (TestKey::p384(), "ECDSA P-384"),
        (TestKey::ed25519(), "Ed25519"),
    ] {
        let signer = genuine(key);
        assert_refused(
            keyless(&[signer.layer]),
            &format!("its certificate's key cannot be checked by this policy: {named}"),
        );
    }
}

#[test]
fn unreadable_manifests_and_certificates_prove_nothing() {
    assert_refused(
        prove(b"not json", ProofDemand::CertificateLayer),
        "not an image manifest",
    );
    let signer = genuine(TestKey::p256());
    let mut mangled = signer.layer.clone();
    mangled.certificate =
        Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into());
    assert_refused(keyless(&[mangled]), "its certificate is not a PEM X.509");
    let mut unsigned = signer.layer;
    unsigned.signature = Vec::new();
    assert_refused(
        keyless(&[unsigned]),
        "has a signature its certificate's key did not make",
    );
}

#[test]
fn the_signature_manifest_sits_beside_the_image() {
    assert_eq!(
        signature_manifest_reference("registry.test:5000/acme/app", DIGEST),
        "registry.test:5000/acme/app:sha256-1111111111111111111111111111111111111111111111111111111111111111.sig"
    );
}
