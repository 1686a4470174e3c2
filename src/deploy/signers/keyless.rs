//! `keyless`: a Fulcio certificate with exactly this OIDC issuer and subject signed the image.

use serde_json::Value;

use super::{FollowUp, SignerKind, ValueSigner};
use crate::deploy::signers::certificate_identity::IdentityMatch;
use crate::deploy::strict_fields::{list, string, Fields, SettingsErrors};
use crate::host::{KeylessIdentity, SignerConstraint};

#[derive(Debug, Clone)]
pub struct Keyless {
    identities: Vec<KeylessIdentity>,
}

impl ValueSigner for Keyless {
    const KEY: &'static str = "keyless";
    const FORM_NAME: &'static str = "Keyless";
    const INNER_KEYS: &'static [&'static str] = &["issuer", "subject"];

    fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        let identities = list(value, path, errors, |v, p, e| {
            let mut fields = Fields::of(v, p, e)?;
            let issuer = required_string(&mut fields, "issuer", e);
            let subject = required_string(&mut fields, "subject", e);
            fields.finish(Self::INNER_KEYS, e);
            Some(KeylessIdentity {
                issuer: issuer?,
                subject: subject?,
            })
        })?;
        Some(Keyless { identities })
    }
}

impl SignerKind for Keyless {
    fn key(&self) -> &'static str {
        Self::KEY
    }

    fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        vec![SignerConstraint::Keyless(&self.identities)]
    }

    fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        Some(
            self.identities
                .iter()
                .map(|identity| SignerConstraint::Keyless(std::slice::from_ref(identity)))
                .collect(),
        )
    }

    /// The same issuer and subject.
    fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool {
        self.identities[earlier] == self.identities[later]
    }

    fn follow_up<'a>(&'a self, constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        match *constraint {
            SignerConstraint::Keyless(identities) => Some(FollowUp::KeylessSigners(
                identities.iter().map(IdentityMatch::Exact).collect(),
            )),
            _ => None,
        }
    }

    fn is_keyless(&self) -> bool {
        true
    }
}

pub(crate) fn required_string(
    fields: &mut Fields<'_>,
    key: &str,
    errors: &mut SettingsErrors,
) -> Option<String> {
    match fields.take(key) {
        Some(v) => string(v, &fields.path_of(key), errors),
        None => {
            errors.add(fields.path_of(key), "is required");
            None
        }
    }
}
