//! Turns a policy's `v2/verify` request (the SDK's
//! `SigstoreVerificationInputV2`) into a verification plan: the image and the
//! signer requirements that must all be met, each with a readable name.

use std::collections::BTreeMap;

use sigstore::cosign::verification_constraint::{
    AnnotationVerifier, CertificateVerifier, PublicKeyVerifier, VerificationConstraint,
};
use sigstore::registry::{Certificate, CertificateEncoding};

use super::verification_constraint::{
    AllOnSameLayerVerifier, CertSubjectUrlPrefixVerifier, CertSubjectVerifier,
    GithubActionsRepositoryVerifier, RekorLoggedSignerVerifier, GITHUB_ACTIONS_ISSUER,
};

use kubewarden_policy_sdk::host_capabilities::verification::{KeylessInfo, KeylessPrefixInfo};
pub use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2 as VerifyRequest;

type Annotations = Option<BTreeMap<String, String>>;

/// One signer that must have signed the image.
#[derive(Debug)]
pub struct SignerRequirement {
    /// How the requirement reads in an error, e.g. `pub_keys[1]`.
    pub name: String,
    pub constraint: Box<dyn VerificationConstraint>,
    /// Annotations must be on the same signature: cosign v3 bundles carry none.
    pub wants_annotations: bool,
}

/// What to check for one image.
#[derive(Debug)]
pub struct SignerDemands {
    pub image: String,
    /// All must be satisfied, each by some signature layer.
    pub requirements: Vec<SignerRequirement>,
    /// Why this plan cannot be checked without a Sigstore trust root
    /// (Fulcio CA and Rekor keys), if it cannot.
    pub needs_trust_root: Option<&'static str>,
}

/// Builds the plan for a policy's `v2/verify` request, or says which part of it is unusable.
pub fn plan(request: VerifyRequest) -> Result<SignerDemands, String> {
    match request {
        VerifyRequest::SigstorePubKeyVerify {
            image,
            pub_keys,
            annotations,
        } => pub_keys_plan(image, &pub_keys, &annotations),
        VerifyRequest::SigstoreKeylessVerify {
            image,
            keyless,
            annotations,
        } => keyless_identities_plan(image, &keyless, &annotations),
        VerifyRequest::SigstoreKeylessPrefixVerify {
            image,
            keyless_prefix,
            annotations,
        } => keyless_prefixes_plan(image, &keyless_prefix, &annotations),
        VerifyRequest::SigstoreGithubActionsVerify {
            image,
            owner,
            repo,
            annotations,
        } => github_actions_plan(image, owner, repo, &annotations),
        VerifyRequest::SigstoreCertificateVerify {
            image,
            certificate,
            certificate_chain,
            require_rekor_bundle,
            annotations,
        } => certificate_plan(
            image,
            &certificate,
            certificate_chain,
            require_rekor_bundle,
            &annotations,
        ),
    }
}

/// Every listed public key must have signed.
fn pub_keys_plan(
    image: String,
    pub_keys: &[String],
    annotations: &Annotations,
) -> Result<SignerDemands, String> {
    let requirements = non_empty(pub_keys, "pub_keys")?
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            let verifier = PublicKeyVerifier::try_from(pem.as_bytes())
                .map_err(|e| format!("pub_keys[{i}] is not a usable public key: {e}"))?;
            Ok(requirement(
                format!("public key pub_keys[{i}]"),
                verifier,
                annotations,
            ))
        })
        .collect::<Result<_, String>>()?;
    Ok(SignerDemands {
        image,
        requirements,
        needs_trust_root: None,
    })
}

/// Every listed keyless identity (issuer and exact subject) must have signed.
fn keyless_identities_plan(
    image: String,
    keyless: &[KeylessInfo],
    annotations: &Annotations,
) -> Result<SignerDemands, String> {
    let requirements = non_empty(keyless, "keyless")?
        .iter()
        .map(|k| {
            requirement(
                format!("keyless signer issuer={} subject={}", k.issuer, k.subject),
                CertSubjectVerifier {
                    issuer: k.issuer.clone(),
                    subject: k.subject.clone(),
                },
                annotations,
            )
        })
        .collect();
    Ok(keyless_plan(image, requirements))
}

/// For every listed prefix, a keyless signer whose URI subject lives under it must have signed.
fn keyless_prefixes_plan(
    image: String,
    keyless_prefix: &[KeylessPrefixInfo],
    annotations: &Annotations,
) -> Result<SignerDemands, String> {
    let requirements = non_empty(keyless_prefix, "keyless_prefix")?
        .iter()
        .map(|k| {
            let constraint = CertSubjectUrlPrefixVerifier::new(k.issuer.clone(), &k.url_prefix);
            requirement(
                format!(
                    "keyless signer issuer={} subject under {}",
                    k.issuer,
                    constraint.prefix()
                ),
                constraint,
                annotations,
            )
        })
        .collect();
    Ok(keyless_plan(image, requirements))
}

/// A GitHub Actions workflow of `owner` (and `repo`, when given) must have signed.
fn github_actions_plan(
    image: String,
    owner: String,
    repo: Option<String>,
    annotations: &Annotations,
) -> Result<SignerDemands, String> {
    if owner.is_empty() {
        return Err("owner must not be empty".to_string());
    }
    let name = match &repo {
        Some(repo) => {
            format!("GitHub Actions of {owner}/{repo} ({GITHUB_ACTIONS_ISSUER})")
        }
        None => format!("GitHub Actions of owner {owner} ({GITHUB_ACTIONS_ISSUER})"),
    };
    let requirements = vec![requirement(
        name,
        GithubActionsRepositoryVerifier { owner, repo },
        annotations,
    )];
    Ok(keyless_plan(image, requirements))
}

/// The given certificate (chaining to `certificate_chain`, when given) must have signed, with
/// a Rekor bundle logging it when `require_rekor_bundle`.
fn certificate_plan(
    image: String,
    certificate: &[u8],
    certificate_chain: Option<Vec<Vec<u8>>>,
    require_rekor_bundle: bool,
    annotations: &Annotations,
) -> Result<SignerDemands, String> {
    let chain: Option<Vec<Certificate>> = certificate_chain.map(|certs| {
        certs
            .into_iter()
            .map(|data| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            })
            .collect()
    });
    // Checks the key usage, SAN, current validity and, when a
    // chain is given, that the certificate chains to it.
    let verifier =
        CertificateVerifier::from_pem(certificate, require_rekor_bundle, chain.as_deref())
            .map_err(|e| format!("certificate is not usable: {e}"))?;
    let requirement = if require_rekor_bundle {
        // The crate only checks that some bundle is present; demand that it logs
        // this certificate's signature.
        let logged = AllOnSameLayerVerifier(vec![
            Box::new(verifier),
            Box::new(RekorLoggedSignerVerifier::certificate(certificate)?),
        ]);
        requirement(
            "the given certificate, with a Rekor bundle".to_string(),
            logged,
            annotations,
        )
    } else {
        requirement("the given certificate".to_string(), verifier, annotations)
    };
    Ok(SignerDemands {
        image,
        requirements: vec![requirement],
        needs_trust_root: require_rekor_bundle
            .then_some("a Rekor bundle cannot be verified without transparency log keys"),
    })
}

fn non_empty<'a, T>(items: &'a [T], field: &str) -> Result<&'a [T], String> {
    // An empty signer list would be satisfied vacuously: refuse it.
    if items.is_empty() {
        Err(format!("{field} must list at least one signer"))
    } else {
        Ok(items)
    }
}

fn keyless_plan(image: String, requirements: Vec<SignerRequirement>) -> SignerDemands {
    SignerDemands {
        image,
        requirements,
        needs_trust_root: Some(
            "keyless signatures are only trusted through a Fulcio CA and Rekor keys",
        ),
    }
}

fn requirement(
    name: String,
    signer: impl VerificationConstraint + 'static,
    annotations: &Annotations,
) -> SignerRequirement {
    match annotations.as_ref().filter(|a| !a.is_empty()) {
        None => SignerRequirement {
            name,
            constraint: Box::new(signer),
            wants_annotations: false,
        },
        Some(annotations) => {
            let listed: Vec<String> = annotations
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            SignerRequirement {
                name: format!("{name} with annotations {}", listed.join(",")),
                constraint: Box::new(AllOnSameLayerVerifier(vec![
                    Box::new(signer),
                    Box::new(AnnotationVerifier {
                        annotations: annotations.clone(),
                    }),
                ])),
                wants_annotations: true,
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn plan(value: serde_json::Value) -> Result<SignerDemands, String> {
        super::plan(serde_json::from_value::<VerifyRequest>(value).map_err(|e| e.to_string())?)
    }

    /// A fresh P-256 public key in PEM, for tests that need a well-formed key.
    pub(crate) fn public_key_pem() -> String {
        let group =
            openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::ec::EcKey::generate(&group).unwrap();
        String::from_utf8(
            openssl::pkey::PKey::from_ec_key(key)
                .unwrap()
                .public_key_to_pem()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn pub_key_request_has_one_requirement_per_key() {
        let plan = plan(json!({"type": "SigstorePubKeyVerify", "image": "r/app:1",
            "pub_keys": [public_key_pem(), public_key_pem()], "annotations": {"env": "prod"}}))
        .unwrap();
        assert_eq!(plan.image, "r/app:1");
        assert!(plan.needs_trust_root.is_none());
        let names: Vec<_> = plan.requirements.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "public key pub_keys[0] with annotations env=prod",
                "public key pub_keys[1] with annotations env=prod"
            ]
        );
    }

    #[test]
    fn keyless_kinds_need_a_trust_root() {
        let requests = [
            json!({"type": "SigstoreKeylessVerify", "image": "i", "keyless": [{"issuer": "https://idp", "subject": "a@b"}], "annotations": null}),
            json!({"type": "SigstoreKeylessPrefixVerify", "image": "i", "keyless_prefix": [{"issuer": "https://idp", "url_prefix": "https://gh/acme"}]}),
            json!({"type": "SigstoreGithubActionsVerify", "image": "i", "owner": "acme", "repo": null}),
        ];
        for request in requests {
            assert!(plan(request).unwrap().needs_trust_root.is_some());
        }
    }

    #[test]
    fn prefix_requirement_names_the_slash_terminated_prefix() {
        let plan = plan(json!({"type": "SigstoreKeylessPrefixVerify", "image": "i",
            "keyless_prefix": [{"issuer": "https://idp", "url_prefix": "https://gh/acme"}]}))
        .unwrap();
        assert_eq!(
            plan.requirements[0].name,
            "keyless signer issuer=https://idp subject under https://gh/acme/"
        );
    }

    #[test]
    fn unusable_requests_are_refused_with_the_field() {
        let cases = [
            (
                json!({"type": "SigstorePubKeyVerify", "image": "i", "pub_keys": []}),
                "pub_keys must list",
            ),
            (
                json!({"type": "SigstorePubKeyVerify", "image": "i", "pub_keys": ["nope"]}),
                "pub_keys[0] is not a usable public key",
            ),
            (
                json!({"type": "SigstoreKeylessVerify", "image": "i", "keyless": []}),
                "keyless must list",
            ),
            (
                json!({"type": "SigstoreGithubActionsVerify", "image": "i", "owner": ""}),
                "owner must not be empty",
            ),
            (
                json!({"type": "SigstoreCertificateVerify", "image": "i", "certificate": [1, 2],
                    "certificate_chain": null, "require_rekor_bundle": true}),
                "certificate is not usable",
            ),
            (
                json!({"type": "SigstoreUnknown", "image": "i"}),
                "unknown variant",
            ),
        ];
        for (request, expected) in cases {
            let err = plan(request).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}
