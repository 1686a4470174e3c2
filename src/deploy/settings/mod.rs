//! The policy's settings: signature rules and what becomes of verified digests, read strictly so that every
//! mistake is reported at deploy time, all at once, each with its path.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::deploy::custom_resources::{self, CustomResource, CUSTOM_RESOURCES_KEY};
use crate::deploy::image_pattern::{ImagePattern, SkipPattern};
use crate::deploy::signers::{pem_certificate, signer_rule_keys, Signer, SIGNER_KINDS};
use crate::deploy::strict_fields::{
    self, boolean, child, item, string, string_map, Fields, SettingsErrors,
};

pub const SIGNATURES_KEY: &str = "signatures";
pub const MODIFY_KEY: &str = "modifyImagesWithDigest";
pub const DIGEST_POLICY_KEY: &str = "digestPolicy";
pub const UNMATCHED_KEY: &str = "unmatchedImages";
pub const SKIP_KEY: &str = "skipImages";
pub const FULCIO_CHAIN_KEY: &str = "fulcioCertificateChain";
pub const ALLOWED_REGISTRIES_KEY: &str = "allowedRegistries";
/// Written by the Kubewarden UI's form (questions-ui.yml, and the established policy's) to
/// remember which signer kind it shows: accepted when it names one, and otherwise ignored.
pub const UI_SIGNER_KIND_KEY: &str = "rule";

/// What happens to an image no rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedImages {
    /// Admitted unverified (the established policy's behaviour).
    Accept,
    /// Admitted unverified, with an admission warning naming it.
    Warn,
    /// Refused.
    Reject,
}

impl UnmatchedImages {
    const CHOICES: [(&'static str, UnmatchedImages); 3] = [
        ("accept", UnmatchedImages::Accept),
        ("warn", UnmatchedImages::Warn),
        ("reject", UnmatchedImages::Reject),
    ];
}

/// What the policy does with the digest it verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestPolicy {
    /// Pin every verified image, in every kind (`modifyImagesWithDigest: true`).
    Pin,
    /// Pin only in Pods: controllers' templates stay as written in Git, so GitOps tools see no
    /// drift, while the Pods they create run exactly the verified content.
    PinPodsOnly,
    /// Verify, never mutate (`modifyImagesWithDigest: false`).
    Keep,
    /// Verify, never mutate, and refuse a covered image not written with a digest.
    Require,
}

impl DigestPolicy {
    const CHOICES: [(&'static str, DigestPolicy); 4] = [
        ("pin", DigestPolicy::Pin),
        ("pinPodsOnly", DigestPolicy::PinPodsOnly),
        ("keep", DigestPolicy::Keep),
        ("require", DigestPolicy::Require),
    ];

    /// What `modifyImagesWithDigest` means in these terms.
    fn from_modify(modify: bool) -> Self {
        if modify {
            DigestPolicy::Pin
        } else {
            DigestPolicy::Keep
        }
    }

    pub fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, choice)| *choice == self)
            .map_or("pin", |(name, _)| name)
    }

    /// Whether the policy rewrites images at all, as `modifyImagesWithDigest` says it.
    fn mutates(self) -> bool {
        matches!(self, DigestPolicy::Pin | DigestPolicy::PinPodsOnly)
    }

    /// Whether verified images of an object of `kind` are pinned.
    pub fn pins_in(self, kind: &str) -> bool {
        match self {
            DigestPolicy::Pin => true,
            DigestPolicy::PinPodsOnly => kind == "Pod",
            DigestPolicy::Keep | DigestPolicy::Require => false,
        }
    }
}

/// The Fulcio that keyless certificates must come from: its intermediates first, root last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulcioChain {
    /// Sigstore's public-good Fulcio (the current CA of its published trusted root).
    PublicGood,
    /// `fulcioCertificateChain`: a private Sigstore's, or a narrower one.
    Configured(Vec<String>),
}

/// The public-good Fulcio intermediate and root, from Sigstore's `trusted_root.json`.
const PUBLIC_GOOD_FULCIO: &str = include_str!("sigstore_public_good_fulcio.pem");

impl FulcioChain {
    /// The chain's certificates as PEM texts, intermediates first.
    pub fn certificates(&self) -> Vec<String> {
        match self {
            FulcioChain::PublicGood => PUBLIC_GOOD_FULCIO
                .split_inclusive("-----END CERTIFICATE-----\n")
                .map(str::to_string)
                .collect(),
            FulcioChain::Configured(chain) => chain.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Settings {
    pub rules: Vec<SignatureRule>,
    pub fulcio_chain: FulcioChain,
    /// `allowedRegistries`, in coverage spelling: the only registries the host is ever asked
    /// about. `None`: any.
    pub allowed_registries: Option<Vec<String>>,
    pub digest_policy: DigestPolicy,
    pub unmatched_images: UnmatchedImages,
    pub skip_images: Vec<SkipPattern>,
    pub custom_resources: Vec<CustomResource>,
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

/// The position of a rule in `signatures`, as messages name it (`signatures[2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleId(pub usize);

impl Settings {
    /// Whether the host may be asked about images of this registry (in coverage spelling).
    pub fn registry_allowed(&self, coverage_registry: &str) -> bool {
        self.allowed_registries
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|r| r == coverage_registry))
    }

    /// Every rule with its id, in settings order.
    pub fn rules_with_ids(&self) -> impl Iterator<Item = (RuleId, &SignatureRule)> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, rule)| (RuleId(i), rule))
    }

    pub fn rule(&self, id: RuleId) -> &SignatureRule {
        &self.rules[id.0]
    }

    /// The `customResources` entry for requests of this API group and kind.
    pub fn custom_resource(&self, group: &str, kind: &str) -> Option<&CustomResource> {
        self.custom_resources.iter().find(|r| r.is(group, kind))
    }
}

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

impl Settings {
    pub fn parse(document: &Value) -> Result<Settings, SettingsErrors> {
        let mut errors = SettingsErrors::default();
        let settings = Self::read(document, &mut errors);
        match settings {
            Some(settings) if errors.is_empty() => Ok(settings),
            _ => Err(errors),
        }
    }

    /// Everything `parse` checks, plus what is only checked once, when the policy is deployed
    /// (certificate chains).
    pub fn validate(document: &Value) -> Result<Settings, SettingsErrors> {
        let settings = Self::parse(document)?;
        let mut errors = SettingsErrors::default();
        for (i, rule) in settings.rules.iter().enumerate() {
            rule.signer
                .check_at_deploy(&item(SIGNATURES_KEY, i), &mut errors);
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    fn read(document: &Value, errors: &mut SettingsErrors) -> Option<Settings> {
        let mut top = Fields::of(document, "", errors)?;
        let rules = match top.take(SIGNATURES_KEY) {
            Some(v) => strict_fields::list(v, SIGNATURES_KEY, errors, read_rule),
            None => {
                errors.add(
                    SIGNATURES_KEY,
                    "is required: list at least one signature rule",
                );
                None
            }
        };
        let modify = top.take(MODIFY_KEY).map(|v| boolean(v, MODIFY_KEY, errors));
        let digest_policy = top
            .take(DIGEST_POLICY_KEY)
            .map(|v| read_digest_policy(v, errors));
        let digest_policy = match (modify, digest_policy) {
            (Some(Some(modify)), Some(Some(policy))) if modify != policy.mutates() => {
                errors.add(
                    DIGEST_POLICY_KEY,
                    format!(
                        "{:?} contradicts {MODIFY_KEY}: {modify}; give only {DIGEST_POLICY_KEY} ({MODIFY_KEY}: true is pin, false is keep)",
                        policy.name()
                    ),
                );
                None
            }
            (_, Some(policy)) => policy,
            (Some(modify), None) => modify.map(DigestPolicy::from_modify),
            (None, None) => Some(DigestPolicy::Pin),
        };
        let unmatched = match top.take(UNMATCHED_KEY) {
            Some(v) => read_unmatched(v, errors),
            None => Some(UnmatchedImages::Accept),
        };
        let skip = match top.take(SKIP_KEY) {
            Some(v) => strict_fields::list(v, SKIP_KEY, errors, read_skip_pattern),
            None => Some(Vec::new()),
        };
        let fulcio_chain = match top.take(FULCIO_CHAIN_KEY) {
            Some(v) => strict_fields::list(v, FULCIO_CHAIN_KEY, errors, pem_certificate)
                .map(FulcioChain::Configured),
            None => Some(FulcioChain::PublicGood),
        };
        let allowed_registries = match top.take(ALLOWED_REGISTRIES_KEY) {
            Some(v) => {
                strict_fields::list(v, ALLOWED_REGISTRIES_KEY, errors, read_registry).map(Some)
            }
            None => Some(None),
        };
        let custom_resources = match top.take(CUSTOM_RESOURCES_KEY) {
            Some(v) => custom_resources::read(v, errors),
            None => Some(Vec::new()),
        };
        if let Some(kind) = top.take(UI_SIGNER_KIND_KEY) {
            if let Some(kind) = string(kind, UI_SIGNER_KIND_KEY, errors) {
                let form_names: Vec<&str> = SIGNER_KINDS.iter().map(|k| k.form_name).collect();
                if !form_names.contains(&kind.as_str()) {
                    errors.add(
                        UI_SIGNER_KIND_KEY,
                        format!(
                            "{kind:?} is not a signer kind of the settings form (one of {}); the key only records the form's choice",
                            form_names.join(", ")
                        ),
                    );
                }
            }
        }
        top.finish(&TOP_LEVEL_KEYS, errors);
        let rules = rules?;
        if matches!(fulcio_chain, Some(FulcioChain::Configured(_)))
            && !rules.iter().any(|rule| rule.signer.is_keyless())
        {
            errors.add(
                FULCIO_CHAIN_KEY,
                "is set, but no rule is keyless (keyless, keylessPrefix or githubActions), so nothing would use it",
            );
        }
        Some(Settings {
            rules,
            fulcio_chain: fulcio_chain?,
            allowed_registries: allowed_registries?,
            digest_policy: digest_policy?,
            unmatched_images: unmatched?,
            skip_images: skip?,
            custom_resources: custom_resources?,
        })
    }
}

/// Every key a settings document may contain, at any depth, in the spelling the docs use.
pub fn settings_keys() -> Vec<&'static str> {
    TOP_LEVEL_KEYS
        .into_iter()
        .chain(COMMON_RULE_KEYS)
        .chain(crate::deploy::signers::signer_settings_keys())
        .chain(custom_resources::ENTRY_KEYS)
        .collect()
}

/// The keys a settings document may have at its top level.
const TOP_LEVEL_KEYS: [&str; 9] = [
    SIGNATURES_KEY,
    MODIFY_KEY,
    DIGEST_POLICY_KEY,
    UNMATCHED_KEY,
    SKIP_KEY,
    CUSTOM_RESOURCES_KEY,
    FULCIO_CHAIN_KEY,
    ALLOWED_REGISTRIES_KEY,
    UI_SIGNER_KIND_KEY,
];

pub const FAILURE_ACTION_KEY: &str = "failureAction";
pub const MINIMUM_MATCHES_KEY: &str = "minimumMatches";

/// The keys every rule may carry besides its signer kind's.
const COMMON_RULE_KEYS: [&str; 4] = [
    "image",
    "annotations",
    FAILURE_ACTION_KEY,
    MINIMUM_MATCHES_KEY,
];

/// One `allowedRegistries` entry: a registry host with an optional port, as image references
/// name it (`ghcr.io`, `registry.corp.example:5000`, `docker.io`), kept in coverage spelling.
fn read_registry(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<String> {
    let registry = string(value, path, errors)?;
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry.as_str(), None),
    };
    let host_ok = !host.is_empty()
        && (host.contains('.') || host.eq_ignore_ascii_case("localhost"))
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Some(crate::reference::coverage_registry(&registry))
    } else {
        errors.add(
            path,
            format!("{registry:?} is not a registry host (a DNS name or localhost, with an optional port; no scheme or path)"),
        );
        None
    }
}

fn read_unmatched(value: &Value, errors: &mut SettingsErrors) -> Option<UnmatchedImages> {
    let text = string(value, UNMATCHED_KEY, errors)?;
    let choice = UnmatchedImages::CHOICES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, choice)| *choice);
    if choice.is_none() {
        errors.add(
            UNMATCHED_KEY,
            format!("must be one of accept, warn, reject, found {text:?}"),
        );
    }
    choice
}

fn read_digest_policy(value: &Value, errors: &mut SettingsErrors) -> Option<DigestPolicy> {
    let text = string(value, DIGEST_POLICY_KEY, errors)?;
    let choice = DigestPolicy::CHOICES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, choice)| *choice);
    if choice.is_none() {
        errors.add(
            DIGEST_POLICY_KEY,
            format!("must be one of pin, pinPodsOnly, keep, require, found {text:?}"),
        );
    }
    choice
}

fn read_skip_pattern(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
) -> Option<SkipPattern> {
    let pattern = string(value, path, errors)?;
    SkipPattern::parse(&pattern)
        .map_err(|problem| errors.add(path, problem))
        .ok()
}

fn read_rule(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<SignatureRule> {
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

#[cfg(test)]
mod tests;
