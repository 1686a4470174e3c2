//! One admission decision: request → image fields → references → matching rules → deduplicated
//! host verifications → accept, pin, or reject with every failure listed.

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde_json::Value;

use crate::host::SigstoreHost;
use crate::image_ref::ImageRef;
use crate::messages::{describe_object, rejection, ImageFailure};
use crate::settings::{Settings, SIGNATURES_KEY};
use crate::verification::VerificationPlan;
use crate::workload::{image_fields, pod_spec_path};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Accept,
    /// Accept the object with these images pinned to their verified digests.
    Mutate(Value),
    Reject(String),
}

/// What became of one image field once its rules were checked.
enum FieldVerdict {
    Unmatched,
    Failed(Vec<ImageFailure>),
    Verified { digest: String },
}

pub fn evaluate(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    host: &dyn SigstoreHost,
) -> Decision {
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
        return Decision::Accept;
    }
    let kind = request.kind.kind.as_str();
    let Some(spec_path) = pod_spec_path(kind) else {
        return Decision::Accept;
    };
    let object = &request.object;
    let fields = image_fields(object, spec_path);

    // Parse every field and plan its (image, rule) pairs before calling the host once per pair.
    struct Planned<'a> {
        path: &'a str,
        pointer: &'a str,
        written: String,
        image: Result<ImageRef, String>,
        pairs: Vec<(usize, usize)>, // (rule index, plan position)
    }
    let mut plan = VerificationPlan::default();
    let planned: Vec<Planned> = fields
        .iter()
        .map(|field| {
            let written = match field.value.as_str() {
                Some(s) => s.to_string(),
                None => field.value.to_string(),
            };
            let image = match field.value.as_str() {
                Some(s) => ImageRef::parse(s).map_err(|e| e.to_string()),
                None => Err("image must be a string".to_string()),
            };
            let pairs = match &image {
                Ok(image) => settings
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(_, rule)| rule.image.covers(image))
                    .map(|(i, _)| (i, plan.add(image, i)))
                    .collect(),
                Err(_) => Vec::new(),
            };
            Planned {
                path: &field.path,
                pointer: &field.pointer,
                written,
                image,
                pairs,
            }
        })
        .collect();
    let outcomes = plan.run(&settings.rules, host);

    let mut failures = Vec::new();
    let mut pins = Vec::new();
    for field in &planned {
        let verdict = match &field.image {
            Err(reason) => FieldVerdict::Failed(vec![ImageFailure {
                path: field.path.to_string(),
                image: field.written.clone(),
                rule: None,
                reason: reason.clone(),
            }]),
            Ok(image) => judge(field.path, image, &field.pairs, &outcomes, settings),
        };
        match verdict {
            FieldVerdict::Unmatched => {}
            FieldVerdict::Failed(f) => failures.extend(f),
            FieldVerdict::Verified { digest } => {
                let Ok(image) = &field.image else { continue };
                let pinned = image.pinned_to(&digest);
                if pinned != image.written() {
                    pins.push((field.pointer, pinned));
                }
            }
        }
    }

    if !failures.is_empty() {
        let who = describe_object(kind, object, &request.namespace);
        return Decision::Reject(rejection(&who, &failures));
    }
    // Through the `ephemeralcontainers` subresource the API server takes only ephemeral
    // containers from the object: every image is still verified, but only those are pinned, so
    // `kubectl debug` on a pod created before this policy is not refused for changing its spec.
    if request.sub_resource == "ephemeralcontainers" {
        pins.retain(|(pointer, _)| pointer.contains("/ephemeralContainers/"));
    }
    if !settings.modify_images_with_digest || pins.is_empty() {
        return Decision::Accept;
    }
    let mut mutated = object.clone();
    for (pointer, pinned) in pins {
        if let Some(slot) = mutated.pointer_mut(pointer) {
            *slot = Value::String(pinned);
        }
    }
    Decision::Mutate(mutated)
}

/// Every matching rule must pass (AND), all must vouch for the same digest, and an image the
/// workload already pins must be pinned to exactly that digest.
fn judge(
    path: &str,
    image: &ImageRef,
    pairs: &[(usize, usize)],
    outcomes: &[Result<String, String>],
    settings: &Settings,
) -> FieldVerdict {
    if pairs.is_empty() {
        return FieldVerdict::Unmatched;
    }
    let failure = |rule: usize, reason: String| ImageFailure {
        path: path.to_string(),
        image: image.written().to_string(),
        rule: Some(format!(
            "{SIGNATURES_KEY}[{rule}] ({})",
            settings.rules[rule].signer.kind()
        )),
        reason,
    };
    let mut failures = Vec::new();
    let mut digest: Option<&str> = None;
    for &(rule, position) in pairs {
        match &outcomes[position] {
            Err(reason) => failures.push(failure(rule, reason.clone())),
            Ok(verified) => match digest {
                Some(first) if first != verified => failures.push(failure(
                    rule,
                    format!(
                        "verified digest {verified} differs from {first} verified by another rule"
                    ),
                )),
                _ => digest = Some(verified),
            },
        }
    }
    if !failures.is_empty() {
        return FieldVerdict::Failed(failures);
    }
    let digest = digest.unwrap_or_default().to_string();
    if let Some(pinned) = image.digest() {
        if pinned != digest {
            return FieldVerdict::Failed(vec![ImageFailure {
                path: path.to_string(),
                image: image.written().to_string(),
                rule: None,
                reason: format!(
                    "the image is pinned to {pinned} but the verified digest is {digest}"
                ),
            }]);
        }
    }
    FieldVerdict::Verified { digest }
}

#[cfg(test)]
mod tests;
