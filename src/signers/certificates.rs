//! `certificates`: the image must be signed with the key of every listed certificate; an
//! optional `certificateChain` vouches for them and `requireRekorBundle` demands transparency-log
//! proof that the signature was made while the certificate was valid.

use serde_json::Value;

use super::{FollowUp, Registration, SignerKind};
use crate::host::{SignerCheck, SigstoreHost};
use crate::pem_material::decode_certificate;
use crate::strict_fields::{boolean, item, list, string, Fields, SettingsErrors};

#[derive(Debug, Clone)]
pub struct Certificates {
    certificates: Vec<String>,
    chain: Option<Vec<String>>,
    require_rekor_bundle: bool,
}

impl Certificates {
    pub const KEY: &'static str = "certificates";
    pub const CHAIN_KEY: &'static str = "certificateChain";
    pub const REKOR_KEY: &'static str = "requireRekorBundle";
    pub const REGISTRATION: Registration = Registration {
        key: Self::KEY,
        inner_keys: &[],
        companion_keys: &[Self::CHAIN_KEY, Self::REKOR_KEY],
        read: Self::read,
    };

    fn read(rule: &mut Fields<'_>, errors: &mut SettingsErrors) -> Option<Box<dyn SignerKind>> {
        Self::parse(rule, errors).map(|signer| Box::new(signer) as Box<dyn SignerKind>)
    }

    /// Reads `certificates` and its sibling keys from the rule.
    pub fn parse(rule: &mut Fields<'_>, errors: &mut SettingsErrors) -> Option<Self> {
        let certificates = rule
            .take(Self::KEY)
            .and_then(|v| list(v, &rule.path_of(Self::KEY), errors, pem_certificate));
        let chain_given = rule.has(Self::CHAIN_KEY);
        let chain = rule
            .take(Self::CHAIN_KEY)
            .and_then(|v| list(v, &rule.path_of(Self::CHAIN_KEY), errors, pem_certificate));
        // Secure by default: without a bundle nothing proves when the signature was made.
        let require_rekor_bundle = match rule.take(Self::REKOR_KEY) {
            Some(v) => boolean(v, &rule.path_of(Self::REKOR_KEY), errors),
            None => Some(true),
        };
        if chain_given && chain.is_none() {
            return None;
        }
        Some(Certificates {
            certificates: certificates?,
            chain,
            require_rekor_bundle: require_rekor_bundle?,
        })
    }
}

impl SignerKind for Certificates {
    fn key(&self) -> &'static str {
        Self::KEY
    }

    fn checks(&self) -> Vec<SignerCheck<'_>> {
        self.certificates
            .iter()
            .map(|certificate| SignerCheck::Certificate {
                certificate,
                chain: self.chain.as_deref(),
                require_rekor_bundle: self.require_rekor_bundle,
            })
            .collect()
    }

    /// Already one host call per certificate.
    fn each_signer(&self) -> Option<Vec<SignerCheck<'_>>> {
        Some(self.checks())
    }

    /// Hosts let the annotations sit on a layer the certificate never signed, and accept a
    /// Rekor bundle copied from another signature.
    fn follow_up<'a>(&'a self, check: &SignerCheck<'a>) -> Option<FollowUp<'a>> {
        match *check {
            SignerCheck::Certificate {
                certificate,
                require_rekor_bundle,
                ..
            } => Some(FollowUp::Certificate {
                certificate_pem: certificate,
                require_rekor_bundle,
            }),
            _ => None,
        }
    }

    /// Asks the host whether each certificate is trusted by the configured chain, so that a
    /// certificate the chain does not vouch for is refused when the policy is deployed.
    fn check_trust(&self, rule_path: &str, host: &dyn SigstoreHost, errors: &mut SettingsErrors) {
        let Some(chain) = &self.chain else { return };
        for (i, certificate) in self.certificates.iter().enumerate() {
            if let Err(reason) = host.certificate_trusted(certificate, chain, None) {
                errors.add(
                    item(&format!("{rule_path}.{}", Self::KEY), i),
                    format!("not trusted by {}: {reason}", Self::CHAIN_KEY),
                );
            }
        }
    }
}

pub(crate) fn pem_certificate(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
) -> Option<String> {
    let pem = string(value, path, errors)?;
    match decode_certificate(&pem) {
        Ok(_) => Some(pem),
        Err(problem) => {
            errors.add(path, problem);
            None
        }
    }
}
