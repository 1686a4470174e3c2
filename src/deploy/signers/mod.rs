//! The signer kinds a rule can demand. Each kind is one type implementing [`SignerKind`]: it
//! reads its own settings, names the host checks that prove it, what the policy must ask the
//! host on top, when two of its signers are one, and any deploy-time trust checks.
//! [`SIGNER_KINDS`] registers them, and settings reading, the key lists and the metadata tests
//! go through that table; the rest of the policy holds a [`Signer`] and never names a kind.
//! What a kind asks the host is a [`SignerConstraint`]: the closed set of the host's verification
//! calls, matched without a wildcard where it is sent (`host.rs`), so a new call does not
//! compile until the host seam sends it.

pub(crate) mod certificate_identity;
mod certificates;
mod github_actions;
mod keyless;
mod keyless_prefix;
mod pub_keys;

use std::fmt;

pub(crate) use certificates::pem_certificate;
pub use certificates::Certificates;
pub use github_actions::GithubActions;
pub use keyless::Keyless;
pub use keyless_prefix::KeylessPrefix;
pub use pub_keys::PubKeys;

use crate::deploy::strict_fields::{Fields, SettingsErrors};
use crate::host::SignerConstraint;
use certificate_identity::IdentityMatch;

/// One kind of signer, as read from one rule.
pub trait SignerKind: fmt::Debug {
    /// The settings key that chooses this kind.
    fn key(&self) -> &'static str;

    /// The host calls that together prove this signer signed an image; all must succeed.
    fn constraints(&self) -> Vec<SignerConstraint<'_>>;

    /// One host call per listed signer, for `minimumMatches`; `None` for kinds that name a
    /// single signer.
    fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        None
    }

    /// Whether one signature could pass both the `earlier` and the `later` of the signers
    /// [`each_signer`](SignerKind::each_signer) lists (by index): a quorum that counted both
    /// would count one signer twice. No default: a kind that lists signers must say when two
    /// are one.
    fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool;

    /// What the policy must still ask once the host answers "trusted" to `constraint`, for the
    /// kinds whose signatures hosts do not fully verify (see `signature_manifest`).
    fn follow_up<'a>(&'a self, _constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        None
    }

    /// Whether this kind trusts Fulcio certificates (and so `fulcioCertificateChain`).
    fn is_keyless(&self) -> bool {
        false
    }

    /// Deploy-time checks too costly to repeat on every request (policy-server reads the
    /// settings again for each one). They make no host call: policy-server 1.36.0-beta.1
    /// panics at start when `validate_settings` calls the host.
    fn check_at_deploy(&self, _rule_path: &str, _errors: &mut SettingsErrors) {}
}

/// The questions that turn a host's "trusted" into a proof of the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp<'a> {
    /// Keyless: each identity must be backed by a certificate, chosen from the `.sig` manifest,
    /// that chains to `fulcioCertificateChain` and whose key signed a layer of the digest.
    KeylessSigners(Vec<IdentityMatch<'a>>),
    /// A `certificates` signer: the rule's annotations must sit on a layer the certificate's
    /// key signed, and with `requireRekorBundle` the logged signature must be that layer's.
    Certificate {
        certificate_pem: &'a str,
        require_rekor_bundle: bool,
    },
}

/// How a kind joins the settings: the key that chooses it, the rule keys that only make sense
/// beside it, and its reader (which takes its key and companions from the rule).
pub struct Registration {
    pub key: &'static str,
    /// How the Kubewarden UI's settings form names the kind in the top-level `rule` key.
    pub form_name: &'static str,
    pub companion_keys: &'static [&'static str],
    /// The keys inside the kind's value (its identities' fields), for forms and docs.
    pub inner_keys: &'static [&'static str],
    pub read: fn(&mut Fields<'_>, &mut SettingsErrors) -> Option<Box<dyn SignerKind>>,
}

/// Every signer kind. Adding one is a new type and one line here.
pub const SIGNER_KINDS: [Registration; 5] = [
    value_signer::<PubKeys>(),
    value_signer::<Keyless>(),
    value_signer::<KeylessPrefix>(),
    value_signer::<GithubActions>(),
    Certificates::REGISTRATION,
];

/// A kind whose settings are the one value under its key, with no companion keys.
pub trait ValueSigner: SignerKind + Sized + 'static {
    const KEY: &'static str;
    /// How the Kubewarden UI's settings form names the kind (see [`Registration::form_name`]).
    const FORM_NAME: &'static str;
    /// The keys inside the value (its identities' fields).
    const INNER_KEYS: &'static [&'static str];

    /// Reads the value at `path`, reporting every problem into `errors`.
    fn parse(value: &serde_json::Value, path: &str, errors: &mut SettingsErrors) -> Option<Self>;
}

const fn value_signer<T: ValueSigner>() -> Registration {
    Registration {
        key: T::KEY,
        form_name: T::FORM_NAME,
        companion_keys: &[],
        inner_keys: T::INNER_KEYS,
        read: read_value::<T>,
    }
}

fn read_value<T: ValueSigner>(
    rule: &mut Fields<'_>,
    errors: &mut SettingsErrors,
) -> Option<Box<dyn SignerKind>> {
    let path = rule.path_of(T::KEY);
    let value = rule.take(T::KEY)?;
    T::parse(value, &path, errors).map(|signer| Box::new(signer) as Box<dyn SignerKind>)
}

/// Every key any signer kind reads, at any depth.
pub fn signer_settings_keys() -> impl Iterator<Item = &'static str> {
    signer_rule_keys().chain(
        SIGNER_KINDS
            .iter()
            .flat_map(|kind| kind.inner_keys.iter().copied()),
    )
}

/// Every rule key that belongs to some signer kind.
pub fn signer_rule_keys() -> impl Iterator<Item = &'static str> {
    SIGNER_KINDS
        .iter()
        .flat_map(|kind| std::iter::once(kind.key).chain(kind.companion_keys.iter().copied()))
}

/// The signer of one rule: exactly one registered kind.
#[derive(Debug)]
pub struct Signer(Box<dyn SignerKind>);

impl Signer {
    /// Reads the one signer kind of a rule; zero or several kinds is an error, because a rule
    /// whose second kind were dropped would silently demand less than the admin wrote.
    pub fn parse(rule: &mut Fields<'_>, errors: &mut SettingsErrors) -> Option<Signer> {
        let present: Vec<&Registration> = SIGNER_KINDS
            .iter()
            .filter(|kind| rule.has(kind.key))
            .collect();
        let keys: Vec<&str> = present.iter().map(|kind| kind.key).collect();
        let before = errors.0.len();
        match present.len() {
            0 => {
                let all: Vec<&str> = SIGNER_KINDS.iter().map(|kind| kind.key).collect();
                errors.add(
                    rule.path(),
                    format!("needs one signer kind: one of {}", all.join(", ")),
                )
            }
            1 => {}
            _ => errors.add(
                rule.path(),
                format!(
                    "has {}: a rule takes exactly one signer kind (write one rule per kind; every matching rule must pass)",
                    keys.join(" and ")
                ),
            ),
        }
        for kind in SIGNER_KINDS.iter().filter(|kind| !keys.contains(&kind.key)) {
            for companion in kind.companion_keys {
                if rule.take(companion).is_some() {
                    errors.add(
                        rule.path_of(companion),
                        format!("is only allowed together with {}", kind.key),
                    );
                }
            }
        }
        let mut parsed: Vec<Box<dyn SignerKind>> = present
            .iter()
            .filter_map(|kind| (kind.read)(rule, errors))
            .collect();
        if errors.0.len() != before || parsed.len() != 1 {
            return None;
        }
        parsed.pop().map(Signer)
    }

    /// The settings key naming this kind, for messages.
    pub fn key(&self) -> &'static str {
        self.0.key()
    }

    pub fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        self.0.constraints()
    }

    pub fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        self.0.each_signer()
    }

    pub fn follow_up<'a>(&'a self, constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        self.0.follow_up(constraint)
    }

    pub fn is_keyless(&self) -> bool {
        self.0.is_keyless()
    }

    pub fn check_at_deploy(&self, rule_path: &str, errors: &mut SettingsErrors) {
        self.0.check_at_deploy(rule_path, errors);
    }

    pub fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool {
        self.0.one_signature_satisfies_both(earlier, later)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_rule_key_belongs_to_one_kind() {
        let keys: Vec<&str> = signer_rule_keys().collect();
        let distinct: HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(keys.len(), distinct.len(), "{keys:?}");
        assert!(!keys.contains(&"image") && !keys.contains(&"annotations"));
    }
}
