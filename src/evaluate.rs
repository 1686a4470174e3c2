//! One admission decision, in four steps: plan (request → image fields → references → the
//! deduplicated verifications), judge (each field against its enforcing rules' outcomes, and
//! what its warn-only rules would have refused), pin (the verified digests into the object, as
//! `digestPolicy` allows) and report (accept, mutate, or reject listing every failure; on
//! acceptance, warnings for unmatched images and warn-only rules, and an audit record of every
//! field).

use std::collections::BTreeMap;

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde_json::Value;

use crate::host::SigstoreHost;
use crate::image_pattern::ImageSpellings;
use crate::image_ref::{Digest, ImageRef};
use crate::messages::{self, describe_object, rejection, ImageFailure};
use crate::settings::{DigestPolicy, RuleId, Settings, SignatureRule, UnmatchedImages};
use crate::verification::{Outcomes, VerificationId, VerificationPlan};
use crate::workload::{image_fields, pod_spec_path, ImageField};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Accept,
    /// Accept the object with these images pinned to their verified digests.
    Mutate(Value),
    Reject(String),
}

/// A decision with what the API server should tell the user and record.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub decision: Decision,
    /// Shown to the user (`kubectl` prints them); only on acceptance.
    pub warnings: Vec<String>,
    /// Recorded in the API server's audit log; only on acceptance.
    pub audit_annotations: BTreeMap<String, String>,
}

impl Admission {
    fn plain(decision: Decision) -> Self {
        Admission {
            decision,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }
}

/// The audit annotation listing what became of every image field.
pub const IMAGES_AUDIT_KEY: &str = "images";

pub fn admit(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    host: &dyn SigstoreHost,
) -> Admission {
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
        return Admission::plain(Decision::Accept);
    }
    let kind = request.kind.kind.as_str();
    // An entry never names a built-in kind's group, so it cannot take a workload's place.
    let custom = settings.custom_resource(&request.kind.group, kind);
    let fields = match (custom, pod_spec_path(kind)) {
        (Some(resource), _) => match resource.image_fields(&request.object) {
            Ok(fields) => fields,
            Err(reason) => {
                let who = describe_object(kind, &request.object, &request.namespace);
                return Admission::plain(Decision::Reject(format!("{who}: {reason}")));
            }
        },
        (None, Some(spec_path)) => image_fields(&request.object, spec_path),
        (None, None) => return Admission::plain(Decision::Accept),
    };
    let plan = AdmissionPlan::new(&fields, settings);
    let outcomes = plan.verifications.run(settings, host);
    let judged: Vec<JudgedField<'_>> = plan
        .fields
        .into_iter()
        .map(|planned| {
            let verdict = judge(&planned, &outcomes, settings);
            let warned = judge_warn_rules(&planned, &verdict, &outcomes, settings);
            JudgedField {
                planned,
                verdict,
                warned,
            }
        })
        .collect();
    report(request, settings, &judged)
}

/// One image field of the object, parsed, with the verifications its rules need.
struct PlannedField<'a> {
    field: &'a ImageField<'a>,
    /// The value as written, for messages (JSON text when it is not a string).
    written: String,
    image: Result<ImageRef, String>,
    /// Matched by `skipImages`: neither verified nor pinned.
    skipped: bool,
    /// Covered by an enforcing rule, but its registry is not in `allowedRegistries`.
    refused_registry: Option<String>,
    verifications: Vec<(RuleId, VerificationId)>,
}

/// Every image field of the object, and the deduplicated verifications they need.
struct AdmissionPlan<'a> {
    fields: Vec<PlannedField<'a>>,
    verifications: VerificationPlan,
}

/// What the settings make of one written image string: its reference, whether it is skipped,
/// and the verifications of its rules.
#[derive(Clone)]
struct ImagePlan {
    image: Result<ImageRef, String>,
    skipped: bool,
    refused_registry: Option<String>,
    verifications: Vec<(RuleId, VerificationId)>,
}

impl ImagePlan {
    fn new(written: &str, settings: &Settings, verifications: &mut VerificationPlan) -> Self {
        let image = ImageRef::parse(written).map_err(|e| e.to_string());
        let spellings = image.as_ref().ok().map(ImageSpellings::of);
        let skipped = spellings.as_ref().is_some_and(|spellings| {
            settings
                .skip_images
                .iter()
                .any(|skip| skip.skips(spellings))
        });
        let mut refused_registry = None;
        let rules = match (&image, &spellings) {
            (Ok(image), Some(spellings)) if !skipped => {
                let covering: Vec<(RuleId, &SignatureRule)> = settings
                    .rules_with_ids()
                    .filter(|(_, rule)| rule.image.covers(spellings))
                    .collect();
                let registry = image.canonical_registry();
                if covering.is_empty() || settings.registry_allowed(&registry) {
                    covering
                        .into_iter()
                        .map(|(id, _)| (id, verifications.add(image, id)))
                        .collect()
                } else {
                    // Never sent to the host: a registry that does not answer would hold the
                    // admission (and policy-server's worker) until the host gives up.
                    if covering.iter().any(|(_, rule)| rule.enforces()) {
                        refused_registry = Some(registry);
                    }
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        ImagePlan {
            image,
            skipped,
            refused_registry,
            verifications: rules,
        }
    }
}

impl<'a> AdmissionPlan<'a> {
    fn new(fields: &'a [ImageField<'a>], settings: &Settings) -> Self {
        let mut verifications = VerificationPlan::default();
        // Pods repeat images (sidecars, one image in many containers): each distinct string is
        // parsed and matched once.
        let mut planned_images: BTreeMap<&str, ImagePlan> = BTreeMap::new();
        let fields = fields
            .iter()
            .map(|field| {
                let (written, plan) = match field.value.as_str() {
                    Some(s) => {
                        let plan = planned_images
                            .entry(s)
                            .or_insert_with(|| ImagePlan::new(s, settings, &mut verifications))
                            .clone();
                        (s.to_string(), plan)
                    }
                    None => (
                        field.value.to_string(),
                        ImagePlan {
                            image: Err("image must be a string".to_string()),
                            skipped: false,
                            refused_registry: None,
                            verifications: Vec::new(),
                        },
                    ),
                };
                PlannedField {
                    field,
                    written,
                    image: plan.image,
                    skipped: plan.skipped,
                    refused_registry: plan.refused_registry,
                    verifications: plan.verifications,
                }
            })
            .collect();
        AdmissionPlan {
            fields,
            verifications,
        }
    }
}

/// One image field through judge, pin and report: what was planned for it, what its
/// enforcing rules concluded, and what its warn-only rules would have refused.
struct JudgedField<'a> {
    planned: PlannedField<'a>,
    verdict: FieldVerdict,
    warned: Vec<ImageFailure>,
}

/// What became of one image field once its rules were checked.
enum FieldVerdict {
    Skipped,
    Unmatched,
    Failed(Vec<ImageFailure>),
    Verified(Digest),
}

impl PlannedField<'_> {
    fn failure(&self, rule: Option<RuleId>, reason: String, settings: &Settings) -> ImageFailure {
        ImageFailure {
            path: self.field.path.clone(),
            image: self.written.clone(),
            rule: rule.map(|id| messages::rule_label(id, settings)),
            reason,
        }
    }

    /// The verifications of rules with `failureAction: reject` (`true`) or `warn` (`false`).
    fn verifications_enforcing<'s>(
        &'s self,
        enforcing: bool,
        settings: &'s Settings,
    ) -> impl Iterator<Item = &'s (RuleId, VerificationId)> + 's {
        self.verifications
            .iter()
            .filter(move |(rule, _)| settings.rule(*rule).enforces() == enforcing)
    }
}

/// Every matching enforcing rule must pass (AND), all must vouch for the same digest, and an
/// image the workload already pins must be pinned to exactly that digest; under
/// `digestPolicy: require` it must be pinned. Rules with `failureAction: warn` play no part:
/// an image only they cover is unmatched.
fn judge(planned: &PlannedField<'_>, outcomes: &Outcomes, settings: &Settings) -> FieldVerdict {
    let failure = |rule: Option<RuleId>, reason: String| planned.failure(rule, reason, settings);
    let image = match &planned.image {
        Ok(image) => image,
        Err(reason) => return FieldVerdict::Failed(vec![failure(None, reason.clone())]),
    };
    if planned.skipped {
        return FieldVerdict::Skipped;
    }
    if let Some(registry) = &planned.refused_registry {
        return FieldVerdict::Failed(vec![failure(
            None,
            messages::registry_not_allowed(registry),
        )]);
    }
    let enforcing: Vec<&(RuleId, VerificationId)> =
        planned.verifications_enforcing(true, settings).collect();
    if enforcing.is_empty() {
        return match settings.unmatched_images {
            UnmatchedImages::Reject => {
                let warn_only = !planned.verifications.is_empty();
                FieldVerdict::Failed(vec![failure(None, messages::unmatched_rejected(warn_only))])
            }
            UnmatchedImages::Accept | UnmatchedImages::Warn => FieldVerdict::Unmatched,
        };
    }
    let mut failures = Vec::new();
    let mut agreed: Option<&Digest> = None;
    for &&(rule, verification) in &enforcing {
        match outcomes.of(verification) {
            Err(reason) => failures.push(failure(Some(rule), reason.clone())),
            Ok(verified) => match agreed {
                Some(first) if first != verified => failures.push(failure(
                    Some(rule),
                    messages::rules_disagree(verified, first),
                )),
                _ => agreed = Some(verified),
            },
        }
    }
    let Some(digest) = agreed.filter(|_| failures.is_empty()) else {
        return FieldVerdict::Failed(failures);
    };
    match digest_problem(image, digest, settings) {
        Some(problem) => FieldVerdict::Failed(vec![failure(None, problem)]),
        None => FieldVerdict::Verified(digest.clone()),
    }
}

/// The digest rule a verified image must meet: a digest written in the workload must be the
/// verified one, and under `digestPolicy: require` one must be written.
fn digest_problem(image: &ImageRef, verified: &Digest, settings: &Settings) -> Option<String> {
    match image.digest() {
        Some(written) if written != verified.as_str() => {
            Some(messages::pinned_to_another_digest(written, verified))
        }
        None if settings.digest_policy == DigestPolicy::Require => {
            Some(messages::digest_required(verified))
        }
        _ => None,
    }
}

/// What each rule with `failureAction: warn` would have refused, as the enforcing rules judge:
/// a failed verification, a digest other than the enforced one or the one written, or (under
/// `digestPolicy: require`) no digest written. Skipped and unusable images have none.
fn judge_warn_rules(
    planned: &PlannedField<'_>,
    verdict: &FieldVerdict,
    outcomes: &Outcomes,
    settings: &Settings,
) -> Vec<ImageFailure> {
    let Ok(image) = &planned.image else {
        return Vec::new();
    };
    let enforced = match verdict {
        FieldVerdict::Verified(digest) => Some(digest),
        _ => None,
    };
    planned
        .verifications_enforcing(false, settings)
        .filter_map(|&(rule, verification)| {
            let reason = match outcomes.of(verification) {
                Err(reason) => reason.clone(),
                Ok(verified) => match enforced {
                    Some(enforced) if enforced != verified => {
                        messages::rules_disagree(verified, enforced)
                    }
                    _ => digest_problem(image, verified, settings)?,
                },
            };
            Some(planned.failure(Some(rule), reason, settings))
        })
        .collect()
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

fn report(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    fields: &[JudgedField<'_>],
) -> Admission {
    let failures: Vec<ImageFailure> = fields
        .iter()
        .filter_map(|judged| match &judged.verdict {
            FieldVerdict::Failed(failures) => Some(failures.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    if !failures.is_empty() {
        let who = describe_object(&request.kind.kind, &request.object, &request.namespace);
        return Admission::plain(Decision::Reject(rejection(&who, &failures)));
    }
    let mut warnings: Vec<String> = fields
        .iter()
        .flat_map(|judged| &judged.warned)
        .map(messages::warn_rule_failed)
        .collect();
    if settings.unmatched_images == UnmatchedImages::Warn {
        warnings.extend(
            fields
                .iter()
                .filter(|judged| matches!(judged.verdict, FieldVerdict::Unmatched))
                .map(|judged| {
                    let planned = &judged.planned;
                    let warn_only = !planned.verifications.is_empty();
                    messages::unmatched_warning(&planned.field.path, &planned.written, warn_only)
                }),
        );
    }
    let audit_annotations = audit(settings, fields);
    let pins = pins(request, fields);
    let decision = if !settings.digest_policy.pins_in(&request.kind.kind) || pins.is_empty() {
        Decision::Accept
    } else {
        let mut mutated = request.object.clone();
        for (pointer, pinned) in pins {
            if let Some(slot) = slot_mut(&mut mutated, pointer) {
                *slot = Value::String(pinned);
            }
        }
        Decision::Mutate(mutated)
    };
    Admission {
        decision,
        warnings,
        audit_annotations,
    }
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

/// One audit annotation whose value maps each image field to what the policy did with it.
fn audit(settings: &Settings, fields: &[JudgedField<'_>]) -> BTreeMap<String, String> {
    if fields.is_empty() {
        return BTreeMap::new();
    }
    // Fields with the same image have the same outcome: it is written once per image.
    let mut outcomes: BTreeMap<&str, String> = BTreeMap::new();
    // The JSON object is written directly, in document order: building a map of owned
    // strings first cost more than the rest of a verified field's handling (make bench).
    let mut record = Vec::with_capacity(fields.len() * 128);
    record.push(b'{');
    for (i, judged) in fields.iter().enumerate() {
        let JudgedField {
            planned,
            verdict,
            warned,
        } = judged;
        let outcome = outcomes
            .entry(planned.written.as_str())
            .or_insert_with(|| match verdict {
                FieldVerdict::Skipped => "skipped".to_string(),
                FieldVerdict::Unmatched => "unmatched".to_string(),
                FieldVerdict::Verified(digest) => {
                    let rules: Vec<String> = planned
                        .verifications_enforcing(true, settings)
                        .map(|(id, _)| messages::rule_label(*id, settings))
                        .collect();
                    messages::verified_by(&rules, digest)
                }
                // Not reached on acceptance; kept total so a new verdict cannot go unrecorded.
                FieldVerdict::Failed(_) => "failed".to_string(),
            });
        if i > 0 {
            record.push(b',');
        }
        write_json_string(&mut record, &planned.field.path);
        record.push(b':');
        if warned.is_empty() {
            write_json_string(&mut record, outcome);
        } else {
            let rules: Vec<&str> = warned.iter().filter_map(|w| w.rule.as_deref()).collect();
            write_json_string(
                &mut record,
                &(outcome.clone() + &messages::warned_by(&rules)),
            );
        }
    }
    record.push(b'}');
    // Only JSON text was written: strings escaped by serde_json, punctuation ASCII.
    let record = String::from_utf8(record).unwrap_or_default();
    BTreeMap::from([(IMAGES_AUDIT_KEY.to_string(), record)])
}

/// `text` as a JSON string literal, escaped by serde_json.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail, and a &str always serialises.
    let _ = serde_json::to_writer(out, text);
}

#[cfg(test)]
mod tests;
