//! `certificates`: the image must be signed with the key of every listed certificate; an
//! optional `certificateChain` vouches for them and `requireRekorBundle` demands transparency-log
//! proof that the signature was made while the certificate was valid.

use serde_json::Value;

use super::{FollowUp, Registration, SignerKind};
use x509_cert::Certificate;

use crate::deploy::pem_material::{decode_certificate, same_public_key};
use crate::deploy::strict_fields::{boolean, item, list, string, Fields, SettingsErrors};
use crate::host::SignerConstraint;

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
        form_name: "Certificate",
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

    fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        self.certificates
            .iter()
            .map(|certificate| SignerConstraint::Certificate {
                certificate,
                chain: self.chain.as_deref(),
                require_rekor_bundle: self.require_rekor_bundle,
            })
            .collect()
    }

    /// Already one host call per certificate.
    fn each_signer(&self) -> Option<Vec<SignerConstraint<'_>>> {
        Some(self.constraints())
    }

    /// Certificates for the same key.
    fn one_signature_satisfies_both(&self, earlier: usize, later: usize) -> bool {
        same_public_key(&self.certificates[earlier], &self.certificates[later])
    }

    /// Hosts let the annotations sit on a layer the certificate never signed, and accept a
    /// Rekor bundle copied from another signature.
    fn follow_up<'a>(&'a self, constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        match *constraint {
            SignerConstraint::Certificate {
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

    /// The chain must be ordered (each certificate issued by the next, the root by itself) and
    /// issue every listed certificate, checked by name: a chain that cannot vouch for them is
    /// refused when the policy is deployed. The signatures along the chain are the host's to
    /// verify, at every admission (certificate verification with the chain).
    fn check_at_deploy(&self, rule_path: &str, errors: &mut SettingsErrors) {
        let Some(chain) = &self.chain else { return };
        let decoded: Option<Vec<Certificate>> = chain
            .iter()
            .map(|pem| decode_certificate(pem).ok())
            .collect();
        let Some(chain) = decoded.filter(|chain| !chain.is_empty()) else {
            return;
        };
        let chain_path = format!("{rule_path}.{}", Self::CHAIN_KEY);
        for (i, ca) in chain.iter().enumerate() {
            let next = chain.get(i + 1).unwrap_or(ca);
            if ca.tbs_certificate().issuer() != next.tbs_certificate().subject() {
                errors.add(
                    item(&chain_path, i),
                    format!(
                        "is issued by {}, not by {} (list the chain intermediates first, root last)",
                        common_name(ca.tbs_certificate().issuer()),
                        common_name(next.tbs_certificate().subject())
                    ),
                );
            }
        }
        let issuer = chain[0].tbs_certificate().subject();
        for (i, certificate) in self.certificates.iter().enumerate() {
            let Ok(certificate) = decode_certificate(certificate) else {
                continue;
            };
            if certificate.tbs_certificate().issuer() != issuer {
                errors.add(
                    item(&format!("{rule_path}.{}", Self::KEY), i),
                    format!(
                        "not issued by {}: its issuer is {}, not {}, the first certificate of the chain",
                        Self::CHAIN_KEY,
                        common_name(certificate.tbs_certificate().issuer()),
                        common_name(issuer)
                    ),
                );
            }
        }
    }
}

/// A name for messages: its common name, quoted. (Rendering whole distinguished names would
/// link a table of every attribute type's name into the module: 60 KiB.)
fn common_name(name: &x509_cert::name::Name) -> String {
    const COMMON_NAME: spki::der::asn1::ObjectIdentifier =
        spki::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    let value = name
        .iter()
        .find(|attribute| attribute.oid == COMMON_NAME)
        .and_then(|attribute| {
            let bytes = attribute.value.value();
            std::str::from_utf8(bytes).ok().map(str::to_string)
        });
    match value {
        Some(cn) => format!("CN={cn:?}"),
        None => "a name without a common name".to_string(),
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
