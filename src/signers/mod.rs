//! The signer kinds a rule can demand. Each kind is its own type that reads its settings and
//! says which host checks it needs; this module is the one place that dispatches over them.

mod certificates;
mod github_actions;
mod keyless;
mod keyless_prefix;
mod pub_keys;

pub use certificates::Certificates;
pub use github_actions::GithubActions;
pub use keyless::Keyless;
pub use keyless_prefix::KeylessPrefix;
pub use pub_keys::PubKeys;

use crate::host::{SignerCheck, SigstoreHost};
use crate::settings::fields::{Fields, SettingsErrors};

#[derive(Debug, Clone)]
pub enum Signer {
    PubKeys(PubKeys),
    Keyless(Keyless),
    KeylessPrefix(KeylessPrefix),
    GithubActions(GithubActions),
    Certificates(Certificates),
}

/// The rule keys that each choose a signer kind.
pub const SIGNER_KEYS: [&str; 5] = [
    PubKeys::KEY,
    Keyless::KEY,
    KeylessPrefix::KEY,
    GithubActions::KEY,
    Certificates::KEY,
];

impl Signer {
    /// Reads the one signer kind of a rule; zero or several kinds is an error, because a rule
    /// whose second kind were dropped would silently demand less than the admin wrote.
    pub fn parse(rule: &mut Fields<'_>, errors: &mut SettingsErrors) -> Option<Signer> {
        let present: Vec<&str> = SIGNER_KEYS.into_iter().filter(|k| rule.has(k)).collect();
        let before = errors.0.len();
        match present.len() {
            0 => errors.add(
                rule.path(),
                format!("needs one signer kind: one of {}", SIGNER_KEYS.join(", ")),
            ),
            1 => {}
            _ => errors.add(
                rule.path(),
                format!(
                    "has {}: a rule takes exactly one signer kind (write one rule per kind; every matching rule must pass)",
                    present.join(" and ")
                ),
            ),
        }
        let kind_is_certificates = present.contains(&Certificates::KEY);
        if !kind_is_certificates {
            for sibling in [Certificates::CHAIN_KEY, Certificates::REKOR_KEY] {
                if rule.take(sibling).is_some() {
                    errors.add(
                        rule.path_of(sibling),
                        "is only allowed together with certificates",
                    );
                }
            }
        }
        let mut parsed = Vec::new();
        for key in &present {
            let path = rule.path_of(key);
            let signer = match *key {
                PubKeys::KEY => rule
                    .take(key)
                    .and_then(|v| PubKeys::parse(v, &path, errors))
                    .map(Signer::PubKeys),
                Keyless::KEY => rule
                    .take(key)
                    .and_then(|v| Keyless::parse(v, &path, errors))
                    .map(Signer::Keyless),
                KeylessPrefix::KEY => rule
                    .take(key)
                    .and_then(|v| KeylessPrefix::parse(v, &path, errors))
                    .map(Signer::KeylessPrefix),
                GithubActions::KEY => rule
                    .take(key)
                    .and_then(|v| GithubActions::parse(v, &path, errors))
                    .map(Signer::GithubActions),
                _ => Certificates::parse(rule, errors).map(Signer::Certificates),
            };
            parsed.extend(signer);
        }
        if errors.0.len() != before || parsed.len() != 1 {
            return None;
        }
        parsed.pop()
    }

    /// The settings key naming this kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Signer::PubKeys(_) => PubKeys::KEY,
            Signer::Keyless(_) => Keyless::KEY,
            Signer::KeylessPrefix(_) => KeylessPrefix::KEY,
            Signer::GithubActions(_) => GithubActions::KEY,
            Signer::Certificates(_) => Certificates::KEY,
        }
    }

    /// The host calls that together prove this signer signed an image; all must succeed.
    pub fn checks(&self) -> Vec<SignerCheck<'_>> {
        match self {
            Signer::PubKeys(s) => s.checks(),
            Signer::Keyless(s) => s.checks(),
            Signer::KeylessPrefix(s) => s.checks(),
            Signer::GithubActions(s) => s.checks(),
            Signer::Certificates(s) => s.checks(),
        }
    }

    /// Deploy-time checks that need the host.
    pub fn check_trust(
        &self,
        rule_path: &str,
        host: &dyn SigstoreHost,
        errors: &mut SettingsErrors,
    ) {
        if let Signer::Certificates(s) = self {
            s.check_trust(rule_path, host, errors);
        }
    }
}
