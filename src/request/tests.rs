use std::collections::BTreeMap;

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use rstest::rstest;
use serde_json::{json, Value};

use super::*;
use crate::deploy::pem_material::test_material::*;
use crate::request::report::IMAGES_AUDIT_KEY;
use crate::test_host::{FakeHost, DIGEST_A, DIGEST_B};

/// The decision alone, for the tests that check nothing else.
fn decision_of(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    host: &dyn crate::host::SigstoreHost,
) -> Decision {
    admit(request, settings, host).decision
}

fn fixture(name: &str) -> KubernetesAdmissionRequest {
    let path = format!("{}/test_data/requests/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn settings(document: Value) -> Settings {
    Settings::parse(&document).expect("test settings are valid")
}

fn pub_keys_for(pattern: &str) -> Settings {
    settings(json!({"signatures": [{"image": pattern, "pubKeys": [P256_PUB]}]}))
}

/// Every string leaf of `value` with its JSON pointer.
fn leaves(value: &Value, pointer: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{pointer}/{k}"), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{pointer}/{i}"), out)),
        leaf => {
            out.insert(pointer, leaf.clone());
        }
    }
}

/// The pointers whose values differ between two objects of the same shape.
fn changed(before: &Value, after: &Value) -> BTreeMap<String, (Value, Value)> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves(before, String::new(), &mut a);
    leaves(after, String::new(), &mut b);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same fields, none dropped or added"
    );
    a.into_iter()
        .filter(|(k, v)| &b[k] != v)
        .map(|(k, v)| (k.clone(), (v, b[&k].clone())))
        .collect()
}

#[rstest]
#[case("pod_every_image_field.json", "/spec")]
#[case("deployment_every_image_field.json", "/spec/template/spec")]
#[case("replicaset_every_image_field.json", "/spec/template/spec")]
#[case("statefulset_every_image_field.json", "/spec/template/spec")]
#[case("daemonset_every_image_field.json", "/spec/template/spec")]
#[case("replicationcontroller_every_image_field.json", "/spec/template/spec")]
#[case("job_every_image_field.json", "/spec/template/spec")]
#[case(
    "cronjob_every_image_field.json",
    "/spec/jobTemplate/spec/template/spec"
)]
fn pins_every_image_of_every_kind_and_changes_nothing_else(#[case] name: &str, #[case] spec: &str) {
    let request = fixture(name);
    let host = FakeHost::trusting();
    let Decision::Mutate(mutated) = decision_of(&request, &pub_keys_for("*"), &host) else {
        panic!("expected a mutation")
    };
    let expected = BTreeMap::from([
        (
            format!("{spec}/initContainers/0/image"),
            "ghcr.io/acme/migrate:v2",
        ),
        (format!("{spec}/containers/0/image"), "ghcr.io/acme/app:v1"),
        (format!("{spec}/containers/1/image"), "ghcr.io/acme/app:v1"),
        (format!("{spec}/containers/2/image"), "nginx:1.27"),
        (
            format!("{spec}/volumes/1/image/reference"),
            "ghcr.io/acme/model:7b",
        ),
    ]);
    let expected: BTreeMap<String, (Value, Value)> = expected
        .into_iter()
        .map(|(p, image)| (p, (json!(image), json!(format!("{image}@{DIGEST_A}")))))
        .collect();
    assert_eq!(changed(&request.object, &mutated), expected);
    // Unknown and future fields survive untouched.
    assert!(mutated
        .pointer(&format!("{spec}/futurePodSpecField/kept"))
        .is_some());
    assert_eq!(
        mutated.pointer(&format!("{spec}/containers/0/futureContainerField")),
        Some(&json!("kept"))
    );
    // One host call per distinct image: app:v1 appears twice.
    assert_eq!(host.call_count(), 4, "{:?}", host.call_log());
}

#[test]
fn the_ephemeralcontainers_subresource_verifies_everything_but_pins_only_ephemeral_containers() {
    let request = fixture("pod_kubectl_debug_ephemeralcontainers.json");
    let host = FakeHost::trusting();
    let Decision::Mutate(mutated) = decision_of(&request, &pub_keys_for("*"), &host) else {
        panic!("expected a mutation")
    };
    let pinned: Vec<String> = changed(&request.object, &mutated).into_keys().collect();
    assert_eq!(pinned, ["/spec/ephemeralContainers/0/image"]);
    assert_eq!(host.call_count(), 5, "every distinct image is verified");

    let host = FakeHost::answering(|r| {
        if r.image.contains("migrate") {
            Err("unsigned".into())
        } else {
            Ok(DIGEST_A.into())
        }
    });
    let Decision::Reject(message) = decision_of(&request, &pub_keys_for("*"), &host) else {
        panic!("an unverified regular container still rejects")
    };
    assert!(
        message.contains("spec.initContainers[0].image"),
        "{message}"
    );
}

#[test]
fn hands_the_host_the_normalised_image_and_the_rule() {
    let request = fixture("pod_every_image_field.json");
    let host = FakeHost::trusting();
    let rules = settings(
        json!({"signatures": [{"image": "nginx*", "pubKeys": [P256_PUB], "annotations": {"env": "prod"}}]}),
    );
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    let host_recording = FakeHost::answering(move |r| {
        log.borrow_mut()
            .push((r.image.to_string(), r.annotations.cloned()));
        Ok(DIGEST_A.to_string())
    });
    decision_of(&request, &rules, &host_recording);
    let annotations = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    assert_eq!(
        *seen.borrow(),
        vec![(
            "docker.io/library/nginx:1.27".to_string(),
            Some(annotations)
        )]
    );
    assert_eq!(host.call_count(), 0);
}

#[test]
fn verifies_each_image_and_rule_pair_once() {
    // Three containers share one image; two rules match it; a certificates rule has two certificates.
    let request = fixture("deployment_every_image_field.json");
    let rules = settings(json!({"signatures": [
        {"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]},
        {"image": "ghcr.io/*", "githubActions": {"owner": "acme"}},
        {"image": "ghcr.io/acme/model*", "certificates": [LEAF_CERT, CA_CERT], "requireRekorBundle": false}
    ]}));
    let host = FakeHost::trusting();
    assert!(matches!(
        decision_of(&request, &rules, &host),
        Decision::Mutate(_)
    ));
    assert_eq!(
        host.call_log(),
        [
            "ghcr.io/acme/app:v1 pubKeys",
            "ghcr.io/acme/app:v1 githubActions",
            "ghcr.io/acme/migrate:v2 githubActions",
            "ghcr.io/acme/model:7b githubActions",
            "ghcr.io/acme/model:7b certificate",
            "ghcr.io/acme/model:7b certificate",
        ]
    );
}

#[test]
fn rejects_listing_every_failing_image_in_a_stable_order() {
    let request = fixture("deployment_every_image_field.json");
    let rules = settings(json!({"signatures": [
        {"image": "ghcr.io/*", "pubKeys": [P256_PUB]},
        {"image": "nginx*", "keyless": [{"issuer": "https://accounts.example", "subject": "ops@example.com"}]}
    ]}));
    let host = FakeHost::answering(|r| {
        if r.image.contains("app") || r.image.contains("nginx") {
            Err(format!("no signature of {} matches", r.image))
        } else {
            Ok(DIGEST_A.to_string())
        }
    });
    let Decision::Reject(message) = decision_of(&request, &rules, &host) else {
        panic!("expected rejection")
    };
    assert_eq!(
        message,
        "Deployment shop/web: 3 images not verified: \
         spec.template.spec.containers[0].image \"ghcr.io/acme/app:v1\" failed signatures[0] (pubKeys): no signature of ghcr.io/acme/app:v1 matches; \
         spec.template.spec.containers[1].image \"ghcr.io/acme/app:v1\" failed signatures[0] (pubKeys): no signature of ghcr.io/acme/app:v1 matches; \
         spec.template.spec.containers[2].image \"nginx:1.27\" failed signatures[1] (keyless): no signature of docker.io/library/nginx:1.27 matches"
    );
}

#[test]
fn every_matching_rule_must_pass() {
    let request = fixture("pod_generated_name.json");
    let rules = settings(json!({"signatures": [
        {"image": "ghcr.io/*", "pubKeys": [P256_PUB]},
        {"image": "ghcr.io/acme/*", "githubActions": {"owner": "acme"}}
    ]}));
    let host = FakeHost::answering(|r| match r.check {
        crate::host::SignerCheck::GithubActions { .. } => Err("signed by another workflow".into()),
        _ => Ok(DIGEST_A.into()),
    });
    assert_eq!(
        decision_of(&request, &rules, &host),
        Decision::Reject(
            "Pod shop/web-7d9f-*: 1 image not verified: spec.containers[0].image \"ghcr.io/acme/app:v1\" failed signatures[1] (githubActions): signed by another workflow".into()
        )
    );
}

#[test]
fn accepts_images_no_rule_covers_without_touching_them() {
    let request = fixture("pod_every_image_field.json");
    let host = FakeHost::trusting();
    let Decision::Mutate(mutated) = decision_of(&request, &pub_keys_for("nginx*"), &host) else {
        panic!()
    };
    let diff = changed(&request.object, &mutated);
    assert_eq!(
        diff.keys().collect::<Vec<_>>(),
        ["/spec/containers/2/image"]
    );
    assert_eq!(host.call_count(), 1);

    let host = FakeHost::trusting();
    assert_eq!(
        decision_of(&request, &pub_keys_for("quay.io/*"), &host),
        Decision::Accept
    );
    assert_eq!(host.call_count(), 0);
}

fn pod_with_image(image: &str) -> KubernetesAdmissionRequest {
    let mut request = fixture("pod_generated_name.json");
    request.object["spec"]["containers"][0]["image"] = json!(image);
    request
}

#[test]
fn an_image_pinned_to_the_verified_digest_is_left_alone() {
    let host = FakeHost::trusting();
    let request = pod_with_image(&format!("ghcr.io/acme/app:v1@{DIGEST_A}"));
    assert_eq!(
        decision_of(&request, &pub_keys_for("*"), &host),
        Decision::Accept
    );
    assert_eq!(
        host.call_log(),
        [format!("ghcr.io/acme/app:v1@{DIGEST_A} pubKeys")]
    );
}

#[test]
fn an_image_pinned_to_another_digest_is_rejected() {
    let host = FakeHost::trusting();
    let request = pod_with_image(&format!("ghcr.io/acme/app@{DIGEST_B}"));
    let Decision::Reject(message) = decision_of(&request, &pub_keys_for("*"), &host) else {
        panic!()
    };
    assert!(
        message.ends_with(&format!(
            "the image is pinned to {DIGEST_B} but the verified digest is {DIGEST_A}"
        )),
        "{message}"
    );
}

/// What each digest policy does with a verified, unpinned image, per kind.
#[rstest]
#[case::pin_pod("pin", "pod_every_image_field.json", "mutate")]
#[case::pin_deployment("pin", "deployment_every_image_field.json", "mutate")]
#[case::pin_cronjob("pin", "cronjob_every_image_field.json", "mutate")]
#[case::pods_only_pod("pinPodsOnly", "pod_every_image_field.json", "mutate")]
#[case::pods_only_debug("pinPodsOnly", "pod_kubectl_debug_ephemeralcontainers.json", "mutate")]
#[case::pods_only_deployment("pinPodsOnly", "deployment_every_image_field.json", "accept")]
#[case::pods_only_replicaset("pinPodsOnly", "replicaset_every_image_field.json", "accept")]
#[case::pods_only_cronjob("pinPodsOnly", "cronjob_every_image_field.json", "accept")]
#[case::keep_pod("keep", "pod_every_image_field.json", "accept")]
#[case::keep_deployment("keep", "deployment_every_image_field.json", "accept")]
#[case::require_pod("require", "pod_every_image_field.json", "reject")]
#[case::require_deployment("require", "deployment_every_image_field.json", "reject")]
fn each_digest_policy_pins_keeps_or_requires(
    #[case] policy: &str,
    #[case] name: &str,
    #[case] expected: &str,
) {
    let rules = settings(
        json!({"digestPolicy": policy, "signatures": [{"image": "*", "pubKeys": [P256_PUB]}]}),
    );
    let host = FakeHost::trusting();
    let decision = decision_of(&fixture(name), &rules, &host);
    let outcome = match &decision {
        Decision::Accept => "accept",
        Decision::Mutate(_) => "mutate",
        Decision::Reject(_) => "reject",
    };
    assert_eq!(outcome, expected, "{decision:?}");
    assert!(
        host.call_count() > 0,
        "verification happens whatever the policy"
    );
}

#[test]
fn require_names_every_image_written_without_a_digest_and_the_digest_to_write() {
    let rules = settings(
        json!({"digestPolicy": "require", "signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]}]}),
    );
    let host = FakeHost::trusting();
    let request = fixture("pod_every_image_field.json");
    let Decision::Reject(message) = decision_of(&request, &rules, &host) else {
        panic!("expected a rejection")
    };
    let reason = format!(
        "the image must be written with its digest (digestPolicy: require); the verified digest is {DIGEST_A}"
    );
    assert_eq!(
        message,
        format!(
            "Pod shop/web: 2 images not verified: spec.containers[0].image \"ghcr.io/acme/app:v1\": {reason}; spec.containers[1].image \"ghcr.io/acme/app:v1\": {reason}"
        )
    );

    // Written with the verified digest: admitted as written; other images are not covered.
    let mut pinned = request.clone();
    for i in 0..2 {
        pinned.object["spec"]["containers"][i]["image"] =
            json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}"));
    }
    assert_eq!(decision_of(&pinned, &rules, &host), Decision::Accept);
    // Written with another digest: refused as under every policy.
    pinned.object["spec"]["containers"][1]["image"] = json!(format!("ghcr.io/acme/app@{DIGEST_B}"));
    let Decision::Reject(message) = decision_of(&pinned, &rules, &host) else {
        panic!("expected a rejection")
    };
    assert!(
        message.contains(&format!("the image is pinned to {DIGEST_B}")),
        "{message}"
    );
}

#[rstest]
#[case::host_error(Err("registry unreachable: connection refused".to_string()), "registry unreachable: connection refused")]
#[case::malformed_digest(Ok("sha256:xyz".to_string()), "host answered with a malformed digest \"sha256:xyz\"")]
#[case::empty_digest(Ok(String::new()), "host answered with a malformed digest \"\"")]
fn fails_closed_on_bad_host_answers(#[case] answer: Result<String, String>, #[case] reason: &str) {
    let host = FakeHost::answering(move |_| answer.clone());
    let Decision::Reject(message) = decision_of(
        &pod_with_image("ghcr.io/acme/app:v1"),
        &pub_keys_for("*"),
        &host,
    ) else {
        panic!("must not admit")
    };
    assert!(message.ends_with(reason), "{message}");
}

#[test]
fn rules_that_verify_different_digests_reject() {
    let rules = settings(json!({"signatures": [
        {"image": "*", "pubKeys": [P256_PUB]},
        {"image": "*", "githubActions": {"owner": "acme"}}
    ]}));
    let host = FakeHost::answering(|r| match r.check {
        crate::host::SignerCheck::PubKeys(_) => Ok(DIGEST_A.into()),
        _ => Ok(DIGEST_B.into()),
    });
    let Decision::Reject(message) =
        decision_of(&pod_with_image("ghcr.io/acme/app:v1"), &rules, &host)
    else {
        panic!()
    };
    assert!(message.contains(&format!("failed signatures[1] (githubActions): verified digest {DIGEST_B} differs from {DIGEST_A}")), "{message}");
}

#[test]
fn checks_of_one_rule_must_agree_on_the_digest() {
    let rules =
        settings(json!({"signatures": [{"image": "*", "certificates": [LEAF_CERT, CA_CERT]}]}));
    let answers = std::cell::Cell::new(0);
    let host = FakeHost::answering(move |_| {
        answers.set(answers.get() + 1);
        Ok(if answers.get() == 1 {
            DIGEST_A
        } else {
            DIGEST_B
        }
        .to_string())
    });
    let Decision::Reject(message) =
        decision_of(&pod_with_image("ghcr.io/acme/app:v1"), &rules, &host)
    else {
        panic!()
    };
    assert!(
        message.contains("verifications disagree on the digest"),
        "{message}"
    );
}

#[rstest]
#[case::uppercase("GHCR.io/Acme/app", "repository name must be lowercase")]
#[case::garbage("ghcr.io//app", "invalid reference format")]
fn rejects_unparseable_references_with_the_field_path(#[case] image: &str, #[case] reason: &str) {
    let host = FakeHost::trusting();
    let Decision::Reject(message) =
        decision_of(&pod_with_image(image), &pub_keys_for("quay.io/*"), &host)
    else {
        panic!()
    };
    assert_eq!(
        message,
        format!("Pod shop/web-7d9f-*: 1 image not verified: spec.containers[0].image {image:?}: invalid image reference: {reason}")
    );
    assert_eq!(host.call_count(), 0);
}

#[test]
fn a_non_string_image_is_rejected() {
    let mut request = pod_with_image("x");
    request.object["spec"]["containers"][0]["image"] = json!(7);
    let Decision::Reject(message) =
        decision_of(&request, &pub_keys_for("*"), &FakeHost::trusting())
    else {
        panic!()
    };
    assert!(
        message.ends_with("spec.containers[0].image \"7\": image must be a string"),
        "{message}"
    );
}

#[rstest]
#[case::delete("pod_delete_operation.json")]
#[case::other_kind("service_without_pod_spec.json")]
fn accepts_what_carries_no_new_images_without_host_calls(#[case] name: &str) {
    let host = FakeHost::trusting();
    assert_eq!(
        decision_of(&fixture(name), &pub_keys_for("*"), &host),
        Decision::Accept
    );
    assert_eq!(host.call_count(), 0);
}

#[test]
fn connect_and_null_objects_are_accepted() {
    let host = FakeHost::trusting();
    let mut request = fixture("pod_every_image_field.json");
    request.operation = "CONNECT".into();
    assert_eq!(
        decision_of(&request, &pub_keys_for("*"), &host),
        Decision::Accept
    );
    let mut request = fixture("pod_every_image_field.json");
    request.object = Value::Null;
    assert_eq!(
        decision_of(&request, &pub_keys_for("*"), &host),
        Decision::Accept
    );
    assert_eq!(host.call_count(), 0);
}

#[test]
fn docker_hub_spellings_cannot_escape_a_rule() {
    let rules = pub_keys_for("nginx*");
    for image in [
        "nginx",
        "docker.io/nginx:1",
        &format!("index.docker.io/library/nginx@{DIGEST_A}"),
        "DOCKER.IO/library/nginx",
    ] {
        let host = FakeHost::answering(|_| Err("unsigned".into()));
        assert!(
            matches!(
                decision_of(&pod_with_image(image), &rules, &host),
                Decision::Reject(_)
            ),
            "{image} escaped"
        );
        assert_eq!(host.call_count(), 1);
    }
}

mod host_follow_up {
    //! What the policy asks the host after its first "trusted": the certificates it reads from
    //! the `.sig` manifest, the questions about each (count and order), and how a failure
    //! reads in the rejection.
    use super::*;
    use crate::host::SignerCheck;
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
        let refusing = FakeHost::answering(move |request| match &request.check {
            SignerCheck::PubKeys(keys) if *keys == std::slice::from_ref(&key) => {
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
            FakeHost::answering(|request| match request.check {
                SignerCheck::Certificate { .. } => Err("no signature by this key".into()),
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
            FakeHost::answering(|request| match request.check {
                SignerCheck::Certificate { .. } => Ok(DIGEST_B.to_string()),
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
            certificate: Some(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            ),
            ..layer
        };
        for suspect in [unlogged, unreadable] {
            let (bob, _) = genuine(CertificateSpec::email("bob@example.com"));
            let host = serving(FakeHost::trusting(), &[bob, suspect]);
            let message = rejection(&keyless_rule(json!({})), &host);
            assert!(message.contains("no layer of its signature manifest carries a certificate for alice@example.com"), "{message}");
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
        let host = FakeHost::trusting()
            .with_manifest(SIG_MANIFEST, Err("error sending request".to_string()));
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
}

mod unmatched_and_skipped {
    //! `unmatchedImages`, `skipImages` and the audit record of what happened to each field.
    use super::*;

    /// The Deployment fixture's images: app:v1 (twice), migrate:v2, nginx:1.27, model:7b.
    fn rules(extra: Value) -> Settings {
        let mut document =
            json!({"signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]}]});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        settings(document)
    }

    #[test]
    fn by_default_unmatched_images_are_admitted_silently_but_recorded() {
        let host = FakeHost::trusting();
        let admission = admit(
            &fixture("deployment_every_image_field.json"),
            &rules(json!({})),
            &host,
        );
        assert!(matches!(admission.decision, Decision::Mutate(_)));
        assert!(admission.warnings.is_empty());
        let record: Value =
            serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
        assert_eq!(
            record,
            json!({
                "spec.template.spec.initContainers[0].image": "unmatched",
                "spec.template.spec.containers[0].image": format!("verified by signatures[0] (pubKeys): {DIGEST_A}"),
                "spec.template.spec.containers[1].image": format!("verified by signatures[0] (pubKeys): {DIGEST_A}"),
                "spec.template.spec.containers[2].image": "unmatched",
                "spec.template.spec.volumes[1].image.reference": "unmatched",
            })
        );
    }

    #[test]
    fn warn_admits_unmatched_images_with_a_warning_each() {
        let host = FakeHost::trusting();
        let admission = admit(
            &fixture("deployment_every_image_field.json"),
            &rules(json!({"unmatchedImages": "warn"})),
            &host,
        );
        assert!(matches!(admission.decision, Decision::Mutate(_)));
        assert_eq!(
            admission.warnings,
            [
                "spec.template.spec.containers[2].image \"nginx:1.27\": no rule covers this image; admitted unverified (unmatchedImages: warn)",
                "spec.template.spec.initContainers[0].image \"ghcr.io/acme/migrate:v2\": no rule covers this image; admitted unverified (unmatchedImages: warn)",
                "spec.template.spec.volumes[1].image.reference \"ghcr.io/acme/model:7b\": no rule covers this image; admitted unverified (unmatchedImages: warn)",
            ]
        );
    }

    #[test]
    fn reject_refuses_unmatched_images_naming_each() {
        let host = FakeHost::trusting();
        let admission = admit(
            &fixture("deployment_every_image_field.json"),
            &rules(json!({"unmatchedImages": "reject"})),
            &host,
        );
        let Decision::Reject(message) = admission.decision else {
            panic!("expected a rejection")
        };
        assert!(message.starts_with("Deployment shop/web: 3 images not verified: spec.template.spec.containers[2].image \"nginx:1.27\": no rule covers this image (unmatchedImages: reject); "), "{message}");
        assert!(admission.warnings.is_empty() && admission.audit_annotations.is_empty());
    }

    #[test]
    fn skipped_images_are_neither_verified_nor_pinned_nor_unmatched() {
        let host = FakeHost::trusting();
        let settings = rules(json!({
            "unmatchedImages": "reject",
            "skipImages": ["ghcr.io/acme/migrate:*", "docker.io/library/nginx:*", "ghcr.io/acme/model:*"],
            "signatures": [{"image": "*", "pubKeys": [P256_PUB]}],
        }));
        let request = fixture("deployment_every_image_field.json");
        let admission = admit(&request, &settings, &host);
        let Decision::Mutate(mutated) = &admission.decision else {
            panic!("expected the app pinned")
        };
        let pinned: Vec<String> = changed(&request.object, mutated).into_keys().collect();
        assert_eq!(
            pinned,
            [
                "/spec/template/spec/containers/0/image",
                "/spec/template/spec/containers/1/image"
            ]
        );
        assert_eq!(host.call_log(), ["ghcr.io/acme/app:v1 pubKeys"]);
        let record: Value =
            serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
        assert_eq!(record["spec.template.spec.containers[2].image"], "skipped");
        assert_eq!(
            record["spec.template.spec.initContainers[0].image"],
            "skipped"
        );
    }

    #[test]
    fn a_digest_spelling_of_a_tag_rule_is_verified_not_unmatched() {
        let settings = settings(
            json!({"signatures": [{"image": "ghcr.io/acme/app:v1", "pubKeys": [P256_PUB]}]}),
        );
        let host = FakeHost::answering(|_| Err("unsigned".to_string()));
        for image in [
            format!("ghcr.io/acme/app@{DIGEST_A}"),
            format!("ghcr.io/acme/app:v1@{DIGEST_A}"),
            format!("GHCR.IO:443/acme/app:v2@{DIGEST_A}"),
        ] {
            assert!(
                matches!(
                    decision_of(&pod_with_image(&image), &settings, &host),
                    Decision::Reject(_)
                ),
                "{image} escaped the rule"
            );
        }
    }
}

#[test]
fn containers_sharing_an_image_are_each_pinned_and_recorded() {
    let containers: Vec<Value> = (0..3)
        .map(|i| json!({"name": format!("c{i}"), "image": "ghcr.io/acme/app:v1"}))
        .collect();
    let mut request = pod_with_image("ghcr.io/acme/app:v1");
    request.object["spec"]["containers"] = Value::Array(containers);
    let host = FakeHost::trusting();
    let admission = admit(&request, &pub_keys_for("ghcr.io/*"), &host);
    let Decision::Mutate(object) = admission.decision else {
        panic!("expected a mutation, got {:?}", admission.decision);
    };
    for i in 0..3 {
        assert_eq!(
            object["spec"]["containers"][i]["image"],
            format!("ghcr.io/acme/app:v1@{DIGEST_A}")
        );
    }
    assert_eq!(host.call_log().len(), 1);
    let record: BTreeMap<String, String> =
        serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
    assert_eq!(record.len(), 3);
    assert!(record.values().all(|outcome| outcome.contains(DIGEST_A)));
}

mod warn_rules {
    //! `failureAction: warn`: a failing warn rule admits with a warning; it never weakens an
    //! enforcing rule, never pins, and does not count as covering an image.
    use super::*;
    use crate::host::SignerCheck;

    const APP: &str = "spec.containers[0].image \"ghcr.io/acme/app:v1\"";

    /// Rule 0 (pubKeys) enforces when `enforcing`; rule 1 (keyless) warns. Both cover app*.
    fn rules(enforcing: bool, extra: Value) -> Settings {
        let mut signatures = vec![
            json!({"image": "ghcr.io/acme/app*", "failureAction": "warn",
            "keyless": [{"issuer": "https://issuer.example", "subject": "new@example.com"}]}),
        ];
        if enforcing {
            signatures.insert(
                0,
                json!({"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]}),
            );
        }
        let mut document = json!({"signatures": signatures});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        settings(document)
    }

    /// Answers per signer kind: `pubKeys` and `keyless`, as the test says.
    fn host(pub_keys: Result<&str, &str>, keyless: Result<&str, &str>) -> FakeHost {
        let (pub_keys, keyless) = (
            pub_keys.map(str::to_string).map_err(str::to_string),
            keyless.map(str::to_string).map_err(str::to_string),
        );
        FakeHost::answering(move |r| match r.check {
            SignerCheck::PubKeys(_) => pub_keys.clone(),
            _ => keyless.clone(),
        })
    }

    fn app_pod() -> KubernetesAdmissionRequest {
        fixture("pod_generated_name.json")
    }

    fn audit_of(admission: &Admission) -> Value {
        let record: Value =
            serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
        record["spec.containers[0].image"].clone()
    }

    #[test]
    fn a_failing_warn_rule_alone_admits_with_a_warning_and_pins_nothing() {
        let admission = admit(
            &app_pod(),
            &rules(false, json!({})),
            &host(Ok(DIGEST_A), Err("no matching signature")),
        );
        assert_eq!(admission.decision, Decision::Accept);
        assert_eq!(
            admission.warnings,
            [format!("{APP} failed signatures[0] (keyless): no matching signature; admitted (failureAction: warn)")]
        );
        assert_eq!(
            audit_of(&admission),
            json!("unmatched; failed warn-only signatures[0] (keyless)")
        );
    }

    #[test]
    fn a_passing_warn_rule_alone_vouches_for_nothing_it_is_not_pinned() {
        let admission = admit(
            &app_pod(),
            &rules(false, json!({})),
            &host(Ok(DIGEST_A), Ok(DIGEST_A)),
        );
        assert_eq!(admission.decision, Decision::Accept);
        assert!(admission.warnings.is_empty());
        assert_eq!(audit_of(&admission), json!("unmatched"));
    }

    /// An attacker's image that only a warn rule covers is not let through a safety net.
    #[test]
    fn a_warn_rule_does_not_count_as_coverage_for_unmatched_images() {
        let admission = admit(
            &app_pod(),
            &rules(false, json!({"unmatchedImages": "reject"})),
            &host(Ok(DIGEST_A), Ok(DIGEST_A)),
        );
        let Decision::Reject(message) = admission.decision else {
            panic!("expected a rejection")
        };
        assert!(
            message.ends_with(&format!(
                "{APP}: only failureAction: warn rules cover this image (unmatchedImages: reject)"
            )),
            "{message}"
        );
        let admission = admit(
            &app_pod(),
            &rules(false, json!({"unmatchedImages": "warn"})),
            &host(Ok(DIGEST_A), Ok(DIGEST_A)),
        );
        assert_eq!(
            admission.warnings,
            [format!("{APP}: only failureAction: warn rules cover this image; admitted unverified (unmatchedImages: warn)")]
        );
    }

    #[test]
    fn a_warn_rule_never_weakens_an_enforcing_rule() {
        let admission = admit(
            &app_pod(),
            &rules(true, json!({})),
            &host(Err("no matching signature"), Ok(DIGEST_A)),
        );
        let Decision::Reject(message) = admission.decision else {
            panic!("expected a rejection")
        };
        assert!(
            message.ends_with(&format!(
                "{APP} failed signatures[0] (pubKeys): no matching signature"
            )),
            "{message}"
        );
    }

    #[test]
    fn beside_a_passing_enforcing_rule_a_failing_warn_rule_warns_and_the_image_is_pinned() {
        let admission = admit(
            &app_pod(),
            &rules(true, json!({})),
            &host(Ok(DIGEST_A), Err("no matching signature")),
        );
        let Decision::Mutate(mutated) = &admission.decision else {
            panic!("expected a mutation: {:?}", admission.decision)
        };
        assert_eq!(
            mutated.pointer("/spec/containers/0/image"),
            Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
        );
        assert_eq!(
            admission.warnings,
            [format!("{APP} failed signatures[1] (keyless): no matching signature; admitted (failureAction: warn)")]
        );
        assert_eq!(
            audit_of(&admission),
            json!(format!("verified by signatures[0] (pubKeys): {DIGEST_A}; failed warn-only signatures[1] (keyless)"))
        );
    }

    /// The pin is the enforcing rule's digest; a warn rule vouching for another is a warning.
    #[test]
    fn the_pin_is_only_ever_a_digest_an_enforcing_rule_verified() {
        let admission = admit(
            &app_pod(),
            &rules(true, json!({})),
            &host(Ok(DIGEST_A), Ok(DIGEST_B)),
        );
        let Decision::Mutate(mutated) = &admission.decision else {
            panic!("expected a mutation: {:?}", admission.decision)
        };
        assert_eq!(
            mutated.pointer("/spec/containers/0/image"),
            Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
        );
        assert_eq!(
            admission.warnings,
            [format!("{APP} failed signatures[1] (keyless): verified digest {DIGEST_B} differs from {DIGEST_A} verified by another rule; admitted (failureAction: warn)")]
        );
    }

    #[rstest]
    #[case::written_other_digest(
        json!({}),
        Some(DIGEST_B),
        format!("the image is pinned to {DIGEST_B} but the verified digest is {DIGEST_A}")
    )]
    #[case::require_without_digest(
        json!({"digestPolicy": "require"}),
        None,
        format!("the image must be written with its digest (digestPolicy: require); the verified digest is {DIGEST_A}")
    )]
    fn a_warn_rule_alone_warns_where_an_enforcing_rule_would_refuse_the_digest(
        #[case] extra: Value,
        #[case] written: Option<&str>,
        #[case] reason: String,
    ) {
        let mut request = app_pod();
        if let Some(digest) = written {
            request.object["spec"]["containers"][0]["image"] =
                json!(format!("ghcr.io/acme/app:v1@{digest}"));
        }
        let admission = admit(
            &request,
            &rules(false, extra),
            &host(Ok(DIGEST_A), Ok(DIGEST_A)),
        );
        assert_eq!(admission.decision, Decision::Accept);
        assert_eq!(admission.warnings.len(), 1, "{:?}", admission.warnings);
        assert!(
            admission.warnings[0].ends_with(&format!(
                "failed signatures[0] (keyless): {reason}; admitted (failureAction: warn)"
            )),
            "{:?}",
            admission.warnings
        );
    }
}

mod minimum_matches {
    //! `minimumMatches`: N of the listed signers, each its own host call, asked only until the
    //! quorum is met or out of reach.
    use super::*;
    use crate::host::SignerCheck;

    const KEYS: [&str; 3] = [P256_PUB, P384_PUB, RSA_PUB];

    fn two_of_three() -> Settings {
        settings(
            json!({"signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": KEYS, "minimumMatches": 2}]}),
        )
    }

    /// Answers per key: `Ok(digest)` or `Err(reason)`, by the key's position in `KEYS`.
    fn host(answers: [Result<&'static str, &'static str>; 3]) -> FakeHost {
        FakeHost::answering(move |r| match r.check {
            SignerCheck::PubKeys([key]) => {
                let i = KEYS.iter().position(|k| k == key).expect("a listed key");
                answers[i].map(str::to_string).map_err(str::to_string)
            }
            ref other => panic!("one key per call, got {other:?}"),
        })
    }

    #[rstest]
    #[case::first_two_pass([Ok(DIGEST_A), Ok(DIGEST_A), Err("x")], 2, None)]
    #[case::first_fails([Err("no signature by this key"), Ok(DIGEST_A), Ok(DIGEST_A)], 3, None)]
    #[case::two_fail([Err("no signature"), Err("unreachable registry"), Ok(DIGEST_A)], 2,
        Some("0 of 3 signers passed, 2 required (minimumMatches); pubKeys[0] failed: no signature; pubKeys[1] failed: unreachable registry; not asked, the quorum being out of reach: pubKeys[2]"))]
    #[case::one_passes([Ok(DIGEST_A), Err("no signature"), Err("no signature")], 3,
        Some("1 of 3 signers passed, 2 required (minimumMatches); passed: pubKeys[0]; pubKeys[1] failed: no signature; pubKeys[2] failed: no signature"))]
    #[case::passing_signers_disagree([Ok(DIGEST_A), Ok(DIGEST_B), Ok(DIGEST_A)], 2,
        Some("verifications disagree on the digest"))]
    fn n_of_m_signers(
        #[case] answers: [Result<&'static str, &'static str>; 3],
        #[case] calls: usize,
        #[case] rejection: Option<&str>,
    ) {
        let host = host(answers);
        // Two containers share the image: each signer is still asked once.
        let decision = decision_of(
            &fixture("pod_every_image_field.json"),
            &two_of_three(),
            &host,
        );
        assert_eq!(host.call_count(), calls, "{:?}", host.call_log());
        match (decision, rejection) {
            (Decision::Mutate(mutated), None) => assert_eq!(
                mutated.pointer("/spec/containers/1/image"),
                Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
            ),
            (Decision::Reject(message), Some(reason)) => assert!(
                message.contains(&format!(
                    "spec.containers[0].image \"ghcr.io/acme/app:v1\" failed signatures[0] (pubKeys): {reason}"
                )),
                "{message}"
            ),
            (decision, expected) => panic!("{decision:?}, expected rejection {expected:?}"),
        }
    }

    #[test]
    fn without_minimum_matches_the_whole_list_is_one_call_as_before() {
        let rules =
            settings(json!({"signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": KEYS}]}));
        let host = FakeHost::answering(|r| match r.check {
            SignerCheck::PubKeys(keys) if keys.len() == 3 => Ok(DIGEST_A.to_string()),
            ref other => panic!("{other:?}"),
        });
        assert!(matches!(
            decision_of(&fixture("pod_generated_name.json"), &rules, &host),
            Decision::Mutate(_)
        ));
        assert_eq!(host.call_count(), 1);
    }

    #[test]
    fn keyless_identities_are_asked_one_by_one() {
        let rules = settings(
            json!({"signatures": [{"image": "ghcr.io/acme/app*", "minimumMatches": 1,
            "keyless": [{"issuer": "https://i.example", "subject": "old@example.com"},
                        {"issuer": "https://i.example", "subject": "new@example.com"}]}]}),
        );
        let host = FakeHost::answering(|r| match r.check {
            SignerCheck::Keyless([identity]) if identity.subject == "new@example.com" => {
                Ok(DIGEST_A.to_string())
            }
            SignerCheck::Keyless([_]) => Err("no signature by this identity".to_string()),
            ref other => panic!("one identity per call, got {other:?}"),
        });
        assert!(matches!(
            decision_of(&fixture("pod_generated_name.json"), &rules, &host),
            Decision::Mutate(_)
        ));
        assert_eq!(host.call_count(), 2);
    }
}

mod custom_resources {
    //! `customResources`: images found by JSONPath are matched, skipped, verified, pinned and
    //! reported like container images, under their concrete paths.
    use super::*;

    fn rollout_settings(extra: Value) -> Settings {
        let mut document = json!({
            "customResources": [{"group": "argoproj.io", "kind": "Rollout", "paths": [
                "$.spec.template.spec.containers[*].image",
                "$.spec.template.spec.initContainers[*].image"
            ]}],
            "signatures": [{"image": "ghcr.io/acme/*", "pubKeys": [P256_PUB]}]
        });
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        settings(document)
    }

    #[test]
    fn images_found_by_json_path_are_verified_and_pinned_and_nothing_else_changes() {
        let request = fixture("rollout_app_and_migrate_images.json");
        let host = FakeHost::trusting();
        let admission = admit(&request, &rollout_settings(json!({})), &host);
        let Decision::Mutate(mutated) = &admission.decision else {
            panic!("expected a mutation: {:?}", admission.decision)
        };
        let expected: BTreeMap<String, (Value, Value)> = [
            (
                "/spec/template/spec/containers/0/image",
                "ghcr.io/acme/app:v1",
            ),
            (
                "/spec/template/spec/initContainers/0/image",
                "ghcr.io/acme/migrate:v2",
            ),
        ]
        .into_iter()
        .map(|(p, image)| {
            (
                p.to_string(),
                (json!(image), json!(format!("{image}@{DIGEST_A}"))),
            )
        })
        .collect();
        assert_eq!(changed(&request.object, mutated), expected);
        assert_eq!(host.call_count(), 2, "nginx is not covered");
        let record: Value =
            serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
        assert_eq!(
            record["spec.template.spec.containers[1].image"],
            json!("unmatched")
        );
    }

    #[test]
    fn a_rejection_names_the_concrete_path() {
        let host = FakeHost::answering(|r| {
            if r.image.contains("migrate") {
                Err("no matching signature".into())
            } else {
                Ok(DIGEST_A.into())
            }
        });
        let decision = decision_of(
            &fixture("rollout_app_and_migrate_images.json"),
            &rollout_settings(json!({})),
            &host,
        );
        assert_eq!(
            decision,
            Decision::Reject("Rollout shop/web: 1 image not verified: spec.template.spec.initContainers[0].image \"ghcr.io/acme/migrate:v2\" failed signatures[0] (pubKeys): no matching signature".into())
        );
    }

    #[rstest]
    #[case::skipped(json!({"skipImages": ["ghcr.io/acme/migrate:*"], "unmatchedImages": "reject", "signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]}, {"image": "docker.io/library/nginx*", "pubKeys": [P256_PUB]}]}), "mutate")]
    #[case::unmatched_rejected(json!({"unmatchedImages": "reject"}), "reject")]
    #[case::pods_only(json!({"digestPolicy": "pinPodsOnly"}), "accept")]
    #[case::require(json!({"digestPolicy": "require"}), "reject")]
    fn settings_apply_to_custom_resources_as_to_workloads(
        #[case] extra: Value,
        #[case] expected: &str,
    ) {
        let decision = decision_of(
            &fixture("rollout_app_and_migrate_images.json"),
            &rollout_settings(extra),
            &FakeHost::trusting(),
        );
        let outcome = match &decision {
            Decision::Accept => "accept",
            Decision::Mutate(_) => "mutate",
            Decision::Reject(_) => "reject",
        };
        assert_eq!(outcome, expected, "{decision:?}");
    }

    #[rstest]
    #[case::not_listed("argoproj.io", "Rollout", false)]
    #[case::other_group("example.com", "Rollout", true)]
    #[case::other_kind("argoproj.io", "AnalysisRun", true)]
    fn resources_not_listed_are_admitted_untouched(
        #[case] group: &str,
        #[case] kind: &str,
        #[case] listed: bool,
    ) {
        let mut request = fixture("rollout_app_and_migrate_images.json");
        request.kind.group = group.to_string();
        request.kind.kind = kind.to_string();
        let rules = if listed {
            rollout_settings(json!({}))
        } else {
            pub_keys_for("*")
        };
        let host = FakeHost::trusting();
        assert_eq!(decision_of(&request, &rules, &host), Decision::Accept);
        assert_eq!(host.call_count(), 0);
    }

    #[test]
    fn a_non_string_image_at_a_path_is_refused() {
        let mut request = fixture("rollout_app_and_migrate_images.json");
        request.object["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!({"repository": "ghcr.io/acme/app"});
        let Decision::Reject(message) = decision_of(
            &request,
            &rollout_settings(json!({})),
            &FakeHost::trusting(),
        ) else {
            panic!("expected a rejection")
        };
        assert!(
            message.contains("spec.template.spec.containers[0].image \"{\\\"repository\\\":\\\"ghcr.io/acme/app\\\"}\": image must be a string"),
            "{message}"
        );
    }
}

#[test]
fn thousands_of_failing_images_give_a_bounded_rejection() {
    let containers: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("ghcr.io/acme/app-{i}:v1")}))
        .collect();
    let mut request = pod_with_image("ghcr.io/acme/app:v1");
    request.object["spec"]["containers"] = Value::Array(containers);
    let host = FakeHost::answering(|_| Err("no signature by the key".repeat(200)));
    let Decision::Reject(message) = decision_of(&request, &pub_keys_for("ghcr.io/*"), &host) else {
        panic!("expected a rejection");
    };
    assert!(message.contains("5000 images not verified"), "{message}");
    assert!(message.ends_with("; … and 4980 more"), "{message}");
    assert!(message.len() < 64 * 1024, "{} bytes", message.len());
}

mod allowed_registries {
    //! `allowedRegistries`: images of other registries are refused before any host call.
    use super::*;

    fn rules(extra: Value) -> Settings {
        let mut document = json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}]});
        document
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        settings(document)
    }

    #[rstest]
    #[case::listed("ghcr.io/acme/app:v1", true)]
    #[case::listed_other_spelling("GHCR.IO:443/acme/app:v1", true)]
    #[case::docker_hub_short("nginx:1.27", true)]
    #[case::docker_hub_alias("index.docker.io/library/nginx:1.27", true)]
    #[case::unlisted("tarpit.example:5000/app:v1", false)]
    #[case::unlisted_look_alike("ghcr.io.evil.example/acme/app:v1", false)]
    fn only_listed_registries_reach_the_host(#[case] image: &str, #[case] asked: bool) {
        let host = FakeHost::trusting();
        let settings = rules(json!({"allowedRegistries": ["ghcr.io", "docker.io"]}));
        let decision = decision_of(&pod_with_image(image), &settings, &host);
        assert_eq!(host.call_count(), usize::from(asked), "{image}");
        if !asked {
            let Decision::Reject(message) = decision else {
                panic!("{image}: expected a rejection")
            };
            assert!(
                message.contains(
                    "is not in allowedRegistries, so it was refused without asking the host"
                ),
                "{message}"
            );
        }
    }

    #[test]
    fn without_the_setting_every_registry_is_asked_about() {
        let host = FakeHost::trusting();
        decision_of(
            &pod_with_image("tarpit.example:5000/app:v1"),
            &rules(json!({})),
            &host,
        );
        assert_eq!(host.call_count(), 1);
    }

    #[test]
    fn an_uncovered_image_of_another_registry_follows_unmatched_images() {
        let host = FakeHost::trusting();
        let settings = settings(json!({
            "signatures": [{"image": "ghcr.io/*", "pubKeys": [P256_PUB]}],
            "allowedRegistries": ["ghcr.io"],
        }));
        assert!(matches!(
            decision_of(&pod_with_image("quay.io/x/y:1"), &settings, &host),
            Decision::Accept
        ));
        assert_eq!(host.call_count(), 0);
    }

    #[rstest]
    #[case(json!([]), "allowedRegistries: must not be empty")]
    #[case(json!(["https://ghcr.io"]), "allowedRegistries[0]: \"https://ghcr.io\" is not a registry host")]
    #[case(json!(["ghcr.io/acme"]), "allowedRegistries[0]: \"ghcr.io/acme\" is not a registry host")]
    #[case(json!(["ghcr.io", "nginx"]), "allowedRegistries[1]: \"nginx\" is not a registry host")]
    #[case(json!(["reg.example:99999"]), "allowedRegistries[0]: \"reg.example:99999\" is not a registry host")]
    fn malformed_entries_are_refused_with_their_path(#[case] list: Value, #[case] expected: &str) {
        let document = json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}], "allowedRegistries": list});
        let errors = Settings::parse(&document).unwrap_err().to_string();
        assert!(errors.contains(expected), "{errors}");
    }
}
