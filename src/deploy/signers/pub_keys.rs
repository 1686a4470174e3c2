//! `pubKeys`: the image must be signed by every listed public key (or `minimumMatches` of them).

use serde_json::Value;

use super::{SignerKind, ValueSigner};
use crate::deploy::pem_material::{decode_public_key, same_public_key};
use crate::deploy::strict_fields::{list, string, SettingsErrors};
use crate::host::SignerConstraint;

#[derive(Debug, Clone)]
pub struct PubKeys {
    keys: Vec<String>,
}

impl ValueSigner for PubKeys {
    const KEY: &'static str = "pubKeys";
    const FORM_NAME: &'static str = "PublicKey";
    const INNER_KEYS: &'static [&'static str] = &[];

    fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        let keys = list(value, path, errors, |v, p, e| {
            let pem = string(v, p, e)?;
            match decode_public_key(&pem) {
                Ok(_) => Some(pem),
                Err(problem) => {
                    e.add(p, problem);
                    None
                }
            }
        })?;
        Some(PubKeys { keys })
    }
}

impl SignerKind for PubKeys {
    fn key(&self) -> &'static str {
        Self::KEY
    }

    fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        vec![SignerConstraint::PubKeys(&self.keys)]
    }

    fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        Some(
            self.keys
                .iter()
                .map(|key| SignerConstraint::PubKeys(std::slice::from_ref(key)))
                .collect(),
        )
    }

    /// The same key, however its PEM is wrapped.
    fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool {
        same_public_key(&self.keys[earlier], &self.keys[later])
    }
}
