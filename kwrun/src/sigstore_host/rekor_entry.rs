//! Reads the entry a classic Rekor bundle says was logged (a `hashedrekord`): what was signed,
//! with which signature, by which signer.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde::Deserialize;
use sigstore::cosign::bundle::Bundle;

#[derive(Deserialize)]
pub(super) struct HashedRekord {
    kind: String,
    pub(super) spec: HashedRekordSpec,
}

#[derive(Deserialize)]
pub(super) struct HashedRekordSpec {
    pub(super) data: HashedRekordData,
    pub(super) signature: HashedRekordSignature,
}

#[derive(Deserialize)]
pub(super) struct HashedRekordData {
    pub(super) hash: HashedRekordHash,
}

/// A logged hash; Rekor's dsse entries record their payload hash in the same shape.
#[derive(Deserialize)]
pub(super) struct HashedRekordHash {
    pub(super) algorithm: String,
    pub(super) value: String,
}

#[derive(Deserialize)]
pub(super) struct HashedRekordSignature {
    pub(super) content: String,
    #[serde(rename = "publicKey")]
    pub(super) public_key: HashedRekordKey,
}

#[derive(Deserialize)]
pub(super) struct HashedRekordKey {
    pub(super) content: String,
}

/// The hashedrekord entry a classic Rekor bundle says was logged.
pub(super) fn logged_entry(bundle: &Bundle) -> Result<HashedRekord, String> {
    let body = BASE64
        .decode(&bundle.payload.body)
        .map_err(|e| format!("its Rekor bundle body is not base64: {e}"))?;
    let entry: HashedRekord = serde_json::from_slice(&body)
        .map_err(|e| format!("its Rekor bundle body is not a hashedrekord entry: {e}"))?;
    if entry.kind != "hashedrekord" || entry.spec.data.hash.algorithm != "sha256" {
        return Err("its Rekor bundle does not log a sha256 hashedrekord entry".to_string());
    }
    Ok(entry)
}

/// The public key of the signer a classic Rekor bundle logged (its certificate's or its own).
pub fn logged_signer(bundle: &Bundle) -> Result<PKey<Public>, String> {
    logged_signer_of(&logged_entry(bundle)?)
}

fn logged_signer_of(entry: &HashedRekord) -> Result<PKey<Public>, String> {
    let logged_pem = BASE64
        .decode(&entry.spec.signature.public_key.content)
        .map_err(|e| format!("its Rekor bundle's public key is not base64: {e}"))?;
    logged_public_key(&logged_pem).map_err(|e| format!("its Rekor bundle: {e}"))
}

/// The public key of a logged PEM certificate or PEM public key.
pub(super) fn logged_public_key(pem: &[u8]) -> Result<PKey<Public>, String> {
    if let Ok(certificate) = X509::from_pem(pem) {
        return certificate
            .public_key()
            .map_err(|e| format!("the logged certificate has no usable key: {e}"));
    }
    PKey::public_key_from_pem(pem)
        .map_err(|_| "it logs neither a PEM certificate nor a PEM key".to_string())
}
