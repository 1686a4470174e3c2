//! The one seam between the policy and its host: the Sigstore verifications, the certificate
//! trust check and the OCI manifest fetch, each a waPC host call through the SDK. Everything
//! above it is pure; unit tests plug in a fake host here.

use std::collections::BTreeMap;

/// A keyless signer named exactly: OIDC issuer and certificate subject (email or URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessIdentity {
    pub issuer: String,
    pub subject: String,
}

/// A keyless signer whose URI subject lies under a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessPrefixIdentity {
    pub issuer: String,
    pub url_prefix: String,
}

/// The signer constraint of one host verification call; each variant is one SDK function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerConstraint<'a> {
    PubKeys(&'a [String]),
    Keyless(&'a [KeylessIdentity]),
    KeylessPrefix(&'a [KeylessPrefixIdentity]),
    GithubActions {
        owner: &'a str,
        repo: Option<&'a str>,
    },
    Certificate {
        certificate: &'a str,
        chain: Option<&'a [String]>,
        require_rekor_bundle: bool,
    },
}

/// One question for the host: is `image` signed as `signer` demands, with these annotations on
/// the same signature?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRequest<'a> {
    /// The pulled reference (`registry/repository[:tag][@digest]`), never a coverage spelling.
    pub image: &'a str,
    pub signer: SignerConstraint<'a>,
    pub annotations: Option<&'a BTreeMap<String, String>>,
}

pub trait SigstoreHost {
    /// The digest the host verified, or why the image is not trusted.
    fn verify(&self, request: &VerificationRequest<'_>) -> Result<String, String>;

    /// Ok when `certificate` (PEM) chains to `chain` (PEM, intermediates first, root last),
    /// every certificate valid at `at` (RFC 3339; `None`: now).
    fn certificate_trusted(
        &self,
        certificate: &str,
        chain: &[String],
        at: Option<&str>,
    ) -> Result<(), String>;

    /// The manifest JSON stored at `reference`; `Ok(None)` only when the registry says there is
    /// no such manifest.
    fn oci_manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, String>;
}

/// The error text Kubewarden hosts relay from the registry for a missing manifest (the OCI
/// distribution error `MANIFEST_UNKNOWN`). Anything else is a failure, never an absence.
fn says_manifest_unknown(host_error: &str) -> bool {
    host_error.to_ascii_lowercase().contains("manifest unknown")
}

/// A host answer only counts when it says "trusted"; the digest is checked by the caller.
fn trusted_digest(
    response: kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse,
) -> Result<String, String> {
    if response.is_trusted {
        Ok(response.digest)
    } else {
        Err("the host did not find a trusted signature".to_string())
    }
}

/// The Kubewarden host, reached through the SDK's waPC host calls.
pub struct KubewardenHost;

impl SigstoreHost for KubewardenHost {
    fn verify(&self, request: &VerificationRequest<'_>) -> Result<String, String> {
        use kubewarden_policy_sdk::host_capabilities::verification as sdk;
        let image = request.image;
        let annotations = request.annotations.cloned();
        let response = match &request.signer {
            SignerConstraint::PubKeys(keys) => {
                sdk::verify_pub_keys_image(image, keys.to_vec(), annotations)
            }
            SignerConstraint::Keyless(identities) => {
                let identities = identities
                    .iter()
                    .map(|id| sdk::KeylessInfo {
                        issuer: id.issuer.clone(),
                        subject: id.subject.clone(),
                    })
                    .collect();
                sdk::verify_keyless_exact_match(image, identities, annotations)
            }
            SignerConstraint::KeylessPrefix(identities) => {
                let identities = identities
                    .iter()
                    .map(|id| sdk::KeylessPrefixInfo {
                        issuer: id.issuer.clone(),
                        url_prefix: id.url_prefix.clone(),
                    })
                    .collect();
                sdk::verify_keyless_prefix_match(image, identities, annotations)
            }
            SignerConstraint::GithubActions { owner, repo } => sdk::verify_keyless_github_actions(
                image,
                owner.to_string(),
                repo.map(str::to_string),
                annotations,
            ),
            SignerConstraint::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
            } => sdk::verify_certificate(
                image,
                certificate.to_string(),
                chain.map(<[String]>::to_vec),
                *require_rekor_bundle,
                annotations,
            ),
        }
        .map_err(|e| e.to_string())?;
        trusted_digest(response)
    }

    fn certificate_trusted(
        &self,
        certificate: &str,
        chain: &[String],
        at: Option<&str>,
    ) -> Result<(), String> {
        use kubewarden_policy_sdk::host_capabilities::crypto::{
            verify_cert, BoolWithReason, Certificate, CertificateEncoding,
        };
        let pem = |data: &str| Certificate {
            encoding: CertificateEncoding::Pem,
            data: data.as_bytes().to_vec(),
        };
        let chain = chain.iter().map(|c| pem(c)).collect();
        match verify_cert(pem(certificate), Some(chain), at.map(str::to_string)) {
            Ok(BoolWithReason::True) => Ok(()),
            Ok(BoolWithReason::False(reason)) => Err(reason),
            Err(e) => Err(format!("host could not check the certificate: {e}")),
        }
    }

    fn oci_manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, String> {
        let request = serde_json::to_vec(reference).map_err(|e| e.to_string())?;
        match wapc_guest::host_call("kubewarden", "oci", "v1/oci_manifest", &request) {
            Ok(manifest) => Ok(Some(manifest)),
            Err(e) if says_manifest_unknown(&e.to_string()) => Ok(None),
            Err(e) => Err(format!("the host could not read {reference}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubewarden_policy_sdk::host_capabilities::verification::VerificationResponse;

    #[test]
    fn an_untrusted_answer_is_not_a_digest_even_when_it_carries_one() {
        let digest =
            "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string();
        let untrusted = VerificationResponse {
            is_trusted: false,
            digest: digest.clone(),
        };
        assert_eq!(
            trusted_digest(untrusted),
            Err("the host did not find a trusted signature".to_string())
        );
        let trusted = VerificationResponse {
            is_trusted: true,
            digest: digest.clone(),
        };
        assert_eq!(trusted_digest(trusted), Ok(digest));
    }

    #[test]
    fn only_a_missing_manifest_is_an_absence() {
        let kwctl = "Registry error: url http://127.0.0.1:5000/v2/app/manifests/sha256-1.sig, envelope: OCI API errors: [OCI API error: manifest unknown]";
        assert!(says_manifest_unknown(kwctl));
        for other in [
            "error sending request for url (http://127.0.0.1:5000/v2/)",
            "OCI API error: unauthorized",
            "",
        ] {
            assert!(!says_manifest_unknown(other), "{other}");
        }
    }

    #[test]
    fn host_calls_fail_closed_outside_a_wasm_host() {
        assert!(KubewardenHost.oci_manifest("r/app:sha256-1.sig").is_err());
        // Natively there is no waPC host: the SDK call errors, which must mean "not trusted".
        let keys = ["k".to_string()];
        let request = VerificationRequest {
            image: "docker.io/library/nginx:latest",
            signer: SignerConstraint::PubKeys(&keys),
            annotations: None,
        };
        assert!(KubewardenHost.verify(&request).is_err());
    }
}
