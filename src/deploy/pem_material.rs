//! Decoding the PEM public keys and X.509 certificates admins paste into settings, for real:
//! armour, base64 and DER structure, so a truncated or mangled key is caught at deploy time
//! rather than failing every admission later.

use spki::der::asn1::{AnyRef, ObjectIdentifier};
use spki::der::{Decode, DecodePem, Tag, Tagged};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The key types Sigstore verifiers accept for cosign signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyKind {
    EcdsaP256,
    EcdsaP384,
    Rsa,
    Ed25519,
}

/// Decodes one PEM `PUBLIC KEY` (SubjectPublicKeyInfo) and checks its algorithm and key size.
pub fn decode_public_key(pem: &str) -> Result<PublicKeyKind, String> {
    let spki = SubjectPublicKeyInfoOwned::from_pem(pem.trim())
        .map_err(|e| format!("not a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo): {e}"))?;
    public_key_kind(&spki)
}

/// Whether two PEM texts hold the same public key, however they are wrapped: as keys
/// (`PUBLIC KEY`) or as the key of a certificate. Text that does not decode is no key.
pub fn same_public_key(a: &str, b: &str) -> bool {
    matches!((public_key_of(a), public_key_of(b)), (Some(a), Some(b)) if a == b)
}

/// The public key a PEM text holds: a bare `PUBLIC KEY`, or a `CERTIFICATE`'s key; `None`
/// when it is neither.
pub fn public_key_of(pem: &str) -> Option<SubjectPublicKeyInfoOwned> {
    bare_public_key(pem).or_else(|| {
        decode_certificate(pem).ok().map(|certificate| {
            certificate
                .tbs_certificate()
                .subject_public_key_info()
                .clone()
        })
    })
}

/// A bare PEM `PUBLIC KEY`; `None` when the text is not one.
pub fn bare_public_key(pem: &str) -> Option<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_pem(pem.trim()).ok()
}

/// The algorithm of a decoded public key, after checking its key material is well formed.
pub fn public_key_kind(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind, String> {
    let key = spki.subject_public_key.raw_bytes();
    let oid = spki.algorithm.oid;
    if oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or("EC public key without a named curve")?;
        let (kind, coordinate_len) = match curve {
            c if c == P256 => (PublicKeyKind::EcdsaP256, 32),
            c if c == P384 => (PublicKeyKind::EcdsaP384, 48),
            other => return Err(format!("unsupported EC curve {other} (use P-256 or P-384)")),
        };
        let well_formed = match key.first() {
            Some(0x04) => key.len() == 1 + 2 * coordinate_len,
            Some(0x02 | 0x03) => key.len() == 1 + coordinate_len,
            _ => false,
        };
        return if well_formed {
            Ok(kind)
        } else {
            Err("EC public key point is malformed".to_string())
        };
    }
    if oid == RSA_ENCRYPTION {
        let sequence =
            AnyRef::from_der(key).map_err(|e| format!("RSA public key is malformed: {e}"))?;
        return if sequence.tag() == Tag::Sequence && key.len() >= 256 {
            Ok(PublicKeyKind::Rsa)
        } else {
            Err("RSA public key is malformed or shorter than 2048 bits".to_string())
        };
    }
    if oid == ED25519 {
        return if key.len() == 32 {
            Ok(PublicKeyKind::Ed25519)
        } else {
            Err("Ed25519 public key must be 32 bytes".to_string())
        };
    }
    Err(format!(
        "unsupported public key algorithm {oid} (use ECDSA P-256/P-384, RSA or Ed25519)"
    ))
}

/// The certificate's public key as a PEM `PUBLIC KEY`, as public-key verification takes it.
pub fn certificate_public_key_pem(certificate: &Certificate) -> Result<String, String> {
    use spki::der::EncodePem;
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_pem(spki::der::pem::LineEnding::LF)
        .map_err(|e| format!("cannot encode the certificate's public key: {e}"))
}

/// Decodes one PEM `CERTIFICATE` into its X.509 structure.
pub fn decode_certificate(pem: &str) -> Result<Certificate, String> {
    Certificate::from_pem(pem.trim()).map_err(|e| format!("not a PEM X.509 \"CERTIFICATE\": {e}"))
}

#[cfg(test)]
pub(crate) mod test_material {
    //! Real keys and certificates generated with openssl for these tests (no private keys kept).
    pub const P256_PUB: &str = include_str!("../../test_data/pem/p256.pub.pem");
    pub const P384_PUB: &str = include_str!("../../test_data/pem/p384.pub.pem");
    pub const RSA_PUB: &str = include_str!("../../test_data/pem/rsa2048.pub.pem");
    pub const ED25519_PUB: &str = include_str!("../../test_data/pem/ed25519.pub.pem");
    pub const SECP256K1_PUB: &str = include_str!("../../test_data/pem/secp256k1.pub.pem");
    pub const CA_CERT: &str = include_str!("../../test_data/pem/ca.cert.pem");
    pub const LEAF_CERT: &str = include_str!("../../test_data/pem/leaf.cert.pem");
}

#[cfg(test)]
mod tests {
    use super::test_material::*;
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(P256_PUB, PublicKeyKind::EcdsaP256)]
    #[case(P384_PUB, PublicKeyKind::EcdsaP384)]
    #[case(RSA_PUB, PublicKeyKind::Rsa)]
    #[case(ED25519_PUB, PublicKeyKind::Ed25519)]
    fn decodes_supported_keys(#[case] pem: &str, #[case] kind: PublicKeyKind) {
        assert_eq!(decode_public_key(pem), Ok(kind));
    }

    #[test]
    fn rejects_other_curves() {
        let err = decode_public_key(SECP256K1_PUB).unwrap_err();
        assert!(err.contains("unsupported EC curve 1.3.132.0.10"), "{err}");
    }

    #[test]
    fn rejects_a_mangled_body_inside_valid_armour() {
        // Same armour, one base64 character changed in the DER structure.
        let mangled = P256_PUB.replacen("MFkw", "MFkx", 1);
        assert!(decode_public_key(&mangled).is_err());
        let truncated: String = P256_PUB
            .lines()
            .filter(|l| !l.starts_with("Ngv") && l.len() != 64 || l.starts_with("-"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(decode_public_key(&truncated).is_err());
    }

    #[rstest]
    #[case("")]
    #[case("not a key")]
    #[case("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----")]
    fn rejects_garbage(#[case] pem: &str) {
        assert!(decode_public_key(pem)
            .unwrap_err()
            .starts_with("not a PEM \"PUBLIC KEY\""));
    }

    #[test]
    fn a_certificate_is_not_a_public_key() {
        assert!(decode_public_key(CA_CERT).is_err());
    }

    #[test]
    fn decodes_certificates() {
        assert!(decode_certificate(CA_CERT).is_ok());
        assert!(decode_certificate(LEAF_CERT).is_ok());
        assert!(decode_certificate(P256_PUB)
            .unwrap_err()
            .starts_with("not a PEM X.509"));
        let mangled = LEAF_CERT.replacen("MII", "MIJ", 1);
        assert!(decode_certificate(&mangled).is_err());
    }
}
