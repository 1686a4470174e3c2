//! `githubActions`: signed keylessly by a GitHub Actions workflow of this owner (and repository).

use serde_json::Value;

use super::keyless::required_string;
use super::{FollowUp, SignerKind, ValueSigner};
use crate::deploy::signers::certificate_identity::IdentityMatch;
use crate::deploy::strict_fields::{string, Fields, SettingsErrors};
use crate::host::SignerConstraint;

#[derive(Debug, Clone)]
pub struct GithubActions {
    owner: String,
    repo: Option<String>,
}

impl ValueSigner for GithubActions {
    const KEY: &'static str = "githubActions";
    const FORM_NAME: &'static str = "GithubAction";
    const INNER_KEYS: &'static [&'static str] = &["owner", "repo"];

    fn parse(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        let mut fields = Fields::of(value, path, errors)?;
        let owner = required_string(&mut fields, "owner", errors).and_then(|owner| {
            checked(owner, is_valid_owner, &fields.path_of("owner"), errors,
                "is not a valid GitHub user or organisation name (letters, digits and single inner hyphens, at most 39)")
        });
        // The settings form sends an empty repository for "any" (Rancher keeps empty strings
        // inside list items): the same as leaving it out.
        let repo_value = fields.take("repo").filter(|v| v.as_str() != Some(""));
        let repo_given = repo_value.is_some();
        let repo = repo_value.and_then(|v| {
            let path = fields.path_of("repo");
            let repo = string(v, &path, errors)?;
            checked(repo, is_valid_repo, &path, errors,
                "is not a valid GitHub repository name (letters, digits, '.', '-', '_', at most 100)")
        });
        fields.finish(Self::INNER_KEYS, errors);
        let owner = owner?;
        if repo_given && repo.is_none() {
            return None;
        }
        Some(GithubActions { owner, repo })
    }
}

impl SignerKind for GithubActions {
    fn key(&self) -> &'static str {
        Self::KEY
    }

    /// One signer per rule (`each_signer` is `None`), so never two in a quorum.
    fn one_signature_satisfies_both(&self, _earlier: usize, _later: usize) -> bool {
        false
    }

    fn constraints(&self) -> Vec<SignerConstraint<'_>> {
        vec![SignerConstraint::GithubActions {
            owner: &self.owner,
            repo: self.repo.as_deref(),
        }]
    }

    fn follow_up<'a>(&'a self, constraint: &SignerConstraint<'a>) -> Option<FollowUp<'a>> {
        match *constraint {
            SignerConstraint::GithubActions { owner, repo } => {
                Some(FollowUp::KeylessSigners(vec![
                    IdentityMatch::GithubActions { owner, repo },
                ]))
            }
            _ => None,
        }
    }

    fn is_keyless(&self) -> bool {
        true
    }
}

fn checked(
    value: String,
    is_valid: fn(&str) -> bool,
    path: &str,
    errors: &mut SettingsErrors,
    problem: &str,
) -> Option<String> {
    if is_valid(&value) {
        Some(value)
    } else {
        errors.add(path, format!("{value:?} {problem}"));
        None
    }
}

fn is_valid_owner(owner: &str) -> bool {
    owner.len() <= 39
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--")
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_valid_repo(repo: &str) -> bool {
    repo.len() <= 100
        && repo != "."
        && repo != ".."
        && repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("acme", true)]
    #[case("a-c-m-e", true)]
    #[case("Acme42", true)]
    #[case("-acme", false)]
    #[case("acme-", false)]
    #[case("ac--me", false)]
    #[case("acme/app", false)]
    #[case("ac me", false)]
    #[case("a234567890123456789012345678901234567890", false)]
    fn owner_names(#[case] owner: &str, #[case] ok: bool) {
        assert_eq!(is_valid_owner(owner), ok);
    }

    #[rstest]
    #[case("app", true)]
    #[case("my_app.rs-2", true)]
    #[case(".", false)]
    #[case("..", false)]
    #[case("app/x", false)]
    #[case("app x", false)]
    fn repo_names(#[case] repo: &str, #[case] ok: bool) {
        assert_eq!(is_valid_repo(repo), ok);
    }
}
