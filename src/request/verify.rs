//! Verify, a request's third step: every distinct (image, rule) pair of the plan, verified
//! once however many containers share it, and the digest each verification vouches for. A host's "trusted"
//! for a keyless or certificate signer counts only once the host has also answered the
//! questions it answers right: which certificate, which key, on which layer (see
//! `signature_manifest` for why, and `follow_up_on` for the questions).

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::deploy::pem_material::{certificate_public_key_pem, decode_certificate};
use crate::deploy::settings::{FulcioChain, RuleId, Settings, SignatureRule};
use crate::deploy::signers::certificate_identity::IdentityMatch;
use crate::deploy::signers::FollowUp;
use crate::host::{SignerConstraint, SigstoreHost, VerificationRequest};
use crate::reference::{Digest, ImageRef};
use crate::request::messages;
use crate::request::signature_manifest::{
    keyless_candidates, logged_by_certificate_key, signature_manifest_reference, Candidate,
    MAX_CANDIDATES,
};

/// The outcome of checking one pulled image reference against one rule.
pub type RuleOutcome = Result<Digest, String>;

/// One planned verification, by its place in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationId(usize);

/// One image as the plan verifies it.
#[derive(Debug, PartialEq, Eq)]
struct PulledImage {
    /// `registry/repository[:tag][@digest]`, what the host is asked about.
    pulled: String,
    /// `registry/repository`, where its signature manifest lives.
    repository: String,
}

/// Distinct (pulled image, rule) pairs in first-seen order, so host calls and messages come
/// out in a stable order.
#[derive(Debug, Default)]
pub struct VerificationPlan {
    pairs: Vec<(PulledImage, RuleId)>,
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
        let pulled = image.pulled();
        let next = VerificationId(self.pairs.len());
        let id = *self.index.entry((pulled.clone(), rule)).or_insert(next);
        if id == next {
            let planned = PulledImage {
                pulled,
                repository: image.pulled_repository(),
            };
            self.pairs.push((planned, rule));
        }
        id
    }

    /// Runs every pair against the host.
    pub fn run(&self, settings: &Settings, host: &dyn SigstoreHost) -> Outcomes {
        let context = HostContext {
            host,
            manifests: SignatureManifests::new(host),
            fulcio_chain: &settings.fulcio_chain,
            fulcio_certificates: OnceCell::new(),
        };
        Outcomes(
            self.pairs
                .iter()
                .map(|(image, rule)| verify_rule(image, settings.rule(*rule), &context))
                .collect(),
        )
    }
}

/// All host checks of the rule must pass (or, with `minimumMatches`, that many of its
/// signers), each proven where the host cannot be trusted to have, and agree on one
/// well-formed digest; anything else, including a host error, means "not verified".
fn verify_rule(
    image: &PulledImage,
    rule: &SignatureRule,
    context: &HostContext<'_>,
) -> RuleOutcome {
    if let (Some(minimum), Some(signers)) = (rule.minimum_matches, rule.signer.each_signer()) {
        return verify_quorum(image, rule, signers, minimum, context);
    }
    agreed_digest(
        rule.signer
            .constraints()
            .into_iter()
            .map(|constraint| verify_constraint(image, rule, constraint, context)),
    )
}

/// `minimumMatches`: the signers are asked one by one, in settings order, until enough have
/// passed or too few are left to reach the quorum.
fn verify_quorum(
    image: &PulledImage,
    rule: &SignatureRule,
    signers: Vec<SignerConstraint<'_>>,
    minimum: usize,
    context: &HostContext<'_>,
) -> RuleOutcome {
    let total = signers.len();
    let mut tally = QuorumTally::default();
    for (i, constraint) in signers.into_iter().enumerate() {
        let reachable = tally.passed.len() + (total - i) >= minimum;
        if tally.passed.len() >= minimum || !reachable {
            break;
        }
        match verify_constraint(image, rule, constraint, context) {
            Ok(digest) => tally.passed.push((i, digest)),
            Err(reason) => tally.failed.push((i, reason)),
        }
    }
    if tally.passed.len() < minimum {
        let passed: Vec<usize> = tally.passed.iter().map(|(i, _)| *i).collect();
        return Err(messages::quorum_not_met(
            rule.signer.key(),
            minimum,
            total,
            &passed,
            &tally.failed,
        ));
    }
    agreed_digest(tally.passed.into_iter().map(|(_, digest)| Ok(digest)))
}

/// The signers of a `minimumMatches` rule that were asked: which passed, which failed and why.
#[derive(Debug, Default)]
struct QuorumTally {
    passed: Vec<(usize, Digest)>,
    failed: Vec<(usize, String)>,
}

/// What every verification of one admission shares: the host, the signature manifests read
/// so far, and the Fulcio chain keyless certificates must come from.
struct HostContext<'h> {
    host: &'h dyn SigstoreHost,
    manifests: SignatureManifests<'h>,
    fulcio_chain: &'h FulcioChain,
    /// The chain's PEM texts, split out once, and only when a keyless certificate is asked
    /// about (most requests never need them).
    fulcio_certificates: OnceCell<Vec<String>>,
}

impl HostContext<'_> {
    fn fulcio_certificates(&self) -> &[String] {
        self.fulcio_certificates
            .get_or_init(|| self.fulcio_chain.certificates())
    }
}

/// One host call, then the follow-up questions where the host's answer is not enough.
fn verify_constraint(
    image: &PulledImage,
    rule: &SignatureRule,
    signer: SignerConstraint<'_>,
    context: &HostContext<'_>,
) -> RuleOutcome {
    let request = VerificationRequest {
        image: &image.pulled,
        signer,
        annotations: rule.annotations.as_ref(),
    };
    let digest = Digest::parse(&context.host.verify(&request)?)?;
    if let Some(follow_up) = rule.signer.follow_up(&request.signer) {
        let pinned = PinnedImage {
            image,
            reference: format!("{}@{digest}", image.repository),
            digest: &digest,
        };
        follow_up_on(&pinned, rule, follow_up, context)
            .map_err(|reason| format!("the host trusted the signature, but {reason}"))?;
    }
    Ok(digest)
}

/// The image at the digest the host first vouched for: every later question is about it.
struct PinnedImage<'a> {
    image: &'a PulledImage,
    /// `registry/repository@digest`.
    reference: String,
    digest: &'a Digest,
}

impl PinnedImage<'_> {
    /// Asks the host whether `signer` signed this digest; the host must vouch for this very digest.
    fn verify(
        &self,
        signer: SignerConstraint<'_>,
        annotations: Option<&BTreeMap<String, String>>,
        host: &dyn SigstoreHost,
    ) -> Result<(), String> {
        let request = VerificationRequest {
            image: &self.reference,
            signer,
            annotations,
        };
        let answered = Digest::parse(&host.verify(&request)?)?;
        if answered == *self.digest {
            Ok(())
        } else {
            Err(format!(
                "the host vouched for {answered} when asked about {}",
                self.reference
            ))
        }
    }
}

/// The questions of `follow_up`, all of which must be answered "yes".
fn follow_up_on(
    pinned: &PinnedImage<'_>,
    rule: &SignatureRule,
    follow_up: FollowUp<'_>,
    context: &HostContext<'_>,
) -> Result<(), String> {
    match follow_up {
        FollowUp::KeylessSigners(identities) => {
            let Some(manifest) = context.manifests.read(pinned)? else {
                // No classic signatures: the host verified a cosign v3 bundle (an OCI
                // referrer), whose log entry it ties to the signature and certificate
                // (sigstore 0.14+; kwrun checks it again). Hosts on older crates never
                // trust a v3-only image.
                return Ok(());
            };
            identities
                .iter()
                .try_for_each(|wanted| keyless_signer(pinned, rule, wanted, &manifest, context))
        }
        FollowUp::Certificate {
            certificate_pem,
            require_rekor_bundle,
        } => {
            if let Some(annotations) = &rule.annotations {
                let key = [certificate_public_key_pem(&decode_certificate(
                    certificate_pem,
                )?)?];
                pinned
                    .verify(
                        SignerConstraint::PubKeys(&key),
                        Some(annotations),
                        context.host,
                    )
                    .map_err(|e| {
                        format!(
                            "no layer signed by the certificate's key carries the annotations: {e}"
                        )
                    })?;
            }
            if require_rekor_bundle {
                if let Some(manifest) = context.manifests.read(pinned)? {
                    logged_by_certificate_key(&manifest, certificate_pem)?;
                }
            }
            Ok(())
        }
    }
}

/// One keyless identity: some certificate of that signer in the `.sig` manifest passes every
/// host question of [`keyless_candidate`].
fn keyless_signer(
    pinned: &PinnedImage<'_>,
    rule: &SignatureRule,
    wanted: &IdentityMatch<'_>,
    manifest: &[u8],
    context: &HostContext<'_>,
) -> Result<(), String> {
    let candidates = keyless_candidates(manifest, wanted)
        .map_err(|e| format!("its signature manifest cannot be read: {e}"))?;
    if candidates.none_could_be_the_signers() {
        // As without a `.sig` manifest: only a v3 bundle can have been trusted.
        return Ok(());
    }
    if candidates.chosen.is_empty() {
        return Err(candidates.none_found(wanted));
    }
    let mut refusals = Vec::new();
    for (i, candidate) in candidates.chosen.iter().enumerate() {
        match keyless_candidate(pinned, rule, candidate, context) {
            Ok(()) => return Ok(()),
            Err(reason) => refusals.push(format!("certificate {} ({reason})", i + 1)),
        }
    }
    let left_out = if candidates.left_out {
        format!("; only the first {MAX_CANDIDATES} certificates of the signature manifest were asked about")
    } else {
        String::new()
    };
    Err(format!(
        "no certificate for {} holds up: {}{left_out}",
        wanted.describe(),
        refusals.join("; ")
    ))
}

/// The host questions about one certificate, in the order that fails cheapest: it is
/// Fulcio's (at issuance: Fulcio certificates live ten minutes); its key signed a layer of
/// this digest, logged while it was valid; and that key's layer carries the annotations.
fn keyless_candidate(
    pinned: &PinnedImage<'_>,
    rule: &SignatureRule,
    candidate: &Candidate,
    context: &HostContext<'_>,
) -> Result<(), String> {
    let pem = candidate.certificate_pem.as_str();
    context
        .host
        .certificate_trusted(
            pem,
            context.fulcio_certificates(),
            Some(&candidate.identity.not_before),
        )
        .map_err(|reason| format!("does not chain to fulcioCertificateChain: {reason}"))?;
    let certificate = SignerConstraint::Certificate {
        certificate: pem,
        chain: None,
        require_rekor_bundle: true,
    };
    pinned.verify(certificate, None, context.host).map_err(|e| {
        format!("no layer of this digest is signed by its key with a Rekor bundle from its lifetime: {e}")
    })?;
    if let Some(annotations) = &rule.annotations {
        let key = [candidate.identity.public_key_pem.clone()];
        pinned
            .verify(
                SignerConstraint::PubKeys(&key),
                Some(annotations),
                context.host,
            )
            .map_err(|e| format!("no layer signed by its key carries the annotations: {e}"))?;
    }
    Ok(())
}

/// The one digest every call of a rule vouched for. Calls are made as the iterator is drawn,
/// so the first failure ends the rule without asking the rest.
fn agreed_digest(outcomes: impl Iterator<Item = RuleOutcome>) -> RuleOutcome {
    let mut verified: Option<Digest> = None;
    for outcome in outcomes {
        let digest = outcome?;
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

/// A manifest as the host answered: the bytes, no such manifest, or why it could not be read.
type ManifestAnswer = Result<Option<Rc<[u8]>>, String>;

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

    /// The `.sig` manifest of the pinned digest; `None` when there is none.
    fn read(&self, pinned: &PinnedImage<'_>) -> ManifestAnswer {
        let reference =
            signature_manifest_reference(&pinned.image.repository, pinned.digest.as_str());
        let mut read = self.read.borrow_mut();
        read.entry(reference.clone())
            .or_insert_with(|| {
                self.host
                    .oci_manifest(&reference)
                    .map(|manifest| manifest.map(Rc::from))
            })
            .clone()
            .map_err(|e| format!("its signature manifest could not be read: {e}"))
    }
}
