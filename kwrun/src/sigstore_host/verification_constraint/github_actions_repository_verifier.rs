//! [`GithubActionsRepositoryVerifier`]: a signature made by a GitHub Actions workflow of an
//! owner (and optionally one repository).

use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::verification_constraint::VerificationConstraint;
use sigstore::errors::Result;

/// The OIDC issuer of GitHub Actions workload identities.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A signature made by a GitHub Actions workflow of `owner` (and `repo`,
/// when given), as recorded in the certificate's workflow-repository
/// extension (OID 1.3.6.1.4.1.57264.1.5, `owner/repo`).
#[derive(Debug)]
pub struct GithubActionsRepositoryVerifier {
    pub owner: String,
    pub repo: Option<String>,
}

impl VerificationConstraint for GithubActionsRepositoryVerifier {
    fn verify(&self, layer: &SignatureLayer) -> Result<bool> {
        let Some(cert) = &layer.certificate_signature else {
            return Ok(false);
        };
        if cert.issuer.as_deref() != Some(GITHUB_ACTIONS_ISSUER) {
            return Ok(false);
        }
        let Some(repository) = &cert.github_workflow_repository else {
            return Ok(false);
        };
        // Compare whole path segments: owner `acme` must not match `acme-evil/x`.
        let Some((owner, repo)) = repository.split_once('/') else {
            return Ok(false);
        };
        Ok(owner == self.owner && self.repo.as_deref().is_none_or(|wanted| wanted == repo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore_host::verification_constraint::test_layer::{layer, uri};

    #[test]
    fn github_actions_compares_owner_and_optional_repo() {
        let gh = |repository: Option<&str>, issuer: &str| {
            layer(
                Some((
                    issuer,
                    uri("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"),
                    repository,
                )),
                serde_json::Value::Null,
            )
        };
        let rule = |owner: &str, repo: Option<&str>| GithubActionsRepositoryVerifier {
            owner: owner.into(),
            repo: repo.map(str::to_string),
        };
        let cases = [
            // (rule owner, rule repo, cert repository, issuer, admitted)
            ("acme", None, Some("acme/app"), GITHUB_ACTIONS_ISSUER, true),
            (
                "acme",
                Some("app"),
                Some("acme/app"),
                GITHUB_ACTIONS_ISSUER,
                true,
            ),
            (
                "acme",
                Some("other"),
                Some("acme/app"),
                GITHUB_ACTIONS_ISSUER,
                false,
            ),
            (
                "acme",
                None,
                Some("acme-evil/app"),
                GITHUB_ACTIONS_ISSUER,
                false,
            ),
            ("acm", None, Some("acme/app"), GITHUB_ACTIONS_ISSUER, false),
            ("acme", None, None, GITHUB_ACTIONS_ISSUER, false),
            (
                "acme",
                None,
                Some("acme/app"),
                "https://accounts.google.com",
                false,
            ),
        ];
        for (owner, repo, repository, issuer, admitted) in cases {
            assert_eq!(
                rule(owner, repo).verify(&gh(repository, issuer)).unwrap(),
                admitted,
                "{owner}/{repo:?} vs {repository:?} from {issuer}"
            );
        }
    }
}
