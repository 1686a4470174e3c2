//! Who a Fulcio certificate says signed: the OIDC issuer, the SAN subject and the GitHub
//! workflow repository, read the way Kubewarden hosts read them, and matched against a rule's
//! identities the way they match them. This only chooses which certificate to ask the host
//! about; whether the certificate is Fulcio's and made the signature is the host's to answer.

use spki::der::asn1::{ObjectIdentifier, Utf8StringRef};
use spki::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::deploy::pem_material::certificate_public_key_pem;
use crate::host::{KeylessIdentity, KeylessPrefixIdentity};

/// Fulcio's OIDC issuer extension (v1): the issuer URL's raw bytes, not DER.
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension (v2): a DER UTF8String, written beside v1 since 2023.
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's GitHub workflow repository extension (v1): raw `owner/repo` bytes. Hosts match
/// `githubActions` against this, not against the SAN.
const GITHUB_WORKFLOW_REPOSITORY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
/// The OIDC issuer of GitHub Actions workload identities.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The certificate's SAN, as the sigstore crate takes it: the first email or URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Email(String),
    Uri(String),
}

impl Subject {
    fn text(&self) -> &str {
        match self {
            Subject::Email(s) | Subject::Uri(s) => s,
        }
    }
}

/// What a signing certificate claims, with what the host must be asked about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// `None` when absent, or when the two issuer extensions disagree.
    pub issuer: Option<String>,
    pub subject: Option<Subject>,
    pub workflow_repository: Option<String>,
    /// RFC 3339: the time at which the host checks the chain (Fulcio certificates live ten
    /// minutes, so "now" would refuse every signature older than that).
    pub not_before: String,
    /// PEM `PUBLIC KEY` of the certificate's key, for the host's key-and-annotations check.
    pub public_key_pem: String,
}

impl CertificateIdentity {
    pub fn read(certificate: &Certificate) -> Result<Self, String> {
        let tbs = certificate.tbs_certificate();
        let issuer = match (
            raw_extension(certificate, ISSUER_V1)?,
            der_extension(certificate, ISSUER_V2)?,
        ) {
            (Some(v1), Some(v2)) if v1 != v2 => None,
            (v1, v2) => v1.or(v2),
        };
        let public_key_pem = certificate_public_key_pem(certificate)?;
        Ok(CertificateIdentity {
            issuer,
            subject: subject(certificate)?,
            workflow_repository: raw_extension(certificate, GITHUB_WORKFLOW_REPOSITORY)?,
            not_before: tbs.validity().not_before.to_date_time().to_string(),
            public_key_pem,
        })
    }

    fn has_issuer(&self, issuer: &str) -> bool {
        self.issuer.as_deref() == Some(issuer)
    }
}

/// The signer a keyless rule (one entry of it) names, as a test on certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatch<'a> {
    Exact(&'a KeylessIdentity),
    /// `url_prefix` always ends with `/`: see [`IdentityMatch::prefix`].
    Prefix {
        issuer: &'a str,
        url_prefix: String,
    },
    GithubActions {
        owner: &'a str,
        repo: Option<&'a str>,
    },
}

impl<'a> IdentityMatch<'a> {
    /// Hosts parse the prefix as a URL (lower-case scheme and host, no default port) and add a
    /// `/` when missing, so `https://github.com/acme` never admits `…/acme-evil/…`.
    pub fn prefix(identity: &'a KeylessPrefixIdentity) -> Self {
        let written = identity.url_prefix.as_str();
        let (scheme_and_host, path) = match written.find("://") {
            Some(i) => match written[i + 3..].find('/') {
                Some(j) => written.split_at(i + 3 + j),
                None => (written, ""),
            },
            None => (written, ""),
        };
        let mut url_prefix = scheme_and_host.to_ascii_lowercase();
        if let Some(host) = url_prefix.strip_suffix(":443") {
            url_prefix = host.to_string();
        }
        url_prefix.push_str(path);
        if !url_prefix.ends_with('/') {
            url_prefix.push('/');
        }
        IdentityMatch::Prefix {
            issuer: &identity.issuer,
            url_prefix,
        }
    }

    pub fn matches(&self, certificate: &CertificateIdentity) -> bool {
        let Some(subject) = &certificate.subject else {
            return false;
        };
        match self {
            IdentityMatch::Exact(identity) => {
                certificate.has_issuer(&identity.issuer) && subject.text() == identity.subject
            }
            IdentityMatch::Prefix { issuer, url_prefix } => {
                certificate.has_issuer(issuer) && subject.text().starts_with(url_prefix.as_str())
            }
            IdentityMatch::GithubActions { owner, repo } => {
                let from_github =
                    matches!(subject, Subject::Uri(uri) if uri.starts_with("https://github.com/"));
                let repository = certificate.workflow_repository.as_deref().unwrap_or("");
                // Whole path segments: owner `acme` must not match `acme-evil/app`.
                let in_repository = repository.split_once('/').is_some_and(|(o, r)| {
                    o == *owner && !r.is_empty() && !r.contains('/') && repo.is_none_or(|w| w == r)
                });
                certificate.has_issuer(GITHUB_ACTIONS_ISSUER) && from_github && in_repository
            }
        }
    }

    /// The identity in the words of the settings, for messages.
    pub fn describe(&self) -> String {
        match self {
            IdentityMatch::Exact(identity) => {
                format!("{} from {}", identity.subject, identity.issuer)
            }
            IdentityMatch::Prefix { issuer, url_prefix } => {
                format!("a subject under {url_prefix} from {issuer}")
            }
            IdentityMatch::GithubActions { owner, repo: None } => {
                format!("a GitHub Actions workflow of {owner}")
            }
            IdentityMatch::GithubActions {
                owner,
                repo: Some(repo),
            } => format!("a GitHub Actions workflow of {owner}/{repo}"),
        }
    }
}

fn extension_value(certificate: &Certificate, oid: ObjectIdentifier) -> Option<&[u8]> {
    certificate
        .tbs_certificate()
        .extensions()?
        .iter()
        .find(|extension| extension.extn_id == oid)
        .map(|extension| extension.extn_value.as_bytes())
}

/// A v1 Fulcio extension: the value's bytes are the text.
fn raw_extension(
    certificate: &Certificate,
    oid: ObjectIdentifier,
) -> Result<Option<String>, String> {
    extension_value(certificate, oid)
        .map(|bytes| {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| format!("its extension {oid} is not UTF-8 text"))
        })
        .transpose()
}

/// A v2 Fulcio extension: the value is a DER UTF8String.
fn der_extension(
    certificate: &Certificate,
    oid: ObjectIdentifier,
) -> Result<Option<String>, String> {
    extension_value(certificate, oid)
        .map(|bytes| {
            Utf8StringRef::from_der(bytes)
                .map(|text| text.as_str().to_string())
                .map_err(|e| format!("its extension {oid} is not a DER UTF8String: {e}"))
        })
        .transpose()
}

/// The first email or URI of the SAN: the one the sigstore crate compares.
fn subject(certificate: &Certificate) -> Result<Option<Subject>, String> {
    let san = certificate
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|e| format!("its subject alternative name is malformed: {e}"))?;
    let Some((_, SubjectAltName(names))) = san else {
        return Ok(None);
    };
    Ok(names.into_iter().find_map(|name| match name {
        GeneralName::Rfc822Name(email) => Some(Subject::Email(email.to_string())),
        GeneralName::UniformResourceIdentifier(uri) => Some(Subject::Uri(uri.to_string())),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::pem_material::decode_certificate;
    use crate::test_pki::{CertificateSpec, TestKey};
    use rstest::rstest;

    fn identity_of(spec: CertificateSpec) -> CertificateIdentity {
        let pem = TestKey::p256().fulcio_certificate_pem(&spec);
        CertificateIdentity::read(&decode_certificate(&pem).unwrap()).unwrap()
    }

    #[rstest]
    #[case::v1_only(Some("https://idp"), None, Some("https://idp"))]
    #[case::v2_only(None, Some("https://idp"), Some("https://idp"))]
    #[case::both_agree(Some("https://idp"), Some("https://idp"), Some("https://idp"))]
    #[case::both_disagree(Some("https://idp"), Some("https://evil"), None)]
    #[case::neither(None, None, None)]
    fn the_issuer_is_read_from_either_extension(
        #[case] v1: Option<&'static str>,
        #[case] v2: Option<&'static str>,
        #[case] expected: Option<&str>,
    ) {
        let identity = identity_of(CertificateSpec {
            issuer_v1: v1,
            issuer_v2: v2,
            ..CertificateSpec::email("alice@example.com")
        });
        assert_eq!(identity.issuer.as_deref(), expected);
    }

    #[test]
    fn subjects_public_key_and_issuance_time_are_read() {
        let key = TestKey::p256();
        let spec = CertificateSpec {
            workflow_repository: Some("acme/app"),
            ..CertificateSpec::uri(
                "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main",
            )
        };
        let pem = key.fulcio_certificate_pem(&spec);
        let identity = CertificateIdentity::read(&decode_certificate(&pem).unwrap()).unwrap();
        assert_eq!(
            identity.subject,
            Some(Subject::Uri(
                "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main".into()
            ))
        );
        assert_eq!(identity.workflow_repository.as_deref(), Some("acme/app"));
        assert_eq!(identity.not_before, "2026-01-02T03:04:05Z");
        assert!(crate::deploy::pem_material::same_public_key(
            &identity.public_key_pem,
            &key.public_key_pem()
        ));
        let email = identity_of(CertificateSpec::email("alice@example.com"));
        assert_eq!(
            email.subject,
            Some(Subject::Email("alice@example.com".into()))
        );
        let none = identity_of(CertificateSpec {
            san: None,
            ..CertificateSpec::email("x")
        });
        assert_eq!(none.subject, None);
    }

    const ISSUER: &str = "https://idp";

    fn exact(subject: &str) -> KeylessIdentity {
        KeylessIdentity {
            issuer: ISSUER.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn exact_identities_compare_issuer_and_subject_whole() {
        let alice = exact("alice@example.com");
        let matcher = IdentityMatch::Exact(&alice);
        let cases = [
            (CertificateSpec::email("alice@example.com"), true),
            (CertificateSpec::email("alice@example.com.evil"), false),
            (CertificateSpec::uri("alice@example.com"), true),
            (
                CertificateSpec {
                    issuer_v1: Some("https://other"),
                    ..CertificateSpec::email("alice@example.com")
                },
                false,
            ),
            (
                CertificateSpec {
                    issuer_v1: None,
                    issuer_v2: Some(ISSUER),
                    ..CertificateSpec::email("alice@example.com")
                },
                true,
            ),
        ];
        for (spec, expected) in cases {
            let described = format!("{spec:?}");
            assert_eq!(matcher.matches(&identity_of(spec)), expected, "{described}");
        }
    }

    #[rstest]
    #[case("https://github.com/acme", "https://github.com/acme/app/x", true)]
    #[case("https://github.com/acme/", "https://github.com/acme/app/x", true)]
    #[case("https://github.com/acme", "https://github.com/acme-evil/app/x", false)]
    #[case("https://GitHub.com/acme", "https://github.com/acme/app/x", true)]
    #[case("https://github.com:443/acme", "https://github.com/acme/app/x", true)]
    #[case("https://github.com/Acme", "https://github.com/acme/app/x", false)]
    #[case("https://github.com", "https://github.com/acme/app/x", true)]
    fn url_prefixes_match_at_a_path_boundary_as_hosts_normalise_them(
        #[case] prefix: &str,
        #[case] subject: &str,
        #[case] expected: bool,
    ) {
        let identity = KeylessPrefixIdentity {
            issuer: ISSUER.into(),
            url_prefix: prefix.into(),
        };
        let matcher = IdentityMatch::prefix(&identity);
        assert_eq!(
            matcher.matches(&identity_of(CertificateSpec::uri(subject))),
            expected
        );
        // Hosts compare the SAN text whether it is an email or a URI; so does the policy.
        assert_eq!(
            matcher.matches(&identity_of(CertificateSpec::email(subject))),
            expected
        );
    }

    #[rstest]
    #[case(Some("acme/app"), "acme", None, true)]
    #[case(Some("acme/app"), "acme", Some("app"), true)]
    #[case(Some("acme/app"), "acme", Some("other"), false)]
    #[case(Some("acme-evil/app"), "acme", None, false)]
    #[case(Some("acme"), "acme", None, false)]
    #[case(Some("acme/app/x"), "acme", None, false)]
    #[case(None, "acme", None, false)]
    fn github_actions_match_the_workflow_repository_extension(
        #[case] repository: Option<&'static str>,
        #[case] owner: &str,
        #[case] repo: Option<&str>,
        #[case] expected: bool,
    ) {
        let spec = CertificateSpec {
            issuer_v1: Some(GITHUB_ACTIONS_ISSUER),
            workflow_repository: repository,
            ..CertificateSpec::uri(
                "https://github.com/acme/app/.github/workflows/r.yml@refs/tags/v1",
            )
        };
        let matcher = IdentityMatch::GithubActions { owner, repo };
        assert_eq!(matcher.matches(&identity_of(spec)), expected);
    }

    #[test]
    fn github_actions_need_the_github_issuer_and_a_github_uri() {
        let matcher = IdentityMatch::GithubActions {
            owner: "acme",
            repo: None,
        };
        let other_issuer = CertificateSpec {
            issuer_v1: Some("https://idp"),
            workflow_repository: Some("acme/app"),
            ..CertificateSpec::uri("https://github.com/acme/app/x")
        };
        let email = CertificateSpec {
            issuer_v1: Some(GITHUB_ACTIONS_ISSUER),
            workflow_repository: Some("acme/app"),
            ..CertificateSpec::email("acme@github.com")
        };
        assert!(!matcher.matches(&identity_of(other_issuer)));
        assert!(!matcher.matches(&identity_of(email)));
    }
}
