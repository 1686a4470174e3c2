use rstest::rstest;
use serde_json::{json, Value};

use super::*;

fn read_one(entry: Value) -> Result<Vec<CustomResource>, String> {
    let mut errors = SettingsErrors::default();
    read(&json!([entry]), &mut errors).ok_or_else(|| errors.to_string())
}

fn rollout(paths: &[&str]) -> CustomResource {
    read_one(json!({"group": "argoproj.io", "kind": "Rollout", "paths": paths}))
        .expect("valid entry")
        .remove(0)
}

/// (path, pointer, value) of every field found.
fn found(resource: &CustomResource, object: &Value) -> Vec<(String, String, Value)> {
    resource
        .image_fields(object)
        .expect("selectable")
        .into_iter()
        .map(|f| (f.path, f.pointer, f.value.clone()))
        .collect()
}

#[test]
fn finds_each_image_once_with_its_concrete_path_and_pointer() {
    let object = json!({"spec": {"template": {"spec": {
        "initContainers": [{"image": "init:1"}],
        "containers": [{"image": "a:1"}, {"name": "no-image"}, {"image": "b:1"}, {"image": null}]
    }}}});
    let resource = rollout(&[
        "$.spec.template.spec.containers[*].image",
        "$.spec.template.spec.initContainers[*].image",
        // Overlaps the first path: each field is reported once.
        "$..containers[*].image",
    ]);
    assert_eq!(
        found(&resource, &object),
        [
            (
                "spec.template.spec.containers[0].image",
                "/spec/template/spec/containers/0/image",
                "a:1"
            ),
            (
                "spec.template.spec.containers[2].image",
                "/spec/template/spec/containers/2/image",
                "b:1"
            ),
            (
                "spec.template.spec.initContainers[0].image",
                "/spec/template/spec/initContainers/0/image",
                "init:1"
            ),
        ]
        .map(|(p, q, v)| (p.to_string(), q.to_string(), json!(v)))
    );
    for field in resource.image_fields(&object).unwrap() {
        assert_eq!(object.pointer(&field.pointer), Some(field.value));
    }
}

#[test]
fn odd_keys_are_quoted_in_paths_and_escaped_in_pointers() {
    let object = json!({"metadata": {"annotations": {"example.com/image": "x:1", "a~b": "y:1"}}});
    let resource = rollout(&[
        "$.metadata.annotations['example.com/image']",
        "$.metadata.annotations['a~b']",
    ]);
    assert_eq!(
        found(&resource, &object),
        [
            (
                "metadata.annotations[\"example.com/image\"]",
                "/metadata/annotations/example.com~1image",
                "x:1"
            ),
            (
                "metadata.annotations[\"a~b\"]",
                "/metadata/annotations/a~0b",
                "y:1"
            ),
        ]
        .map(|(p, q, v)| (p.to_string(), q.to_string(), json!(v)))
    );
}

#[test]
fn non_string_values_are_kept_so_the_policy_refuses_them() {
    let object = json!({"spec": {"image": {"repository": "nginx"}}});
    let fields = rollout(&["$.spec.image"]).image_fields(&object).unwrap();
    assert_eq!(fields.len(), 1);
    assert!(fields[0].value.is_object());
}

#[test]
fn tolerates_objects_of_any_shape() {
    let resource = rollout(&["$.spec.template.spec.containers[*].image", "$..image"]);
    for object in [
        json!(null),
        json!({}),
        json!([]),
        json!({"spec": "x"}),
        json!({"spec": {"template": {"spec": {"containers": {"image": null}}}}}),
    ] {
        assert!(
            resource.image_fields(&object).unwrap().is_empty(),
            "{object}"
        );
    }
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
