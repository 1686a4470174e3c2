//! `keyless`: a Fulcio certificate with exactly this OIDC issuer and subject signed the image.

use kubewarden_policy_sdk::host_capabilities::verification::KeylessInfo;
use serde_json::Value;

use crate::host::SignerCheck;
use crate::settings::fields::{list, string, Fields, SettingsErrors};

#[derive(Debug, Clone)]
pub struct Keyless {
    identities: Vec<KeylessInfo>,
}

impl Keyless {
    pub const KEY: &'static str = "keyless";

    pub fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        let identities = list(value, path, errors, |v, p, e| {
            let mut fields = Fields::of(v, p, e)?;
            let issuer = required_string(&mut fields, "issuer", e);
            let subject = required_string(&mut fields, "subject", e);
            fields.finish(&["issuer", "subject"], e);
            Some(KeylessInfo {
                issuer: issuer?,
                subject: subject?,
            })
        })?;
        Some(Keyless { identities })
    }

    pub fn checks(&self) -> Vec<SignerCheck<'_>> {
        vec![SignerCheck::Keyless(&self.identities)]
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
