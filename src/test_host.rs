//! A scriptable stand-in for the Kubewarden host, for native unit tests: it answers each
//! verification with a closure and records every call so tests can count them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{SignerConstraint, SigstoreHost, VerificationRequest};

type Answer = Box<dyn Fn(&VerificationRequest<'_>) -> Result<String, String>>;

pub struct FakeHost {
    answer: Answer,
    untrusted_certificates: Vec<String>,
    /// Manifests by reference; a reference not listed has no manifest (a cosign v3 image).
    manifests: BTreeMap<String, Result<Vec<u8>, String>>,
    pub calls: RefCell<Vec<String>>,
    /// References of every manifest read, in order.
    pub manifest_reads: RefCell<Vec<String>>,
    /// The chain of every certificate trust question, in order.
    pub chains_asked: RefCell<Vec<Vec<String>>>,
}

pub const DIGEST_A: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const DIGEST_B: &str =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

impl FakeHost {
    pub fn answering(
        answer: impl Fn(&VerificationRequest<'_>) -> Result<String, String> + 'static,
    ) -> Self {
        FakeHost {
            answer: Box::new(answer),
            untrusted_certificates: Vec::new(),
            manifests: BTreeMap::new(),
            calls: RefCell::new(Vec::new()),
            manifest_reads: RefCell::new(Vec::new()),
            chains_asked: RefCell::new(Vec::new()),
        }
    }

    /// Trusts every image, answering `DIGEST_A`.
    pub fn trusting() -> Self {
        Self::answering(|_| Ok(DIGEST_A.to_string()))
    }

    pub fn distrusting_certificate(mut self, pem: &str) -> Self {
        self.untrusted_certificates.push(pem.to_string());
        self
    }

    /// Serves `manifest` (or fails with the error) at `reference`.
    pub fn with_manifest(mut self, reference: &str, manifest: Result<Vec<u8>, String>) -> Self {
        self.manifests.insert(reference.to_string(), manifest);
        self
    }

    pub fn call_count(&self) -> usize {
        self.calls.borrow().len()
    }

    /// `"<image> <kind>"` per call, in call order.
    pub fn call_log(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl SigstoreHost for FakeHost {
    fn verify(&self, request: &VerificationRequest<'_>) -> Result<String, String> {
        self.calls
            .borrow_mut()
            .push(format!("{} {}", request.image, operation(&request.signer)));
        (self.answer)(request)
    }

    fn certificate_trusted(
        &self,
        certificate: &str,
        chain: &[String],
        at: Option<&str>,
    ) -> Result<(), String> {
        self.calls.borrow_mut().push(match at {
            Some(at) => format!("certificate_trusted at {at}"),
            None => "certificate_trusted".to_string(),
        });
        self.chains_asked.borrow_mut().push(chain.to_vec());
        if self.untrusted_certificates.iter().any(|c| c == certificate) {
            Err("certificate signature does not verify".to_string())
        } else {
            Ok(())
        }
    }

    fn oci_manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, String> {
        self.manifest_reads.borrow_mut().push(reference.to_string());
        match self.manifests.get(reference) {
            Some(Ok(manifest)) => Ok(Some(manifest.clone())),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    }
}

/// The name of the host verification, for test records.
fn operation(constraint: &SignerConstraint<'_>) -> &'static str {
    match constraint {
        SignerConstraint::PubKeys(_) => "pubKeys",
        SignerConstraint::Keyless(_) => "keyless",
        SignerConstraint::KeylessPrefix(_) => "keylessPrefix",
        SignerConstraint::GithubActions { .. } => "githubActions",
        SignerConstraint::Certificate { .. } => "certificate",
    }
}
