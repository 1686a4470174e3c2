//! The policy's settings: signature rules and what becomes of verified digests, read strictly so that every
//! mistake is reported at deploy time, all at once, each with its path.

mod rule;

use serde_json::Value;

use crate::deploy::custom_resources::{self, CustomResource, CUSTOM_RESOURCES_KEY};
use crate::deploy::image_pattern::SkipPattern;
use crate::deploy::signers::{pem_certificate, SIGNER_KINDS};
use crate::deploy::strict_fields::{self, boolean, item, string, Fields, SettingsErrors};
pub use rule::SignatureRule;
use rule::{read_rule, COMMON_RULE_KEYS};

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

#[cfg(test)]
mod tests;
