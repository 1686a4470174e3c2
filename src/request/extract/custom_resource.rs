//! The image fields of a custom resource: every string its `customResources` JSONPaths select,
//! with a path for people and a JSON pointer for pinning, as a workload's fields have.

use serde_json::Value;

use super::ImageField;
use crate::deploy::custom_resources::json_path::PathStep;
use crate::deploy::custom_resources::{CustomResource, CUSTOM_RESOURCES_KEY};

/// Every image string the paths select, in path order then document order, each once.
/// Selected nulls are absent fields; anything else that is not a string is kept, so the
/// policy refuses it as an image that is not a string. A path that cannot be followed to
/// the end is an error: images it would have found must not go unverified.
pub fn custom_resource_fields<'a>(
    resource: &CustomResource,
    object: &'a Value,
) -> Result<Vec<ImageField<'a>>, String> {
    let mut fields: Vec<ImageField<'a>> = Vec::new();
    for path in &resource.paths {
        let found = path.parsed.select(object).map_err(|problem| {
            format!(
                "{CUSTOM_RESOURCES_KEY} path {:?} cannot be followed in this object: {problem}",
                path.written
            )
        })?;
        for (steps, value) in found {
            if value.is_null() || fields.iter().any(|f| std::ptr::eq(f.value, value)) {
                continue;
            }
            fields.push(ImageField {
                path: human_path(&steps),
                pointer: json_pointer(&steps),
                value,
            });
        }
    }
    Ok(fields)
}

/// `spec.template.spec.containers[0].image`, as the built-in kinds' fields read; keys that are
/// not plain names are quoted: `metadata.annotations["example.com/image"]`.
fn human_path(steps: &[PathStep]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            PathStep::Index(i) => path.push_str(&format!("[{i}]")),
            PathStep::Key(key)
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            PathStep::Key(key) => path.push_str(&format!("[{key:?}]")),
        }
    }
    path
}

/// RFC 6901: `~` and `/` in keys are escaped.
fn json_pointer(steps: &[PathStep]) -> String {
    steps
        .iter()
        .map(|step| match step {
            PathStep::Index(i) => format!("/{i}"),
            PathStep::Key(key) => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::deploy::custom_resources::read;
    use crate::deploy::strict_fields::SettingsErrors;

    fn rollout(paths: &[&str]) -> CustomResource {
        let entry = json!({"group": "argoproj.io", "kind": "Rollout", "paths": paths});
        let mut errors = SettingsErrors::default();
        read(&json!([entry]), &mut errors)
            .expect("valid entry")
            .remove(0)
    }

    /// (path, pointer, value) of every field found.
    fn found(resource: &CustomResource, object: &Value) -> Vec<(String, String, Value)> {
        custom_resource_fields(resource, object)
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
        for field in custom_resource_fields(&resource, &object).unwrap() {
            assert_eq!(object.pointer(&field.pointer), Some(field.value));
        }
    }

    #[test]
    fn odd_keys_are_quoted_in_paths_and_escaped_in_pointers() {
        let object =
            json!({"metadata": {"annotations": {"example.com/image": "x:1", "a~b": "y:1"}}});
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
        let fields = custom_resource_fields(&rollout(&["$.spec.image"]), &object).unwrap();
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
                custom_resource_fields(&resource, &object)
                    .unwrap()
                    .is_empty(),
                "{object}"
            );
        }
    }
}
