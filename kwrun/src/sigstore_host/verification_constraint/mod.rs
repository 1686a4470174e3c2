//! Signer constraints the `sigstore` crate does not ship, one per file, in its
//! `VerificationConstraint` shape (and named like its own verifiers) so they run like its own.

mod all_on_same_layer_verifier;
mod cert_subject_url_prefix_verifier;
mod cert_subject_verifier;
mod github_actions_repository_verifier;
mod rekor_logged_signer_verifier;
#[cfg(test)]
pub(crate) mod test_layer;

pub use all_on_same_layer_verifier::AllOnSameLayerVerifier;
pub use cert_subject_url_prefix_verifier::CertSubjectUrlPrefixVerifier;
pub use cert_subject_verifier::CertSubjectVerifier;
pub use github_actions_repository_verifier::{
    GithubActionsRepositoryVerifier, GITHUB_ACTIONS_ISSUER,
};
pub use rekor_logged_signer_verifier::RekorLoggedSignerVerifier;
