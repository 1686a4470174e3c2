//! Pin, a request's fifth step: every verified image field rewritten to the digest that was
//! verified, so the runtime pulls exactly what was checked, as `digestPolicy` allows.

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde_json::Value;

use super::judge::{FieldVerdict, JudgedField};
use crate::deploy::settings::Settings;

/// The object with its verified images pinned; `None` when nothing is to change.
pub(super) fn pinned_object(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    fields: &[JudgedField<'_>],
) -> Option<Value> {
    let pins = pins(request, fields);
    if !settings.digest_policy.pins_in(&request.kind.kind) || pins.is_empty() {
        return None;
    }
    let mut pinned = request.object.clone();
    for (pointer, image) in pins {
        if let Some(slot) = slot_mut(&mut pinned, pointer) {
            *slot = Value::String(image);
        }
    }
    Some(pinned)
}

/// The new value of every verified field that does not already read `name@digest`, as
/// (JSON pointer, image) pairs.
fn pins<'a>(
    request: &KubernetesAdmissionRequest,
    fields: &'a [JudgedField<'a>],
) -> Vec<(&'a str, String)> {
    let mut pins: Vec<(&str, String)> = fields
        .iter()
        .filter_map(|judged| match (&judged.verdict, &judged.planned.image) {
            (FieldVerdict::Verified(digest), Ok(image)) => {
                let pinned = image.pinned_to(digest.as_str());
                (pinned != image.written())
                    .then_some((judged.planned.field.pointer.as_str(), pinned))
            }
            _ => None,
        })
        .collect();
    // Through the `ephemeralcontainers` subresource the API server takes only ephemeral
    // containers from the object: every image is still verified, but only those are pinned, so
    // `kubectl debug` on a pod created before this policy is not refused for changing its spec.
    if request.sub_resource == "ephemeralcontainers" {
        pins.retain(|(pointer, _)| pointer.contains("/ephemeralContainers/"));
    }
    pins
}

/// `Value::pointer_mut` without its two allocations per token for unescaping: pointers made by
/// `image_fields` hold field names and indices, with nothing to unescape.
fn slot_mut<'v>(value: &'v mut Value, pointer: &str) -> Option<&'v mut Value> {
    if pointer.contains('~') {
        return value.pointer_mut(pointer);
    }
    pointer
        .split('/')
        .skip(1)
        .try_fold(value, |value, token| match value {
            Value::Object(map) => map.get_mut(token),
            Value::Array(list) => token.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case("/spec/containers/1/image", Some("b"))]
    #[case("/spec/containers/9/image", None)]
    #[case("/spec/containers/x/image", None)]
    #[case("/spec/containers/0/image/deeper", None)]
    #[case("/spec/a~1b", Some("slash"))]
    #[case("/spec/t~0x", Some("tilde"))]
    fn slots_are_found_by_pointer(#[case] pointer: &str, #[case] found: Option<&str>) {
        let mut object = json!({"spec": {
            "containers": [{"image": "a"}, {"image": "b"}],
            "a/b": "slash",
            "t~x": "tilde"
        }});
        let slot = slot_mut(&mut object, pointer).map(|slot| slot.as_str().unwrap().to_string());
        assert_eq!(slot.as_deref(), found);
    }
}
