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
    let settings =
        settings(json!({"signatures": [{"image": "ghcr.io/acme/app:v1", "pubKeys": [P256_PUB]}]}));
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
