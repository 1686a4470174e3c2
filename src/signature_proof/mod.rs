//! The policy's own proof of classic cosign signatures, run after the host answers "trusted".
//!
//! Kubewarden hosts (sigstore crate ≤ 0.15) check a keyless layer's certificate chain and its
//! Rekor bundle's signed timestamp, but never that the certificate's key made the layer's
//! signature, nor that the bundle logged *this* signature: a certificate and bundle copied from
//! any genuine signature pass. So the policy reads the `.sig` manifest of the verified digest
//! and checks, from the manifest alone, that every certificate made its layer's signature and
//! every bundle logs its layer's payload, signature and signer.

mod manifest;
mod prehashed;
mod rekor_entry;
#[cfg(test)]
pub(crate) mod test_pki;

use spki::der::DecodePem;
use spki::der::Encode;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::pem_material::decode_certificate;
use manifest::{signature_layers, SignatureLayer};
use prehashed::{verify_sha256_prehash, SignatureProblem};
use rekor_entry::logged_entry;

/// What a host's "trusted" must be backed by in the signature manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofDemand<'a> {
    /// A keyless signer: some layer carries a certificate whose key made its signature and a
    /// Rekor bundle that logged it.
    CertificateLayer,
    /// A certificate signer with `requireRekorBundle`: some layer is signed by this
    /// certificate's key and carries a Rekor bundle that logged that signature by that key.
    LoggedSignatureBy { certificate_pem: &'a str },
}

/// Where cosign keeps the classic signatures of `digest`: `<repository>:sha256-<hex>.sig`.
pub fn signature_manifest_reference(repository: &str, digest: &str) -> String {
    format!("{repository}:{}.sig", digest.replacen(':', "-", 1))
}

/// Checks every layer of the `.sig` manifest and that one of them meets `demand`.
pub fn prove(manifest: &[u8], demand: ProofDemand<'_>) -> Result<(), String> {
    let wanted_key = match demand {
        ProofDemand::CertificateLayer => None,
        ProofDemand::LoggedSignatureBy { certificate_pem } => {
            Some(spki_der(spki_of(&decode_certificate(certificate_pem)?))?)
        }
    };
    let mut meets_demand = false;
    for layer in signature_layers(manifest)? {
        let checked = check_layer(&layer)?;
        meets_demand |= match &wanted_key {
            None => checked.certificate.is_some() && checked.logged_key.is_some(),
            Some(wanted) => checked.logged_key.as_ref() == Some(wanted),
        };
    }
    if meets_demand {
        return Ok(());
    }
    Err(match demand {
        ProofDemand::CertificateLayer => {
            "no layer of its signature manifest carries a certificate together with a Rekor bundle that logs that signature"
        }
        ProofDemand::LoggedSignatureBy { .. } => {
            "no layer of its signature manifest is signed by the certificate's key with a Rekor bundle that logs that signature"
        }
    }
    .to_string())
}

/// A layer that passed: its certificate (when it has one) and the SPKI DER of the key its
/// bundle logged (when it has one).
struct CheckedLayer {
    certificate: Option<Certificate>,
    logged_key: Option<Vec<u8>>,
}

/// Every layer must hold up, not only the one the host's matcher picked: an attacker chooses
/// which layer that is.
fn check_layer(layer: &SignatureLayer) -> Result<CheckedLayer, String> {
    let name = &layer.digest;
    let certificate = match &layer.certificate_pem {
        None => None,
        Some(pem) => {
            let certificate = decode_certificate(pem)
                .map_err(|e| format!("layer {name}: its certificate is {e}"))?;
            let signature = layer
                .signature
                .as_deref()
                .ok_or_else(|| format!("layer {name} carries a certificate but no signature"))?;
            verify_sha256_prehash(spki_of(&certificate), &layer.payload_sha256, signature)
                .map_err(|problem| match problem {
                    SignatureProblem::NotMadeByKey => format!(
                        "layer {name} has a signature its certificate's key did not make"
                    ),
                    SignatureProblem::UnsupportedKey(why) => format!(
                        "layer {name}: its certificate's key cannot be checked by this policy: {why}"
                    ),
                })?;
            Some(certificate)
        }
    };
    let logged_key = match &layer.bundle {
        None => None,
        Some(bundle) => Some(check_logged(layer, certificate.as_ref(), bundle)?),
    };
    Ok(CheckedLayer {
        certificate,
        logged_key,
    })
}

/// The bundle must log this layer's payload digest, this signature and this signer; returns
/// the SPKI DER of the logged key.
fn check_logged(
    layer: &SignatureLayer,
    certificate: Option<&Certificate>,
    bundle: &str,
) -> Result<Vec<u8>, String> {
    let name = &layer.digest;
    let entry = logged_entry(bundle).map_err(|e| format!("layer {name}: {e}"))?;
    if entry.payload_sha256 != hex::encode(layer.payload_sha256) {
        return Err(format!(
            "layer {name}'s Rekor bundle logs another payload (sha256:{})",
            entry.payload_sha256
        ));
    }
    let signature = layer
        .signature
        .as_deref()
        .ok_or_else(|| format!("layer {name} carries a Rekor bundle but no signature"))?;
    if entry.signature != signature {
        return Err(format!(
            "layer {name}'s Rekor bundle logs another signature"
        ));
    }
    let logged = LoggedSigner::parse(&entry.public_key_pem)
        .map_err(|e| format!("layer {name}'s Rekor bundle: {e}"))?;
    let logged_key = spki_der(logged.spki())?;
    match (certificate, &logged) {
        (Some(certificate), LoggedSigner::Certificate(logged)) => {
            if der(certificate)? != der(logged)? {
                return Err(format!(
                    "layer {name}'s Rekor bundle logs another certificate"
                ));
            }
        }
        (Some(certificate), LoggedSigner::Key(_)) => {
            if spki_der(spki_of(certificate))? != logged_key {
                return Err(format!("layer {name}'s Rekor bundle logs another key"));
            }
        }
        // No certificate on the layer: the logged key itself must have made the signature.
        (None, logged) => verify_sha256_prehash(logged.spki(), &layer.payload_sha256, signature)
            .map_err(|problem| match problem {
                SignatureProblem::NotMadeByKey => format!(
                    "layer {name}'s Rekor bundle logs a key that did not make its signature"
                ),
                SignatureProblem::UnsupportedKey(why) => format!(
                    "layer {name}: the key its Rekor bundle logs cannot be checked by this policy: {why}"
                ),
            })?,
    }
    Ok(logged_key)
}

/// The signer a hashedrekord entry records: a certificate or a bare public key.
enum LoggedSigner {
    Certificate(Box<Certificate>),
    Key(SubjectPublicKeyInfoOwned),
}

impl LoggedSigner {
    fn parse(pem: &str) -> Result<Self, String> {
        if let Ok(certificate) = Certificate::from_pem(pem.trim()) {
            return Ok(LoggedSigner::Certificate(Box::new(certificate)));
        }
        SubjectPublicKeyInfoOwned::from_pem(pem.trim())
            .map(LoggedSigner::Key)
            .map_err(|_| {
                "the logged signer is neither a PEM certificate nor a PEM public key".to_string()
            })
    }

    fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        match self {
            LoggedSigner::Certificate(certificate) => spki_of(certificate),
            LoggedSigner::Key(key) => key,
        }
    }
}

fn spki_of(certificate: &Certificate) -> &SubjectPublicKeyInfoOwned {
    certificate.tbs_certificate().subject_public_key_info()
}

fn spki_der(key: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>, String> {
    key.to_der()
        .map_err(|e| format!("cannot encode a public key: {e}"))
}

fn der(certificate: &Certificate) -> Result<Vec<u8>, String> {
    certificate
        .to_der()
        .map_err(|e| format!("cannot encode a certificate: {e}"))
}

#[cfg(test)]
mod tests;
