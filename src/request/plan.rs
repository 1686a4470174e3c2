//! Plan, a request's second step: each image field parsed once per distinct string, matched
//! against `skipImages`, `allowedRegistries` and the rules, and the verifications its rules need,
//! deduplicated across the object (one host question per image and rule).

use std::collections::BTreeMap;

use super::extract::ImageField;
use super::messages::ImageFailure;
use super::verify::{VerificationId, VerificationPlan};
use crate::deploy::image_pattern::CoverageSpellings;
use crate::deploy::settings::{RuleId, Settings, SignatureRule};
use crate::reference::ImageRef;

/// One image field of the object, parsed, with the verifications its rules need.
pub(super) struct PlannedField<'a> {
    pub(super) field: &'a ImageField<'a>,
    /// The value as written, for messages (JSON text when it is not a string).
    pub(super) written: String,
    pub(super) image: Result<ImageRef, String>,
    /// Matched by `skipImages`: neither verified nor pinned.
    pub(super) skipped: bool,
    /// Covered by an enforcing rule, but its registry is not in `allowedRegistries`.
    pub(super) refused_registry: Option<String>,
    pub(super) verifications: Vec<CoveringRule<'a>>,
}

/// A rule that covers an image, and the verification that answers it.
#[derive(Clone, Copy)]
pub(super) struct CoveringRule<'a> {
    pub(super) rule: &'a SignatureRule,
    pub(super) verification: VerificationId,
}

/// Every image field of the object, and the deduplicated verifications they need.
pub(super) struct AdmissionPlan<'a> {
    pub(super) fields: Vec<PlannedField<'a>>,
    pub(super) verifications: VerificationPlan,
}

/// What the settings make of one written image string: its reference, whether it is skipped,
/// and the verifications of its rules.
#[derive(Clone)]
struct MatchedImage<'a> {
    image: Result<ImageRef, String>,
    skipped: bool,
    refused_registry: Option<String>,
    verifications: Vec<CoveringRule<'a>>,
}

impl<'a> MatchedImage<'a> {
    fn new(written: &str, settings: &'a Settings, verifications: &mut VerificationPlan) -> Self {
        let image = ImageRef::parse(written).map_err(|e| e.to_string());
        let spellings = image.as_ref().ok().map(CoverageSpellings::of);
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
                let registry = image.coverage_registry();
                if covering.is_empty() || settings.registry_allowed(&registry) {
                    covering
                        .into_iter()
                        .map(|(id, rule)| CoveringRule {
                            rule,
                            verification: verifications.add(image, id),
                        })
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
        MatchedImage {
            image,
            skipped,
            refused_registry,
            verifications: rules,
        }
    }
}

impl<'a> AdmissionPlan<'a> {
    pub(super) fn new(fields: &'a [ImageField<'a>], settings: &'a Settings) -> Self {
        let mut verifications = VerificationPlan::default();
        // Pods repeat images (sidecars, one image in many containers): each distinct string is
        // parsed and matched once.
        let mut matched_images: BTreeMap<&str, MatchedImage<'a>> = BTreeMap::new();
        let fields = fields
            .iter()
            .map(|field| {
                let (written, plan) = match field.value.as_str() {
                    Some(s) => {
                        let plan = matched_images
                            .entry(s)
                            .or_insert_with(|| MatchedImage::new(s, settings, &mut verifications))
                            .clone();
                        (s.to_string(), plan)
                    }
                    None => (
                        field.value.to_string(),
                        MatchedImage {
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

impl<'a> PlannedField<'a> {
    pub(super) fn failure(&self, rule: Option<&SignatureRule>, reason: String) -> ImageFailure {
        ImageFailure {
            path: self.field.path.clone(),
            image: self.written.clone(),
            rule: rule.map(|rule| rule.label.clone()),
            reason,
        }
    }

    /// The rules with `failureAction: reject` (`true`) or `warn` (`false`).
    pub(super) fn verifications_enforcing(
        &self,
        enforcing: bool,
    ) -> impl Iterator<Item = &CoveringRule<'a>> {
        self.verifications
            .iter()
            .filter(move |covering| covering.rule.enforces() == enforcing)
    }
}
