use std::collections::BTreeMap;

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use rstest::rstest;
use serde_json::{json, Value};

use super::*;
use crate::deploy::pem_material::test_material::*;
use crate::request::report::IMAGES_AUDIT_KEY;
use crate::test_host::{FakeHost, DIGEST_A, DIGEST_B};

mod allowed_registries;
mod custom_resources;
mod host_follow_up;
mod minimum_matches;
mod unmatched_and_skipped;
mod warn_rules;

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
fn hands_the_host_the_pulled_image_and_the_rule() {
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
    let host = FakeHost::answering(|r| match r.signer {
        crate::host::SignerConstraint::GithubActions { .. } => {
            Err("signed by another workflow".into())
        }
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
    let host = FakeHost::answering(|r| match r.signer {
        crate::host::SignerConstraint::PubKeys(_) => Ok(DIGEST_A.into()),
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
