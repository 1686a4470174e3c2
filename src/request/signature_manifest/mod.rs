//! What the policy reads in a cosign `.sig` manifest once the host has answered "trusted".
//!
//! Kubewarden hosts (sigstore crate ≤ 0.15) check a keyless layer's certificate chain and its
//! Rekor bundle's signed timestamp, but never that the certificate's key made the layer's
//! signature, nor that the bundle logged *this* signature; and a `certificates` rule's
//! annotations may be met by a layer the certificate never signed. What the same hosts do
//! check right is a signature by a certificate or key the policy names, on one layer. So the
//! policy reads the manifest only to choose *which* certificate to name (`keyless_candidates`),
//! and to compare each Rekor bundle's logged entry with its own layer; the host verifies every
//! signature (see `verify`). Nothing here is cryptography.

mod manifest;
mod rekor_entry;

use std::collections::{BTreeMap, BTreeSet};

use spki::der::Encode;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::deploy::signers::certificate_identity::{CertificateIdentity, IdentityMatch};
use manifest::{signature_layers, SignatureLayer};
use rekor_entry::{logged_entry, LoggedEntry};

use crate::deploy::pem_material::{bare_public_key, decode_certificate, public_key_of};

/// At most this many distinct certificates are asked about per signer: each costs the host
/// two or three calls, and with a cold cache every call counts against the host's evaluation
/// time limit (2 s by default in policy-server).
pub const MAX_CANDIDATES: usize = 4;

/// Where cosign keeps the classic signatures of `digest`: `<repository>:sha256-<hex>.sig`.
pub fn signature_manifest_reference(repository: &str, digest: &str) -> String {
    format!("{repository}:{}.sig", digest.replacen(':', "-", 1))
}

/// A certificate some layer carries for the wanted signer, logged with that layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub certificate_pem: String,
    pub identity: CertificateIdentity,
    certificate_der: Option<Vec<u8>>,
}

/// The certificates to ask the host about, in manifest order, and what the other layers were.
#[derive(Debug, Default)]
pub struct Candidates {
    pub chosen: Vec<Candidate>,
    /// More layers qualified than [`MAX_CANDIDATES`]: they were not asked about.
    pub left_out: bool,
    layers: usize,
    without_certificate: usize,
    unreadable_certificate: usize,
    other_signer: usize,
    not_logged: usize,
}

impl Candidates {
    /// No classic layer could be this signer's: every certificate was read and names another
    /// signer. The host's "trusted" for this signer then came from a cosign v3 bundle (an OCI
    /// referrer, which the `sigstore` crate ties to its log entry), or from a `.sig` manifest
    /// other than the one the policy was shown (see the README's residual risk).
    pub fn none_could_be_the_signers(&self) -> bool {
        self.chosen.is_empty() && self.not_logged == 0 && self.unreadable_certificate == 0
    }

    /// Why no layer qualified, counting each kind of layer seen.
    pub fn none_found(&self, wanted: &IdentityMatch<'_>) -> String {
        let mut seen = Vec::new();
        for (count, what) in [
            (self.without_certificate, "without a certificate"),
            (
                self.unreadable_certificate,
                "with an unreadable certificate",
            ),
            (self.other_signer, "certified for another signer"),
            (
                self.not_logged,
                "whose Rekor bundle is missing or logs another signature",
            ),
        ] {
            if count > 0 {
                seen.push(format!("{count} {what}"));
            }
        }
        let layers = match self.layers {
            1 => "1 layer".to_string(),
            n => format!("{n} layers"),
        };
        format!(
            "no layer of its signature manifest carries a certificate for {} with a Rekor bundle that logs that layer ({layers}: {})",
            wanted.describe(),
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        )
    }
}

/// The distinct certificates of `wanted`'s signer whose layer's Rekor bundle logs that very
/// layer (payload digest, signature and certificate). Layers that do not qualify are skipped,
/// not errors: the host is asked about each candidate, and an attacker can add any layer.
pub fn keyless_candidates(
    manifest: &[u8],
    wanted: &IdentityMatch<'_>,
) -> Result<Candidates, String> {
    let layers = signature_layers(manifest)?;
    let mut candidates = Candidates {
        layers: layers.len(),
        ..Candidates::default()
    };
    // Each certificate text is read once: copies of one certificate are common (a signer
    // signing twice, or an attacker copying a genuine certificate onto many layers).
    let mut read: BTreeMap<&str, Option<(Certificate, CertificateIdentity)>> = BTreeMap::new();
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    let mut log = LogEntries::default();
    for layer in &layers {
        let Some(pem) = layer.certificate_pem.as_deref() else {
            candidates.without_certificate += 1;
            continue;
        };
        if chosen.contains(pem) {
            continue;
        }
        let Some((certificate, identity)) = read.entry(pem).or_insert_with(|| {
            let certificate = decode_certificate(pem).ok()?;
            let identity = CertificateIdentity::read(&certificate).ok()?;
            Some((certificate, identity))
        }) else {
            candidates.unreadable_certificate += 1;
            continue;
        };
        if !wanted.matches(identity) {
            candidates.other_signer += 1;
            continue;
        }
        if !log.logs_layer(layer, &LoggedSigner::Certificate { pem, certificate }) {
            candidates.not_logged += 1;
            continue;
        }
        // The same certificate in another PEM wrapping is the same question.
        let der = certificate.to_der().ok();
        if candidates.chosen.iter().any(|c| c.certificate_der == der) {
            chosen.insert(pem);
            continue;
        }
        if candidates.chosen.len() == MAX_CANDIDATES {
            candidates.left_out = true;
            break;
        }
        chosen.insert(pem);
        candidates.chosen.push(Candidate {
            certificate_pem: pem.to_string(),
            identity: identity.clone(),
            certificate_der: der,
        });
    }
    Ok(candidates)
}

/// `requireRekorBundle` on a `certificates` rule: some layer's Rekor bundle logs that layer's
/// payload and signature, made by `certificate_pem`'s key. (The host checked that a layer
/// signed by that key carries a bundle from the certificate's lifetime; it never ties the
/// bundle to the signature.)
pub fn logged_by_certificate_key(manifest: &[u8], certificate_pem: &str) -> Result<(), String> {
    let certificate = decode_certificate(certificate_pem)?;
    let wanted = LoggedSigner::Key(spki_of(&certificate));
    let mut log = LogEntries::default();
    if signature_layers(manifest)?
        .iter()
        .any(|layer| log.logs_layer(layer, &wanted))
    {
        Ok(())
    } else {
        Err("no layer of its signature manifest carries a Rekor bundle that logs that layer's signature by the certificate's key".to_string())
    }
}

/// Who a logged entry must name as its signer.
enum LoggedSigner<'a> {
    /// This very certificate (as keyless signatures are logged), or its bare key.
    Certificate {
        pem: &'a str,
        certificate: &'a Certificate,
    },
    /// This key, bare or inside any certificate.
    Key(&'a SubjectPublicKeyInfoOwned),
}

/// The Rekor entries of one manifest's bundles, each bundle text read once: a bundle copied
/// onto many layers (the usual forgery) costs one reading.
#[derive(Default)]
struct LogEntries<'m> {
    read: BTreeMap<&'m str, Option<LoggedEntry>>,
}

impl<'m> LogEntries<'m> {
    /// Whether the layer's Rekor bundle logged this layer: its payload digest, its signature,
    /// and `signer`. A bundle that cannot be read logs nothing.
    fn logs_layer(&mut self, layer: &'m SignatureLayer, signer: &LoggedSigner<'_>) -> bool {
        let Some(bundle) = layer.bundle.as_deref() else {
            return false;
        };
        let Some(entry) = self
            .read
            .entry(bundle)
            .or_insert_with(|| logged_entry(bundle).ok())
        else {
            return false;
        };
        if entry.payload_sha256 != layer.payload_sha256() {
            return false;
        }
        if !matches!(layer.signature_bytes(), Ok(Some(signature)) if signature == entry.signature) {
            return false;
        }
        let logged = entry.public_key_pem.trim();
        match signer {
            // Cosign logs the very PEM it attaches: equal texts need no decoding.
            LoggedSigner::Certificate { pem, .. } if pem.trim() == logged => true,
            LoggedSigner::Certificate { certificate, .. } => match decode_certificate(logged) {
                Ok(logged) => {
                    matches!((certificate.to_der(), logged.to_der()), (Ok(a), Ok(b)) if a == b)
                }
                Err(_) => bare_public_key(logged).as_ref() == Some(spki_of(certificate)),
            },
            LoggedSigner::Key(wanted) => public_key_of(logged).as_ref() == Some(*wanted),
        }
    }
}

fn spki_of(certificate: &Certificate) -> &SubjectPublicKeyInfoOwned {
    certificate.tbs_certificate().subject_public_key_info()
}

#[cfg(test)]
mod tests;
