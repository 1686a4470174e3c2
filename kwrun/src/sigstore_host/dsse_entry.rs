//! Reads what a cosign v3 bundle logged: Rekor's `dsse` entry (payload hash, signatures and
//! their signers) and the payload inside the DSSE pre-authentication encoding the layer signs.

use serde::Deserialize;

use super::rekor_entry::HashedRekordHash;

/// Rekor's dsse entry (v0.0.1), as far as it binds payload, signature and signer.
#[derive(Deserialize)]
pub(super) struct DsseEntry {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    pub(super) spec: DsseSpec,
}

#[derive(Deserialize)]
pub(super) struct DsseSpec {
    #[serde(rename = "payloadHash")]
    pub(super) payload_hash: HashedRekordHash,
    pub(super) signatures: Vec<DsseLoggedSignature>,
}

#[derive(Deserialize)]
pub(super) struct DsseLoggedSignature {
    pub(super) signature: String,
    pub(super) verifier: String,
}

/// The dsse entry a v3 bundle's log entry body (its canonicalized body) records.
pub(super) fn logged_dsse_entry(body: &[u8]) -> Result<DsseEntry, String> {
    let entry: DsseEntry = serde_json::from_slice(body)
        .map_err(|e| format!("its v3 bundle's log entry is not a dsse entry: {e}"))?;
    if entry.kind != "dsse"
        || entry.api_version != "0.0.1"
        || entry.spec.payload_hash.algorithm != "sha256"
    {
        return Err("its v3 bundle's log entry is not a sha256 dsse v0.0.1 entry".to_string());
    }
    Ok(entry)
}

/// The payload inside DSSE's pre-authentication encoding
/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, whose lengths must add up exactly.
pub(super) fn dsse_payload(encoded: &[u8]) -> Result<&[u8], String> {
    let malformed = || "its signed bytes are not a DSSE v1 encoding".to_string();
    let rest = encoded.strip_prefix(b"DSSEv1 ").ok_or_else(malformed)?;
    let (type_length, rest) = decimal_then_space(rest).ok_or_else(malformed)?;
    if rest.len() < type_length {
        return Err(malformed());
    }
    let rest = rest[type_length..]
        .strip_prefix(b" ")
        .ok_or_else(malformed)?;
    let (payload_length, payload) = decimal_then_space(rest).ok_or_else(malformed)?;
    if payload.len() != payload_length {
        return Err(malformed());
    }
    Ok(payload)
}

fn decimal_then_space(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let number = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((number, bytes[digits..].strip_prefix(b" ")?))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    const IN_TOTO: &str = "application/vnd.in-toto+json";

    /// What cosign v3 signs for `digest`, in DSSE's pre-authentication encoding.
    pub(in crate::sigstore_host) fn signed_statement(digest: &str) -> (Vec<u8>, Vec<u8>) {
        let statement = serde_json::json!({"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1"})
        .to_string()
        .into_bytes();
        let mut encoded =
            format!("DSSEv1 {} {IN_TOTO} {} ", IN_TOTO.len(), statement.len()).into_bytes();
        encoded.extend_from_slice(&statement);
        (statement, encoded)
    }

    #[test]
    fn dsse_payload_reads_only_exact_encodings() {
        let (statement, encoded) = signed_statement(DIGEST);
        assert_eq!(dsse_payload(&encoded).unwrap(), statement.as_slice());
        for malformed in [
            &b""[..],
            b"DSSEv1 4 type 2 {}x",
            b"DSSEv1 4 type 3 {}",
            b"DSSEv1 9 type 2 {}",
            b"DSSEv1 x type 2 {}",
            b"DSSEv2 4 type 2 {}",
            b"DSSEv1 4 typeX2 {}",
        ] {
            assert!(dsse_payload(malformed).is_err(), "{malformed:?}");
        }
        assert_eq!(dsse_payload(b"DSSEv1 4 type 2 {}").unwrap(), b"{}");
    }
}
