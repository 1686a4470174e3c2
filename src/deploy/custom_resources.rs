//! `customResources`: the resources the policy does not know (Argo Rollouts, Knative Services,
//! Tekton Tasks, KubeVirt…), each with the JSONPaths of its image strings, read and checked
//! here. Every string the paths find in an object (`request::extract`) is an image field like a
//! container's image: matched, skipped, verified, pinned, reported.

pub(crate) mod json_path;

use serde_json::Value;

use crate::deploy::strict_fields::{child, item, list, string, Fields, SettingsErrors};
use crate::workload_kinds::WORKLOAD_KINDS;
use json_path::JsonPath;

pub const CUSTOM_RESOURCES_KEY: &str = "customResources";
/// The keys of one entry.
pub const ENTRY_KEYS: [&str; 3] = ["group", "kind", "paths"];

/// One resource kind and where its images are.
#[derive(Debug)]
pub struct CustomResource {
    pub group: String,
    pub kind: String,
    pub(crate) paths: Vec<ImagePath>,
}

/// One JSONPath, as written (for messages) and parsed.
#[derive(Debug)]
pub(crate) struct ImagePath {
    pub(crate) written: String,
    pub(crate) parsed: JsonPath,
}

impl CustomResource {
    /// Whether an admission request of this API group and kind is this resource.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// Reads `customResources`: every entry valid, no kind listed twice, none built in.
pub fn read(value: &Value, errors: &mut SettingsErrors) -> Option<Vec<CustomResource>> {
    let resources = list(value, CUSTOM_RESOURCES_KEY, errors, read_entry)?;
    let before = errors.0.len();
    for (i, resource) in resources.iter().enumerate() {
        let path = item(CUSTOM_RESOURCES_KEY, i);
        if let Some(first) = resources[..i]
            .iter()
            .position(|r| r.is(&resource.group, &resource.kind))
        {
            errors.add(
                path,
                format!(
                    "lists {}/{} again (first at {}); give all its paths in one entry",
                    resource.group,
                    resource.kind,
                    item(CUSTOM_RESOURCES_KEY, first)
                ),
            );
        } else if WORKLOAD_KINDS
            .iter()
            .any(|w| w.api_group == resource.group && w.kind == resource.kind)
        {
            errors.add(
                path,
                format!(
                    "{}/{} is a kind the policy already checks: its images are found without customResources",
                    resource.group, resource.kind
                ),
            );
        }
    }
    (errors.0.len() == before).then_some(resources)
}

fn read_entry(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<CustomResource> {
    let mut fields = Fields::of(value, path, errors)?;
    let group = required(&mut fields, "group", errors)
        .and_then(|group| check(group, &child(path, "group"), errors, api_group_problem));
    let kind = required(&mut fields, "kind", errors)
        .and_then(|kind| check(kind, &child(path, "kind"), errors, kind_problem));
    let paths = match fields.take("paths") {
        Some(v) => list(v, &child(path, "paths"), errors, read_image_path),
        None => {
            errors.add(
                child(path, "paths"),
                "is required: JSONPaths of the image strings, such as \"$.spec.template.spec.containers[*].image\"",
            );
            None
        }
    };
    fields.finish(&ENTRY_KEYS, errors);
    Some(CustomResource {
        group: group?,
        kind: kind?,
        paths: paths?,
    })
}

fn required(fields: &mut Fields<'_>, key: &str, errors: &mut SettingsErrors) -> Option<String> {
    match fields.take(key) {
        Some(v) => string(v, &fields.path_of(key), errors),
        None => {
            errors.add(fields.path_of(key), "is required");
            None
        }
    }
}

fn check(
    text: String,
    path: &str,
    errors: &mut SettingsErrors,
    problem: fn(&str) -> Option<&'static str>,
) -> Option<String> {
    match problem(&text) {
        Some(problem) => {
            errors.add(path, format!("{text:?} {problem}"));
            None
        }
        None => Some(text),
    }
}

/// API groups are DNS names (`argoproj.io`); any other spelling names no resource, so the entry
/// would never match a request.
fn api_group_problem(group: &str) -> Option<&'static str> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    (group.len() > 253 || !group.split('.').all(label_ok))
        .then_some("is not an API group (a lower-case DNS name such as argoproj.io)")
}

/// Kinds are UpperCamelCase names (`Rollout`); `rollout` or `rollouts` match no request.
fn kind_problem(kind: &str) -> Option<&'static str> {
    let ok = kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.bytes().all(|b| b.is_ascii_alphanumeric());
    (!ok).then_some("is not a kind (the resource's kind as its objects spell it, such as Rollout, not rollouts)")
}

fn read_image_path(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<ImagePath> {
    let written = string(value, path, errors)?;
    match JsonPath::parse(&written) {
        Ok(parsed) => Some(ImagePath { written, parsed }),
        Err(problem) => {
            errors.add(
                path,
                format!("{written:?} is not a JSONPath the policy reads: {problem}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
