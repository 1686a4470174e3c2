//! What the policy asks the host after its first "trusted": the certificates it reads from
//! the `.sig` manifest, the questions about each (count and order), and how a failure
//! reads in the rejection.
use super::*;
use crate::host::SignerConstraint;
use crate::request::signature_manifest::MAX_CANDIDATES;
use crate::test_pki::{payload, signature_manifest, CertificateSpec, TestKey, TestLayer};

const IMAGE: &str = "ghcr.io/acme/app:v1";
const PINNED: &str =
    "ghcr.io/acme/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SIG_MANIFEST: &str =
    "ghcr.io/acme/app:sha256-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sig";
const ISSUED: &str = "certificate_trusted at 2026-01-02T03:04:05Z";

fn keyless_rule(extra: Value) -> Settings {
    let mut rule = json!({"image": "ghcr.io/*",
        "keyless": [{"issuer": "https://idp", "subject": "alice@example.com"}]});
    rule.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    settings(json!({"signatures": [rule]}))
}

/// A genuine keyless signature of `DIGEST_A` by a fresh key certified for `spec`.
fn genuine(spec: CertificateSpec) -> (TestLayer, String) {
    let key = TestKey::p256();
    let certificate = key.fulcio_certificate_pem(&spec);
    let layer = TestLayer::logged(&key, &certificate, &payload(DIGEST_A, json!(null)));
    (layer, certificate)
}

fn alice() -> (TestLayer, String) {
    genuine(CertificateSpec::email("alice@example.com"))
}

fn serving(host: FakeHost, layers: &[TestLayer]) -> FakeHost {
    host.with_manifest(SIG_MANIFEST, Ok(signature_manifest(layers)))
}

fn rejection(settings: &Settings, host: &FakeHost) -> String {
    match decision_of(&pod_with_image(IMAGE), settings, host) {
        Decision::Reject(message) => message,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_genuine_keyless_signature_is_pinned_after_three_more_host_calls() {
    let host = serving(FakeHost::trusting(), &[alice().0]);
    let Decision::Mutate(mutated) =
        decision_of(&pod_with_image(IMAGE), &keyless_rule(json!({})), &host)
    else {
        panic!("expected the image pinned: {:?}", host.call_log())
    };
    assert_eq!(
        mutated["spec"]["containers"][0]["image"],
        json!(format!("{IMAGE}@{DIGEST_A}"))
    );
    assert_eq!(
        host.call_log(),
        [
            format!("{IMAGE} keyless"),
            ISSUED.to_string(),
            format!("{PINNED} certificate"),
        ]
    );
    assert_eq!(*host.manifest_reads.borrow(), [SIG_MANIFEST]);
    // The default chain is Sigstore's public-good Fulcio: intermediate, then root.
    let chains = host.chains_asked.borrow();
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].len(), 2);
    assert!(chains[0]
        .iter()
        .all(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----")));
}

#[test]
fn annotations_are_asked_of_the_certificates_own_key() {
    let (layer, certificate) = alice();
    let host = serving(FakeHost::trusting(), &[layer]);
    let rules = keyless_rule(json!({"annotations": {"env": "prod"}}));
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &rules, &host),
        Decision::Mutate(_)
    ));
    assert_eq!(
        host.call_log(),
        [
            format!("{IMAGE} keyless"),
            ISSUED.to_string(),
            format!("{PINNED} certificate"),
            format!("{PINNED} pubKeys"),
        ]
    );
    // The key asked about is the certificate's: refuse exactly that key and it fails.
    let key = crate::deploy::signers::certificate_identity::CertificateIdentity::read(
        &crate::deploy::pem_material::decode_certificate(&certificate).unwrap(),
    )
    .unwrap()
    .public_key_pem;
    let refusing = FakeHost::answering(move |request| match &request.signer {
        SignerConstraint::PubKeys(keys) if *keys == std::slice::from_ref(&key) => {
            Err("no signature with these annotations".into())
        }
        _ => Ok(DIGEST_A.to_string()),
    });
    let host = serving(refusing, &[alice_layer_for(&certificate)]);
    let message = rejection(&rules, &host);
    assert!(message.contains("no layer signed by its key carries the annotations: no signature with these annotations"), "{message}");
}

/// A layer carrying `certificate` as if genuine: its bundle logs it, its signature is any.
fn alice_layer_for(certificate: &str) -> TestLayer {
    let key = TestKey::p256();
    let mut layer = TestLayer::logged(&key, certificate, &payload(DIGEST_A, json!(null)));
    // Log the certificate given, not `key`'s: only the host could tell them apart.
    layer.bundle = Some(crate::test_pki::rekor_bundle(
        &crate::test_pki::sha256(&layer.payload),
        &layer.signature,
        certificate,
    ));
    layer
}

#[test]
fn a_copied_certificate_with_a_garbage_signature_is_never_asked_about() {
    let (genuine_layer, _) = alice();
    let forged = TestLayer {
        payload: payload(DIGEST_A, json!({"env": "prod"})),
        signature: b"garbage".to_vec(),
        ..genuine_layer
    };
    let host = serving(FakeHost::trusting(), &[forged]);
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(message.contains("failed signatures[0] (keyless): the host trusted the signature, but no layer of its signature manifest carries a certificate for alice@example.com from https://idp with a Rekor bundle that logs that layer (1 layer: 1 whose Rekor bundle is missing or logs another signature)"), "{message}");
    assert_eq!(host.call_count(), 1, "{:?}", host.call_log());
}

#[test]
fn a_certificate_from_another_ca_is_refused_with_the_chain_reason() {
    let (layer, certificate) = alice();
    let host = serving(
        FakeHost::trusting().distrusting_certificate(&certificate),
        &[layer],
    );
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(message.contains("no certificate for alice@example.com from https://idp holds up: certificate 1 (does not chain to fulcioCertificateChain: certificate signature does not verify)"), "{message}");
    assert_eq!(
        host.call_log(),
        [format!("{IMAGE} keyless"), ISSUED.to_string()]
    );
}

#[test]
fn a_certificate_whose_key_signed_nothing_here_is_refused() {
    let (layer, _) = alice();
    let host = serving(
        FakeHost::answering(|request| match request.signer {
            SignerConstraint::Certificate { .. } => Err("no signature by this key".into()),
            _ => Ok(DIGEST_A.to_string()),
        }),
        &[layer],
    );
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(message.contains("certificate 1 (no layer of this digest is signed by its key with a Rekor bundle from its lifetime: no signature by this key)"), "{message}");
}

#[test]
fn a_host_vouching_for_another_digest_is_refused() {
    let (layer, _) = alice();
    let host = serving(
        FakeHost::answering(|request| match request.signer {
            SignerConstraint::Certificate { .. } => Ok(DIGEST_B.to_string()),
            _ => Ok(DIGEST_A.to_string()),
        }),
        &[layer],
    );
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(
        message.contains(&format!(
            "the host vouched for {DIGEST_B} when asked about {PINNED}"
        )),
        "{message}"
    );
}

#[test]
fn the_second_certificate_may_succeed_where_the_first_fails() {
    let (first_layer, first) = alice();
    let (second_layer, _) = alice();
    let host = serving(
        FakeHost::trusting().distrusting_certificate(&first),
        &[first_layer, second_layer],
    );
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &keyless_rule(json!({})), &host),
        Decision::Mutate(_)
    ));
    assert_eq!(
        host.call_log(),
        [
            format!("{IMAGE} keyless"),
            ISSUED.to_string(),
            ISSUED.to_string(),
            format!("{PINNED} certificate"),
        ]
    );
}

#[test]
fn at_most_max_candidates_are_asked_about_and_the_rejection_says_so() {
    let layers: Vec<(TestLayer, String)> = (0..MAX_CANDIDATES + 2).map(|_| alice()).collect();
    let mut host = FakeHost::trusting();
    for (_, certificate) in &layers {
        host = host.distrusting_certificate(certificate);
    }
    let only_layers: Vec<TestLayer> = layers.into_iter().map(|(layer, _)| layer).collect();
    let host = serving(host, &only_layers);
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(
        message.contains(&format!("certificate {MAX_CANDIDATES} (")),
        "{message}"
    );
    assert!(
        !message.contains(&format!("certificate {} (", MAX_CANDIDATES + 1)),
        "{message}"
    );
    assert!(message.contains(&format!("only the first {MAX_CANDIDATES} certificates of the signature manifest were asked about")), "{message}");
    assert_eq!(host.call_count(), 1 + MAX_CANDIDATES);
}

#[test]
fn a_classic_layer_of_another_signer_leaves_the_hosts_v3_verification_standing() {
    // The host's "trusted" for alice can only have come from a v3 bundle (a referrer).
    let (bob, _) = genuine(CertificateSpec::email("bob@example.com"));
    let host = serving(FakeHost::trusting(), &[bob]);
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &keyless_rule(json!({})), &host),
        Decision::Mutate(_)
    ));
    assert_eq!(host.call_count(), 1);
    // But a layer that could be alice's, unreadable or not logged as itself, rejects.
    let (layer, _) = alice();
    let unlogged = TestLayer {
        bundle: None,
        ..layer.clone()
    };
    let unreadable = TestLayer {
        certificate: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
        ..layer
    };
    for suspect in [unlogged, unreadable] {
        let (bob, _) = genuine(CertificateSpec::email("bob@example.com"));
        let host = serving(FakeHost::trusting(), &[bob, suspect]);
        let message = rejection(&keyless_rule(json!({})), &host);
        assert!(
            message.contains(
                "no layer of its signature manifest carries a certificate for alice@example.com"
            ),
            "{message}"
        );
    }
}

#[test]
fn every_listed_identity_needs_a_certificate_of_its_own() {
    let rules = settings(json!({"signatures": [{"image": "ghcr.io/*", "keyless": [
        {"issuer": "https://idp", "subject": "alice@example.com"},
        {"issuer": "https://idp", "subject": "bob@example.com"},
    ]}]}));
    let forged_bob = TestLayer {
        bundle: None,
        ..genuine(CertificateSpec::email("bob@example.com")).0
    };
    let host = serving(FakeHost::trusting(), &[alice().0, forged_bob]);
    let message = rejection(&rules, &host);
    assert!(message.contains("no layer of its signature manifest carries a certificate for bob@example.com from https://idp"), "{message}");
    let both = serving(
        FakeHost::trusting(),
        &[
            alice().0,
            genuine(CertificateSpec::email("bob@example.com")).0,
        ],
    );
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &rules, &both),
        Decision::Mutate(_)
    ));
}

#[test]
fn the_configured_fulcio_chain_is_the_one_asked() {
    let rules = settings(json!({
        "signatures": [{"image": "ghcr.io/*", "githubActions": {"owner": "acme"}}],
        "fulcioCertificateChain": [CA_CERT],
    }));
    let (layer, _) = genuine(CertificateSpec {
        issuer_v1: Some("https://token.actions.githubusercontent.com"),
        workflow_repository: Some("acme/app"),
        ..CertificateSpec::uri(
            "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main",
        )
    });
    let host = serving(FakeHost::trusting(), &[layer]);
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &rules, &host),
        Decision::Mutate(_)
    ));
    assert_eq!(*host.chains_asked.borrow(), [vec![CA_CERT.to_string()]]);
}

#[test]
fn an_unreadable_signature_manifest_is_not_verified() {
    let host =
        FakeHost::trusting().with_manifest(SIG_MANIFEST, Err("error sending request".to_string()));
    let message = rejection(&keyless_rule(json!({})), &host);
    assert!(
        message.contains("the host trusted the signature, but its signature manifest could not be read: error sending request"),
        "{message}"
    );
}

#[test]
fn without_a_sig_manifest_the_hosts_bundle_verification_stands() {
    // No classic signatures: the host can only have verified a cosign v3 bundle.
    let host = FakeHost::trusting();
    assert!(matches!(
        decision_of(&pod_with_image(IMAGE), &keyless_rule(json!({})), &host),
        Decision::Mutate(_)
    ));
    assert_eq!(*host.manifest_reads.borrow(), [SIG_MANIFEST]);
    assert_eq!(host.call_count(), 1);
}

#[rstest]
#[case::public_keys(json!({"pubKeys": [P256_PUB]}), &[" pubKeys"], 0)]
#[case::public_keys_annotated(json!({"pubKeys": [P256_PUB], "annotations": {"a": "b"}}), &[" pubKeys"], 0)]
#[case::certificate_unlogged(json!({"certificates": [LEAF_CERT], "requireRekorBundle": false}), &[" certificate"], 0)]
#[case::certificate_logged(json!({"certificates": [LEAF_CERT]}), &[" certificate"], 1)]
#[case::certificate_annotated(json!({"certificates": [LEAF_CERT], "requireRekorBundle": false, "annotations": {"a": "b"}}), &[" certificate", "@ pubKeys"], 0)]
#[case::keyless(json!({"keyless": [{"issuer": "https://i", "subject": "s"}]}), &[" keyless"], 1)]
#[case::keyless_prefix(json!({"keylessPrefix": [{"issuer": "https://i", "urlPrefix": "https://x/y"}]}), &[" keylessPrefix"], 1)]
#[case::github_actions(json!({"githubActions": {"owner": "acme"}}), &[" githubActions"], 1)]
fn host_calls_and_manifest_reads_per_signer_kind(
    #[case] signer: Value,
    #[case] calls: &[&str],
    #[case] manifest_reads: usize,
) {
    let mut rule = json!({"image": "*"});
    rule.as_object_mut()
        .unwrap()
        .extend(signer.as_object().unwrap().clone());
    // No `.sig` manifest: keyless rules stop after reading it (a v3-only image).
    let host = FakeHost::trusting();
    decision_of(
        &pod_with_image(IMAGE),
        &settings(json!({"signatures": [rule]})),
        &host,
    );
    let log = host.call_log();
    assert_eq!(log.len(), calls.len(), "{log:?}");
    for (call, expected) in log.iter().zip(calls) {
        match expected.strip_prefix('@') {
            Some(operation) => assert_eq!(call, &format!("{PINNED}{operation}")),
            None => assert_eq!(call, &format!("{IMAGE}{expected}")),
        }
    }
    assert_eq!(host.manifest_reads.borrow().len(), manifest_reads);
}

#[test]
fn a_logged_certificate_rule_needs_its_own_key_in_the_log() {
    // The manifest holds a genuine logged keyless layer, but not by the rule's certificate.
    let host = serving(FakeHost::trusting(), &[alice().0]);
    let rules = settings(json!({"signatures": [{"image": "*", "certificates": [LEAF_CERT]}]}));
    let message = rejection(&rules, &host);
    assert!(message.contains("failed signatures[0] (certificates): the host trusted the signature, but no layer of its signature manifest carries a Rekor bundle that logs that layer's signature by the certificate's key"), "{message}");
}
