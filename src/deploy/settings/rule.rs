//! One entry of `signatures`: its image pattern, annotations, signer, `failureAction` and
//! `minimumMatches`, read strictly with every problem reported at its path, and the label
//! messages name it by.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::deploy::image_pattern::ImagePattern;
use crate::deploy::signers::{signer_rule_keys, Signer};
use crate::deploy::strict_fields::{child, string, string_map, Fields, SettingsErrors};

/// One entry of `signatures`: images matching `image` must be signed by `signer`, with
/// `annotations` on that same signature.
#[derive(Debug)]
pub struct SignatureRule {
    pub image: ImagePattern,
    pub annotations: Option<BTreeMap<String, String>>,
    pub signer: Signer,
    pub failure_action: FailureAction,
    /// How many of the signer's listed signers must have signed; `None` is all of them, checked
    /// as the established policy does (one host call for the whole list).
    pub minimum_matches: Option<usize>,
    /// How the rule reads in rejections, warnings and the audit record:
    /// `signatures[2] (keyless)`.
    pub label: String,
}

impl SignatureRule {
    pub fn enforces(&self) -> bool {
        self.failure_action == FailureAction::Reject
    }
}

/// What a rule's failure does to the image it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// The object is refused (the established behaviour).
    Reject,
    /// The object is admitted with an admission warning: for rolling out a new rule. Such a
    /// rule never pins, never vouches for an image, and does not count as covering it.
    Warn,
}

impl FailureAction {
    const CHOICES: [(&'static str, FailureAction); 2] = [
        ("reject", FailureAction::Reject),
        ("warn", FailureAction::Warn),
    ];
}

const FAILURE_ACTION_KEY: &str = "failureAction";
const MINIMUM_MATCHES_KEY: &str = "minimumMatches";

/// The keys every rule may carry besides its signer kind's.
pub(super) const COMMON_RULE_KEYS: [&str; 4] = [
    "image",
    "annotations",
    FAILURE_ACTION_KEY,
    MINIMUM_MATCHES_KEY,
];

pub(super) fn read_rule(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
) -> Option<SignatureRule> {
    let mut rule = Fields::of(value, path, errors)?;
    let image = match rule.take("image") {
        Some(v) => {
            let image_path = child(path, "image");
            string(v, &image_path, errors).and_then(|p| match ImagePattern::parse(&p) {
                Ok(pattern) => Some(pattern),
                Err(problem) => {
                    errors.add(image_path, problem);
                    None
                }
            })
        }
        None => {
            errors.add(
                child(path, "image"),
                "is required (a glob such as \"ghcr.io/acme/*\")",
            );
            None
        }
    };
    // An empty map demands nothing; treating it as absent keeps host requests alike.
    let annotations = rule
        .take("annotations")
        .and_then(|v| string_map(v, &child(path, "annotations"), errors))
        .filter(|map| !map.is_empty());
    let failure_action = match rule.take(FAILURE_ACTION_KEY) {
        Some(v) => read_failure_action(v, &child(path, FAILURE_ACTION_KEY), errors),
        None => Some(FailureAction::Reject),
    };
    let minimum_path = child(path, MINIMUM_MATCHES_KEY);
    let minimum_matches = rule
        .take(MINIMUM_MATCHES_KEY)
        .map(|v| read_minimum_matches(v, &minimum_path, errors));
    let signer = Signer::parse(&mut rule, errors);
    if let (Some(Some(minimum)), Some(signer)) = (minimum_matches, &signer) {
        check_minimum_matches(minimum, signer, path, errors);
    }
    let known: Vec<&str> = COMMON_RULE_KEYS
        .into_iter()
        .chain(signer_rule_keys())
        .collect();
    rule.finish(&known, errors);
    let signer = signer?;
    Some(SignatureRule {
        image: image?,
        annotations,
        label: format!("{path} ({})", signer.key()),
        signer,
        failure_action: failure_action?,
        minimum_matches: minimum_matches.map_or(Some(None), |m| m.map(Some))?,
    })
}

fn read_minimum_matches(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<usize> {
    let minimum = value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1);
    if minimum.is_none() {
        errors.add(
            path,
            format!(
                "must be a whole number of at least 1 (omit it to require every signer), found {value}"
            ),
        );
    }
    minimum
}

/// A quorum larger than the list can never be met, and a kind naming one signer has none.
fn check_minimum_matches(minimum: usize, signer: &Signer, path: &str, errors: &mut SettingsErrors) {
    let key = signer.key();
    match signer.each_signer() {
        None => errors.add(
            child(path, MINIMUM_MATCHES_KEY),
            format!("is not allowed with {key}, which names a single signer"),
        ),
        Some(signers) if minimum > signers.len() => errors.add(
            child(path, MINIMUM_MATCHES_KEY),
            format!(
                "is {minimum}, but {} lists {} signer{}: it could never be met",
                child(path, key),
                signers.len(),
                if signers.len() == 1 { "" } else { "s" }
            ),
        ),
        Some(signers) => {
            // A quorum counts signers: two entries one signature satisfies would let one
            // signer count twice (the same key pasted twice, overlapping URL prefixes).
            for later in 0..signers.len() {
                if let Some(earlier) =
                    (0..later).find(|&earlier| signer.one_signature_satisfies_both(earlier, later))
                {
                    errors.add(
                        format!("{}[{later}]", child(path, key)),
                        format!(
                            "one signature could satisfy both this and {key}[{earlier}], so with {MINIMUM_MATCHES_KEY} it would count twice"
                        ),
                    );
                }
            }
        }
    }
}

fn read_failure_action(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
) -> Option<FailureAction> {
    let text = string(value, path, errors)?;
    let choice = FailureAction::CHOICES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, choice)| *choice);
    if choice.is_none() {
        errors.add(path, format!("must be one of reject, warn, found {text:?}"));
    }
    choice
}
