//! Checks a cosign signature from the SHA-256 digest of its payload alone. A classic cosign
//! signature layer's descriptor digest *is* that SHA-256, so the policy can check who signed
//! a layer without downloading the payload.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use spki::SubjectPublicKeyInfoOwned;

use crate::pem_material::{public_key_kind, PublicKeyKind};

/// Why a signature did not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The key did not make this signature over this digest (or the signature is malformed).
    NotMadeByKey,
    /// The key is of a kind whose cosign signatures are not over SHA-256.
    UnsupportedKey(String),
}

/// Verifies `signature` (as cosign stores it: ASN.1 DER for ECDSA, PKCS#1 v1.5 for RSA) over
/// the 32-byte `sha256` digest with `key`.
pub fn verify_sha256_prehash(
    key: &SubjectPublicKeyInfoOwned,
    sha256: &[u8; 32],
    signature: &[u8],
) -> Result<(), SignatureProblem> {
    let kind = public_key_kind(key).map_err(SignatureProblem::UnsupportedKey)?;
    let key_bytes = key.subject_public_key.raw_bytes();
    let verified = match kind {
        PublicKeyKind::EcdsaP256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                .map_err(|_| SignatureProblem::NotMadeByKey)?;
            let signature = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| SignatureProblem::NotMadeByKey)?;
            key.verify_prehash(sha256, &signature).is_ok()
        }
        PublicKeyKind::Rsa => {
            let (modulus, exponent) =
                rsa_public_numbers(key_bytes).ok_or(SignatureProblem::NotMadeByKey)?;
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(modulus),
                rsa::BigUint::from_bytes_be(exponent),
            )
            .map_err(|_| SignatureProblem::NotMadeByKey)?;
            key.verify(
                rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                sha256,
                signature,
            )
            .is_ok()
        }
        // cosign signs with SHA-384 on P-384 and over the whole message with Ed25519: the
        // layer's SHA-256 digest cannot prove either, so refuse rather than guess.
        PublicKeyKind::EcdsaP384 => {
            return Err(SignatureProblem::UnsupportedKey(
                "ECDSA P-384 (cosign signs with SHA-384, which cannot be checked from the layer's SHA-256 digest)".to_string(),
            ))
        }
        PublicKeyKind::Ed25519 => {
            return Err(SignatureProblem::UnsupportedKey(
                "Ed25519 (it signs the whole payload, which cannot be checked from the layer's SHA-256 digest)".to_string(),
            ))
        }
    };
    if verified {
        Ok(())
    } else {
        Err(SignatureProblem::NotMadeByKey)
    }
}

/// The modulus and public exponent of a PKCS#1 `RSAPublicKey` (DER `SEQUENCE { INTEGER,
/// INTEGER }`), read with the DER decoder the certificates already use.
fn rsa_public_numbers(der: &[u8]) -> Option<(&[u8], &[u8])> {
    use spki::der::asn1::UintRef;
    use spki::der::{Decode, Reader, SliceReader};
    let mut reader = SliceReader::new(der).ok()?;
    let numbers = reader
        .sequence(|sequence| {
            let modulus = UintRef::decode(sequence)?;
            let exponent = UintRef::decode(sequence)?;
            Ok::<_, spki::der::Error>((modulus.as_bytes(), exponent.as_bytes()))
        })
        .ok()?;
    reader.finish().ok()?;
    Some(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature_proof::test_pki::{sha256, TestKey};
    use rstest::rstest;

    #[rstest]
    #[case::p256(TestKey::p256())]
    #[case::rsa_2048(TestKey::rsa(2048))]
    #[case::rsa_3072(TestKey::rsa(3072))]
    fn a_signature_by_the_key_verifies_and_nothing_else_does(#[case] key: TestKey) {
        let digest = sha256(b"payload");
        let signature = key.sign(b"payload");
        assert_eq!(
            verify_sha256_prehash(&key.spki(), &digest, &signature),
            Ok(())
        );
        let other = sha256(b"another payload");
        assert_eq!(
            verify_sha256_prehash(&key.spki(), &other, &signature),
            Err(SignatureProblem::NotMadeByKey)
        );
        let stranger = TestKey::p256();
        assert_eq!(
            verify_sha256_prehash(&stranger.spki(), &digest, &signature),
            Err(SignatureProblem::NotMadeByKey)
        );
        for garbage in [&b""[..], b"garbage", &signature[..signature.len() - 1]] {
            assert_eq!(
                verify_sha256_prehash(&key.spki(), &digest, garbage),
                Err(SignatureProblem::NotMadeByKey)
            );
        }
    }

    #[test]
    fn ecdsa_signatures_verify_with_either_s() {
        // Go's crypto/ecdsa (cosign) does not normalise s: both halves must verify.
        let key = TestKey::p256();
        let digest = sha256(b"payload");
        let signature = p256::ecdsa::Signature::from_der(&key.sign(b"payload")).unwrap();
        let (r, s) = signature.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        for signature in [signature, flipped] {
            assert_eq!(
                verify_sha256_prehash(&key.spki(), &digest, signature.to_der().as_bytes()),
                Ok(())
            );
        }
    }

    #[rstest]
    #[case::p384(TestKey::p384(), "ECDSA P-384")]
    #[case::ed25519(TestKey::ed25519(), "Ed25519")]
    fn keys_not_checkable_from_a_sha256_digest_fail_closed(
        #[case] key: TestKey,
        #[case] named: &str,
    ) {
        let digest = sha256(b"payload");
        let signature = key.sign(b"payload");
        match verify_sha256_prehash(&key.spki(), &digest, &signature) {
            Err(SignatureProblem::UnsupportedKey(why)) => assert!(why.starts_with(named), "{why}"),
            other => panic!("expected an unsupported key, got {other:?}"),
        }
    }
}
