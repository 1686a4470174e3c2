//! Extract, a request's first step: every image field of the admitted object. Workloads keep
//! their images in a pod spec; custom resources where their `customResources` JSONPaths say.
//! Works on the raw JSON, so no field of the object is lost or reshaped.

mod custom_resource;
mod pod_spec;

use serde_json::Value;

use crate::deploy::settings::Settings;
use crate::workload_kinds::pod_spec_path;
use custom_resource::custom_resource_fields;
pub use pod_spec::image_fields;

/// One place in the object that names an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageField<'a> {
    /// For people: `spec.template.spec.initContainers[1].image`.
    pub path: String,
    /// For patching: `/spec/template/spec/initContainers/1/image`.
    pub pointer: String,
    pub value: &'a Value,
}

/// The image fields of an object of this API group and kind; `None` for a kind the policy
/// does not check. An error when a custom resource's path cannot be followed in the object.
pub fn image_fields_of<'a>(
    group: &str,
    kind: &str,
    object: &'a Value,
    settings: &Settings,
) -> Result<Option<Vec<ImageField<'a>>>, String> {
    // An entry never names a built-in kind's group, so it cannot take a workload's place.
    match (settings.custom_resource(group, kind), pod_spec_path(kind)) {
        (Some(resource), _) => custom_resource_fields(resource, object).map(Some),
        (None, Some(spec_path)) => Ok(Some(image_fields(object, spec_path))),
        (None, None) => Ok(None),
    }
}
