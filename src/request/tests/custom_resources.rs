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
