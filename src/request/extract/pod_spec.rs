//! The image fields of a workload's pod spec: containers, init and ephemeral containers, and
//! image volumes.

use serde_json::Value;

use super::ImageField;
use crate::reference::concatenated;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every image field of the pod spec at `spec_path`, in document order: containers, init
/// containers, ephemeral containers, then image volumes. Absent or null fields are skipped
/// (templates may leave `image` to a later mutating webhook).
pub fn image_fields<'a>(object: &'a Value, spec_path: &[&str]) -> Vec<ImageField<'a>> {
    let mut spec = object;
    for key in spec_path {
        match spec.get(key) {
            Some(next) => spec = next,
            None => return Vec::new(),
        }
    }
    let base_path = spec_path.join(".");
    let base_pointer: String = spec_path.iter().map(|k| format!("/{k}")).collect();
    let mut fields = Vec::new();
    for list in CONTAINER_LISTS {
        for (i, entry) in items(spec, list) {
            let i = i.to_string();
            push_field(
                &mut fields,
                entry.get("image"),
                concatenated(&[&base_path, ".", list, "[", &i, "].image"]),
                concatenated(&[&base_pointer, "/", list, "/", &i, "/image"]),
            );
        }
    }
    for (i, volume) in items(spec, "volumes") {
        let reference = volume.get("image").and_then(|image| image.get("reference"));
        let i = i.to_string();
        push_field(
            &mut fields,
            reference,
            concatenated(&[&base_path, ".volumes[", &i, "].image.reference"]),
            concatenated(&[&base_pointer, "/volumes/", &i, "/image/reference"]),
        );
    }
    fields
}

fn items<'a>(spec: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    spec.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn push_field<'a>(
    fields: &mut Vec<ImageField<'a>>,
    value: Option<&'a Value>,
    path: String,
    pointer: String,
) {
    if let Some(value) = value.filter(|v| !v.is_null()) {
        fields.push(ImageField {
            path,
            pointer,
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload_kinds::pod_spec_path;
    use rstest::rstest;
    use serde_json::json;

    fn pod_spec() -> Value {
        json!({
            "containers": [{"name": "a", "image": "a:1"}, {"name": "no-image"}, {"name": "b", "image": "b:1"}],
            "initContainers": [{"name": "i", "image": "init:1"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "model", "image": {"reference": "models/llm:7b", "pullPolicy": "IfNotPresent"}}]
        })
    }

    fn wrap(kind: &str, spec: Value) -> Value {
        match kind {
            "Pod" => json!({"kind": "Pod", "spec": spec}),
            "CronJob" => {
                json!({"kind": kind, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}})
            }
            _ => json!({"kind": kind, "spec": {"template": {"spec": spec}}}),
        }
    }

    #[rstest]
    #[case("Pod", "spec")]
    #[case("Deployment", "spec.template.spec")]
    #[case("ReplicaSet", "spec.template.spec")]
    #[case("StatefulSet", "spec.template.spec")]
    #[case("DaemonSet", "spec.template.spec")]
    #[case("ReplicationController", "spec.template.spec")]
    #[case("Job", "spec.template.spec")]
    #[case("CronJob", "spec.jobTemplate.spec.template.spec")]
    fn finds_every_image_field_of_every_kind(#[case] kind: &str, #[case] base: &str) {
        let object = wrap(kind, pod_spec());
        let fields = image_fields(&object, pod_spec_path(kind).unwrap());
        let found: Vec<(String, String, &str)> = fields
            .iter()
            .map(|f| (f.path.clone(), f.pointer.clone(), f.value.as_str().unwrap()))
            .collect();
        let pointer_base = format!("/{}", base.replace('.', "/"));
        let expected = [
            ("containers[0].image", "containers/0/image", "a:1"),
            ("containers[2].image", "containers/2/image", "b:1"),
            (
                "initContainers[0].image",
                "initContainers/0/image",
                "init:1",
            ),
            (
                "ephemeralContainers[0].image",
                "ephemeralContainers/0/image",
                "busybox",
            ),
            (
                "volumes[1].image.reference",
                "volumes/1/image/reference",
                "models/llm:7b",
            ),
        ]
        .map(|(p, q, v)| (format!("{base}.{p}"), format!("{pointer_base}/{q}"), v));
        assert_eq!(found, expected);
        for field in &fields {
            assert_eq!(object.pointer(&field.pointer), Some(field.value));
        }
    }

    #[test]
    fn tolerates_missing_and_odd_shapes() {
        for object in [
            json!(null),
            json!({}),
            json!({"spec": null}),
            json!({"spec": {"containers": null}}),
            json!({"spec": {"containers": "x"}}),
            json!({"spec": {"containers": [null, 1, {"image": null}]}}),
            json!({"spec": {"volumes": [{"image": null}, {"image": {}}]}}),
        ] {
            assert!(image_fields(&object, &["spec"]).is_empty(), "{object}");
        }
    }

    #[test]
    fn a_non_string_image_is_reported_as_a_field() {
        let object = json!({"spec": {"containers": [{"image": 42}]}});
        let fields = image_fields(&object, &["spec"]);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].value, &json!(42));
    }
}
