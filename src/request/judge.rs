//! Judge, a request's fourth step: what each image field's rules concluded once the host has
//! answered. Enforcing rules decide the verdict; warn-only rules are judged the same way, and
//! what they would have refused becomes a warning.

use super::messages::{self, ImageFailure};
use super::plan::{CoveringRule, PlannedField};
use super::verify::Outcomes;
use crate::deploy::settings::{DigestPolicy, Settings, SignatureRule, UnmatchedImages};
use crate::reference::{Digest, ImageRef};

/// Every field of the plan, judged.
pub(super) fn judge_fields<'a>(
    fields: Vec<PlannedField<'a>>,
    outcomes: &Outcomes,
    settings: &Settings,
) -> Vec<JudgedField<'a>> {
    fields
        .into_iter()
        .map(|planned| {
            let verdict = judge(&planned, outcomes, settings);
            let warned = judge_warn_rules(&planned, &verdict, outcomes, settings);
            JudgedField {
                planned,
                verdict,
                warned,
            }
        })
        .collect()
}

/// One image field through judge, pin and report: what was planned for it, what its
/// enforcing rules concluded, and what its warn-only rules would have refused.
pub(super) struct JudgedField<'a> {
    pub(super) planned: PlannedField<'a>,
    pub(super) verdict: FieldVerdict,
    pub(super) warned: Vec<ImageFailure>,
}

/// What became of one image field once its rules were checked.
pub(super) enum FieldVerdict {
    Skipped,
    Unmatched,
    Failed(Vec<ImageFailure>),
    Verified(Digest),
}

/// Every matching enforcing rule must pass (AND), all must vouch for the same digest, and an
/// image the workload already pins must be pinned to exactly that digest; under
/// `digestPolicy: require` it must be pinned. Rules with `failureAction: warn` play no part:
/// an image only they cover is unmatched.
fn judge(planned: &PlannedField<'_>, outcomes: &Outcomes, settings: &Settings) -> FieldVerdict {
    let failure = |rule: Option<&SignatureRule>, reason: String| planned.failure(rule, reason);
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
    let enforcing: Vec<&CoveringRule<'_>> = planned.verifications_enforcing(true).collect();
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
    for covering in &enforcing {
        match outcomes.of(covering.verification) {
            Err(reason) => failures.push(failure(Some(covering.rule), reason.clone())),
            Ok(verified) => match agreed {
                Some(first) if first != verified => failures.push(failure(
                    Some(covering.rule),
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
        .verifications_enforcing(false)
        .filter_map(|covering| {
            let reason = match outcomes.of(covering.verification) {
                Err(reason) => reason.clone(),
                Ok(verified) => match enforced {
                    Some(enforced) if enforced != verified => {
                        messages::rules_disagree(verified, enforced)
                    }
                    _ => digest_problem(image, verified, settings)?,
                },
            };
            Some(planned.failure(Some(covering.rule), reason))
        })
        .collect()
}
