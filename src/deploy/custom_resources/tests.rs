use rstest::rstest;
use serde_json::{json, Value};

use super::*;

fn read_one(entry: Value) -> Result<Vec<CustomResource>, String> {
    let mut errors = SettingsErrors::default();
    read(&json!([entry]), &mut errors).ok_or_else(|| errors.to_string())
}

#[rstest]
#[case::ok(json!({"group": "serving.knative.dev", "kind": "Service", "paths": ["$.spec.template.spec.containers[*].image"]}), None)]
#[case::missing_everything(json!({}),
    Some("customResources[0].group: is required; customResources[0].kind: is required; customResources[0].paths: is required: JSONPaths of the image strings, such as \"$.spec.template.spec.containers[*].image\""))]
#[case::unknown_key(json!({"group": "argoproj.io", "kind": "Rollout", "paths": ["$.spec.image"], "version": "v1alpha1"}),
    Some("customResources[0].version: unknown field; expected one of: group, kind, paths"))]
#[case::group_upper(json!({"group": "Argoproj.io", "kind": "Rollout", "paths": ["$.a"]}),
    Some("customResources[0].group: \"Argoproj.io\" is not an API group (a lower-case DNS name such as argoproj.io)"))]
#[case::group_url(json!({"group": "https://argoproj.io", "kind": "Rollout", "paths": ["$.a"]}),
    Some("customResources[0].group: \"https://argoproj.io\" is not an API group (a lower-case DNS name such as argoproj.io)"))]
#[case::kind_plural(json!({"group": "argoproj.io", "kind": "rollouts", "paths": ["$.a"]}),
    Some("customResources[0].kind: \"rollouts\" is not a kind (the resource's kind as its objects spell it, such as Rollout, not rollouts)"))]
#[case::paths_empty(json!({"group": "argoproj.io", "kind": "Rollout", "paths": []}),
    Some("customResources[0].paths: must not be empty"))]
#[case::path_not_rooted(json!({"group": "argoproj.io", "kind": "Rollout", "paths": ["spec.image"]}),
    Some("customResources[0].paths[0]: \"spec.image\" is not a JSONPath the policy reads: must start at the object's root, \"$\""))]
#[case::built_in(json!({"group": "apps", "kind": "Deployment", "paths": ["$.a"]}),
    Some("customResources[0]: apps/Deployment is a kind the policy already checks: its images are found without customResources"))]
fn reads_each_entry_strictly(#[case] entry: Value, #[case] expected: Option<&str>) {
    assert_eq!(read_one(entry).err().as_deref(), expected);
}

/// Invalid and unsupported paths alike are settings errors, never a panic or a guess.
#[rstest]
#[case("$.")]
#[case("$[")]
#[case("$[?(")]
#[case("$[?(@.a ==)]")]
#[case("$..")]
#[case("$.a['b]")]
#[case("$.a[1:2:")]
#[case("$.a[-]")]
#[case("$.a[,]")]
#[case("$.a[?(@.b == 'x')].image")]
#[case("$.a[99999999999999999999]")]
fn an_invalid_json_path_is_a_settings_error(#[case] written: &str) {
    let error = read_one(json!({"group": "argoproj.io", "kind": "Rollout", "paths": [written]}))
        .expect_err("an invalid JSONPath");
    assert!(
        error.starts_with(&format!(
            "customResources[0].paths[0]: {written:?} is not a JSONPath the policy reads: unexpected "
        )) && error.ends_with(json_path::SUPPORTED),
        "{error}"
    );
}

#[test]
fn a_kind_listed_twice_is_refused() {
    let mut errors = SettingsErrors::default();
    let entry = json!({"group": "argoproj.io", "kind": "Rollout", "paths": ["$.a"]});
    assert!(read(&json!([entry, entry]), &mut errors).is_none());
    assert_eq!(
        errors.to_string(),
        "customResources[1]: lists argoproj.io/Rollout again (first at customResources[0]); give all its paths in one entry"
    );
}
