//! The verification plan: every distinct (image, rule) pair of a request, verified once however
//! many containers share it, and the digest each verification vouches for.

use crate::host::{SigstoreHost, VerificationRequest};
use crate::image_ref::is_well_formed_digest;
use crate::settings::SignatureRule;

/// The outcome of checking one normalised image against one rule.
pub type RuleOutcome = Result<String, String>;

/// Distinct (normalised image, rule index) pairs in first-seen order, so host calls and
/// messages come out in a stable order.
#[derive(Debug, Default)]
pub struct VerificationPlan {
    pairs: Vec<(String, usize)>,
}

impl VerificationPlan {
    /// Adds a pair unless present; returns its position.
    pub fn add(&mut self, image: &str, rule: usize) -> usize {
        if let Some(i) = self
            .pairs
            .iter()
            .position(|(im, r)| im == image && *r == rule)
        {
            return i;
        }
        self.pairs.push((image.to_string(), rule));
        self.pairs.len() - 1
    }

    /// Runs every pair against the host; outcomes share the pairs' positions.
    pub fn run(&self, rules: &[SignatureRule], host: &dyn SigstoreHost) -> Vec<RuleOutcome> {
        self.pairs
            .iter()
            .map(|(image, rule)| verify_rule(image, &rules[*rule], host))
            .collect()
    }
}

/// All host checks of the rule must pass and agree on one well-formed digest; anything else,
/// including a host error, means "not verified".
fn verify_rule(image: &str, rule: &SignatureRule, host: &dyn SigstoreHost) -> RuleOutcome {
    let mut verified: Option<String> = None;
    for check in rule.signer.checks() {
        let request = VerificationRequest {
            image,
            check,
            annotations: rule.annotations.as_ref(),
        };
        let digest = host.verify(&request)?;
        if !is_well_formed_digest(&digest) {
            return Err(format!("host answered with a malformed digest {digest:?}"));
        }
        match &verified {
            Some(previous) if *previous != digest => {
                return Err(format!(
                    "verifications disagree on the digest ({previous} then {digest}); the tag moved while it was checked"
                ))
            }
            _ => verified = Some(digest),
        }
    }
    verified.ok_or_else(|| "rule has no signer checks".to_string())
}
