//! Real keyless signatures, as cosign writes them in a `.sig` manifest: P-256 certificates,
//! signatures and Rekor bundle bodies, made with OpenSSL, for the keyless cases.

use anyhow::Result;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509Extension, X509Name, X509};
use serde_json::{json, Value};

pub struct Signer {
    key: PKey<Private>,
    certificate_pem: String,
}

impl Signer {
    /// A P-256 key and a Fulcio-style certificate (email SAN, issuer extension).
    pub fn new(issuer: &str, email: &str) -> Result<Self> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let name = X509Name::builder()?.build();
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
        builder.set_not_before(&from)?;
        builder.set_not_after(&until)?;
        let san = SubjectAlternativeName::new()
            .email(email)
            .build(&builder.x509v3_context(None, None))?;
        builder.append_extension(san)?;
        let oid = Asn1Object::from_str("1.3.6.1.4.1.57264.1.1")?;
        let value = Asn1OctetString::new_from_bytes(issuer.as_bytes())?;
        builder.append_extension(X509Extension::new_from_der(&oid, false, &value)?)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let certificate_pem = String::from_utf8(builder.build().to_pem()?)?;
        Ok(Signer {
            key,
            certificate_pem,
        })
    }

    /// A signed, logged layer over a payload naming `digest` (`nonce` varies the payload).
    pub fn layer(&self, digest: &str, nonce: usize) -> Result<Value> {
        let payload = json!({
            "critical": {"identity": {"docker-reference": "ghcr.io/acme/app"},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature"},
            "optional": {"nonce": nonce.to_string()},
        })
        .to_string();
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
        let signature = signer.sign_oneshot_to_vec(payload.as_bytes())?;
        let payload_sha256 = hex::encode(openssl::sha::sha256(payload.as_bytes()));
        let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": payload_sha256}},
            "signature": {"content": BASE64.encode(&signature),
                "publicKey": {"content": BASE64.encode(&self.certificate_pem)}}}});
        let bundle = json!({"SignedEntryTimestamp": BASE64.encode([0u8; 71]),
            "Payload": {"body": BASE64.encode(body.to_string()), "integratedTime": 1_767_225_600,
                "logIndex": nonce, "logID": "0".repeat(64)}});
        Ok(json!({
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": payload.len(),
            "digest": format!("sha256:{payload_sha256}"),
            "annotations": {
                "dev.cosignproject.cosign/signature": BASE64.encode(&signature),
                "dev.sigstore.cosign/certificate": self.certificate_pem,
                "dev.sigstore.cosign/bundle": bundle.to_string(),
            },
        }))
    }
}

pub fn manifest(layers: Vec<Value>) -> Vec<u8> {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": layers})
    .to_string()
    .into_bytes()
}
