//! Report, a request's last step: a rejection listing every failing image field, or an
//! acceptance (pinned or not) with warnings for unmatched images and warn-only rules, and an
//! audit record of what became of every field.

use std::collections::BTreeMap;

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde_json::Value;

use super::judge::{FieldVerdict, JudgedField};
use super::messages::{self, describe_object, rejection, ImageFailure};
use crate::deploy::settings::{Settings, UnmatchedImages};

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
    pub(super) fn plain(decision: Decision) -> Self {
        Admission {
            decision,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }
}

/// The audit annotation listing what became of every image field.
pub(super) const IMAGES_AUDIT_KEY: &str = "images";

/// The rejection message when any field failed: every failure of the object in one message.
pub(super) fn rejected(
    request: &KubernetesAdmissionRequest,
    fields: &[JudgedField<'_>],
) -> Option<String> {
    let failures: Vec<ImageFailure> = fields
        .iter()
        .filter_map(|judged| match &judged.verdict {
            FieldVerdict::Failed(failures) => Some(failures.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    if failures.is_empty() {
        return None;
    }
    let who = describe_object(&request.kind.kind, &request.object, &request.namespace);
    Some(rejection(&who, &failures))
}

/// The acceptance of an object no field failed: mutated when `pinned` holds the object with
/// its images pinned.
pub(super) fn accepted(
    settings: &Settings,
    fields: &[JudgedField<'_>],
    pinned: Option<Value>,
) -> Admission {
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
    Admission {
        decision: pinned.map_or(Decision::Accept, Decision::Mutate),
        warnings,
        audit_annotations: audit(fields),
    }
}

/// One audit annotation whose value maps each image field to what the policy did with it.
fn audit(fields: &[JudgedField<'_>]) -> BTreeMap<String, String> {
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
                        .verifications_enforcing(true)
                        .map(|covering| covering.rule.label.clone())
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
