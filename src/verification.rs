//! The verification plan: every distinct (image, rule) pair of a request, verified once however
//! many containers share it, and the digest each verification vouches for. A host's "trusted"
//! for a keyless or logged signer counts only once the policy's own proof of the signature
//! manifest holds (see `signature_proof`).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{SignerCheck, SigstoreHost, VerificationRequest};
use crate::image_ref::{Digest, ImageRef};
use crate::messages;
use crate::settings::{RuleId, Settings, SignatureRule};
use crate::signature_proof::{prove, signature_manifest_reference, ProofDemand};

/// The outcome of checking one normalised image against one rule.
pub type RuleOutcome = Result<Digest, String>;

/// One planned verification, by its place in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationId(usize);

/// One image as the plan verifies it.
#[derive(Debug, PartialEq, Eq)]
struct PlannedImage {
    /// `registry/repository[:tag][@digest]`, what the host is asked about.
    normalised: String,
    /// `registry/repository`, where its signature manifest lives.
    repository: String,
}

/// Distinct (normalised image, rule) pairs in first-seen order, so host calls and messages come
/// out in a stable order.
#[derive(Debug, Default)]
pub struct VerificationPlan {
    pairs: Vec<(PlannedImage, RuleId)>,
    index: BTreeMap<(String, RuleId), VerificationId>,
}

/// What each planned verification concluded.
#[derive(Debug)]
pub struct Outcomes(Vec<RuleOutcome>);

impl Outcomes {
    pub fn of(&self, id: VerificationId) -> &RuleOutcome {
        &self.0[id.0]
    }
}

impl VerificationPlan {
    /// Adds a pair unless present; returns its id.
    pub fn add(&mut self, image: &ImageRef, rule: RuleId) -> VerificationId {
        let normalised = image.normalised();
        let next = VerificationId(self.pairs.len());
        let id = *self.index.entry((normalised.clone(), rule)).or_insert(next);
        if id == next {
            let planned = PlannedImage {
                normalised,
                repository: image.repository_name(),
            };
            self.pairs.push((planned, rule));
        }
        id
    }

    /// Runs every pair against the host.
    pub fn run(&self, settings: &Settings, host: &dyn SigstoreHost) -> Outcomes {
        let manifests = SignatureManifests::new(host);
        Outcomes(
            self.pairs
                .iter()
                .map(|(image, rule)| verify_rule(image, settings.rule(*rule), host, &manifests))
                .collect(),
        )
    }
}

/// All host checks of the rule must pass (or, with `minimumMatches`, that many of its
/// signers), each proven where the host cannot be trusted to have, and agree on one
/// well-formed digest; anything else, including a host error, means "not verified".
fn verify_rule(
    image: &PlannedImage,
    rule: &SignatureRule,
    host: &dyn SigstoreHost,
    manifests: &SignatureManifests<'_>,
) -> RuleOutcome {
    if let (Some(minimum), Some(signers)) = (rule.minimum_matches, rule.signer.each_signer()) {
        return verify_quorum(image, rule, signers, minimum, host, manifests);
    }
    let mut verified: Option<Digest> = None;
    for check in rule.signer.checks() {
        let digest = verify_check(image, rule, check, host, manifests)?;
        agree(&mut verified, digest)?;
    }
    verified.ok_or_else(|| "rule has no signer checks".to_string())
}

/// `minimumMatches`: the signers are asked one by one, in settings order, until enough have
/// passed or too few are left to reach the quorum.
fn verify_quorum(
    image: &PlannedImage,
    rule: &SignatureRule,
    signers: Vec<SignerCheck<'_>>,
    minimum: usize,
    host: &dyn SigstoreHost,
    manifests: &SignatureManifests<'_>,
) -> RuleOutcome {
    let total = signers.len();
    let mut tally = QuorumTally::default();
    for (i, check) in signers.into_iter().enumerate() {
        let reachable = tally.passed.len() + (total - i) >= minimum;
        if tally.passed.len() >= minimum || !reachable {
            break;
        }
        match verify_check(image, rule, check, host, manifests) {
            Ok(digest) => tally.passed.push((i, digest)),
            Err(reason) => tally.failed.push((i, reason)),
        }
    }
    if tally.passed.len() < minimum {
        return Err(messages::quorum_not_met(
            rule.signer.kind(),
            minimum,
            total,
            &tally,
        ));
    }
    let mut verified = None;
    for (_, digest) in tally.passed {
        agree(&mut verified, digest)?;
    }
    verified.ok_or_else(|| "rule has no signer checks".to_string())
}

/// The signers of a `minimumMatches` rule that were asked: which passed, which failed and why.
#[derive(Debug, Default)]
pub struct QuorumTally {
    pub passed: Vec<(usize, Digest)>,
    pub failed: Vec<(usize, String)>,
}

/// One host call, and the policy's own proof where the host's answer is not enough.
fn verify_check(
    image: &PlannedImage,
    rule: &SignatureRule,
    check: SignerCheck<'_>,
    host: &dyn SigstoreHost,
    manifests: &SignatureManifests<'_>,
) -> RuleOutcome {
    let request = VerificationRequest {
        image: &image.normalised,
        check,
        annotations: rule.annotations.as_ref(),
    };
    let digest = Digest::parse(&host.verify(&request)?)?;
    if let Some(demand) = rule.signer.proof_demand(&request.check) {
        manifests
            .prove(&image.repository, &digest, demand)
            .map_err(|reason| format!("the host trusted the signature, but {reason}"))?;
    }
    Ok(digest)
}

/// Every call of one rule must vouch for the same digest.
fn agree(verified: &mut Option<Digest>, digest: Digest) -> Result<(), String> {
    match verified {
        Some(previous) if *previous != digest => Err(format!(
            "verifications disagree on the digest ({previous} then {digest}); the tag moved while it was checked"
        )),
        _ => {
            *verified = Some(digest);
            Ok(())
        }
    }
}

/// A manifest as the host answered: the bytes, no such manifest, or why it could not be read.
type ManifestAnswer = Result<Option<Vec<u8>>, String>;

/// Signature manifests read during one admission, each read once however many rules need it.
struct SignatureManifests<'h> {
    host: &'h dyn SigstoreHost,
    read: RefCell<BTreeMap<String, ManifestAnswer>>,
}

impl<'h> SignatureManifests<'h> {
    fn new(host: &'h dyn SigstoreHost) -> Self {
        Self {
            host,
            read: RefCell::new(BTreeMap::new()),
        }
    }

    fn prove(
        &self,
        repository: &str,
        digest: &Digest,
        demand: ProofDemand<'_>,
    ) -> Result<(), String> {
        let reference = signature_manifest_reference(repository, digest.as_str());
        let mut read = self.read.borrow_mut();
        let manifest = read
            .entry(reference.clone())
            .or_insert_with(|| self.host.oci_manifest(&reference));
        match manifest {
            // Classic signatures, alone or beside v3 bundles: every classic layer must hold up
            // whichever signature the host matched, since an attacker can add layers.
            Ok(Some(manifest)) => prove(manifest, demand),
            // No classic signatures: the host verified a cosign v3 bundle (an OCI referrer),
            // whose log entry it ties to the signature (sigstore 0.15, the first crate to read
            // v3; kwrun checks it again). Hosts on older crates never trust a v3-only image.
            Ok(None) => Ok(()),
            Err(e) => Err(format!("its signature manifest could not be read: {e}")),
        }
    }
}
