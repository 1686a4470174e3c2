//! `pubKeys`: the image must be signed by every listed public key.

use serde_json::Value;

use crate::host::SignerCheck;
use crate::pem_material::decode_public_key;
use crate::settings::fields::{list, string, SettingsErrors};

#[derive(Debug, Clone)]
pub struct PubKeys {
    keys: Vec<String>,
}

impl PubKeys {
    pub const KEY: &'static str = "pubKeys";

    pub fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
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

    pub fn checks(&self) -> Vec<SignerCheck<'_>> {
        vec![SignerCheck::PubKeys(&self.keys)]
    }
}
