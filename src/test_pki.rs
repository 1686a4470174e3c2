//! Real keys, certificates, signatures, Rekor bundles and `.sig` manifests for the unit tests of
//! the signature manifest and certificate identity readers, made with OpenSSL: an
//! implementation independent of the RustCrypto DER decoding under test.

use base64ct::{Base64, Encoding};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509Builder, X509Name, X509NameRef, X509};
use serde_json::{json, Value};

pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha256(data)))
}

/// A private key of one of the kinds cosign signs with.
pub struct TestKey {
    key: PKey<Private>,
    digest: Option<MessageDigest>,
}

impl TestKey {
    fn ec(curve: Nid, digest: MessageDigest) -> Self {
        let group = EcGroup::from_curve_name(curve).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        TestKey {
            key,
            digest: Some(digest),
        }
    }

    pub fn p256() -> Self {
        Self::ec(Nid::X9_62_PRIME256V1, MessageDigest::sha256())
    }

    pub fn p384() -> Self {
        Self::ec(Nid::SECP384R1, MessageDigest::sha384())
    }

    pub fn rsa(bits: u32) -> Self {
        TestKey {
            key: PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap(),
            digest: Some(MessageDigest::sha256()),
        }
    }

    pub fn ed25519() -> Self {
        TestKey {
            key: PKey::generate_ed25519().unwrap(),
            digest: None,
        }
    }

    /// Signs as cosign does: ECDSA DER over SHA-256 (SHA-384 on P-384), RSA PKCS#1 v1.5 over
    /// SHA-256, Ed25519 over the message.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let mut signer = match self.digest {
            Some(digest) => Signer::new(digest, &self.key).unwrap(),
            None => Signer::new_without_digest(&self.key).unwrap(),
        };
        signer.sign_oneshot_to_vec(payload).unwrap()
    }

    pub fn public_key_pem(&self) -> String {
        String::from_utf8(self.key.public_key_to_pem().unwrap()).unwrap()
    }

    /// A Fulcio-style certificate for this key, issued 2026-01-02T03:04:05Z for ten minutes,
    /// carrying `spec`'s identity (self-signed: chains are the host's to check).
    pub fn fulcio_certificate_pem(&self, spec: &CertificateSpec) -> String {
        use openssl::asn1::{Asn1Object, Asn1OctetString};
        use openssl::x509::extension::SubjectAlternativeName;
        use openssl::x509::X509Extension;
        let mut builder = self.self_signed(
            &X509Name::builder().unwrap().build(),
            &Asn1Time::from_str("20260102030405Z").unwrap(),
            &Asn1Time::from_str("20260102031405Z").unwrap(),
        );
        if let Some(san) = &spec.san {
            let mut names = SubjectAlternativeName::new();
            match san {
                San::Email(email) => names.email(email),
                San::Uri(uri) => names.uri(uri),
            };
            let extension = names.build(&builder.x509v3_context(None, None)).unwrap();
            builder.append_extension(extension).unwrap();
        }
        let mut custom = |oid: &str, content: Vec<u8>| {
            let oid = Asn1Object::from_str(oid).unwrap();
            let content = Asn1OctetString::new_from_bytes(&content).unwrap();
            builder
                .append_extension(X509Extension::new_from_der(&oid, false, &content).unwrap())
                .unwrap();
        };
        if let Some(issuer) = spec.issuer_v1 {
            custom("1.3.6.1.4.1.57264.1.1", issuer.as_bytes().to_vec());
        }
        if let Some(issuer) = spec.issuer_v2 {
            // A DER UTF8String (tag 12), short form length.
            let mut der = vec![12, u8::try_from(issuer.len()).unwrap()];
            der.extend_from_slice(issuer.as_bytes());
            custom("1.3.6.1.4.1.57264.1.8", der);
        }
        if let Some(repository) = spec.workflow_repository {
            custom("1.3.6.1.4.1.57264.1.5", repository.as_bytes().to_vec());
        }
        self.signed_pem(builder)
    }

    /// A self-signed certificate for this key (the proof never checks chains: the host does).
    pub fn certificate_pem(&self, subject: &str) -> String {
        let mut name = X509Name::builder().unwrap();
        name.append_entry_by_text("CN", subject).unwrap();
        let builder = self.self_signed(
            &name.build(),
            &Asn1Time::days_from_now(0).unwrap(),
            &Asn1Time::days_from_now(1).unwrap(),
        );
        self.signed_pem(builder)
    }

    /// A v3 certificate of this key, issued by `name` to itself, valid in the given window.
    fn self_signed(
        &self,
        name: &X509NameRef,
        not_before: &Asn1TimeRef,
        not_after: &Asn1TimeRef,
    ) -> X509Builder {
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(name).unwrap();
        builder.set_issuer_name(name).unwrap();
        builder.set_pubkey(&self.key).unwrap();
        builder.set_not_before(not_before).unwrap();
        builder.set_not_after(not_after).unwrap();
        builder
    }

    /// `builder`'s certificate, signed by this key, as PEM.
    fn signed_pem(&self, mut builder: X509Builder) -> String {
        let digest = self.digest.unwrap_or_else(MessageDigest::null);
        builder.sign(&self.key, digest).unwrap();
        String::from_utf8(builder.build().to_pem().unwrap()).unwrap()
    }
}

/// The subject alternative name of a test certificate.
#[derive(Debug, Clone)]
pub enum San {
    Email(String),
    Uri(String),
}

/// What a Fulcio-style test certificate claims.
#[derive(Debug, Clone)]
pub struct CertificateSpec {
    pub san: Option<San>,
    pub issuer_v1: Option<&'static str>,
    pub issuer_v2: Option<&'static str>,
    pub workflow_repository: Option<&'static str>,
}

impl CertificateSpec {
    /// Issued by `https://idp` (the v1 extension) to this email.
    pub fn email(email: &str) -> Self {
        CertificateSpec {
            san: Some(San::Email(email.to_string())),
            issuer_v1: Some("https://idp"),
            issuer_v2: None,
            workflow_repository: None,
        }
    }

    /// Issued by `https://idp` (the v1 extension) to this URI.
    pub fn uri(uri: &str) -> Self {
        CertificateSpec {
            san: Some(San::Uri(uri.to_string())),
            ..Self::email("")
        }
    }
}

/// The bundle annotation cosign writes: a hashedrekord body logging `payload_sha256`, the
/// signature and the signer's certificate or key (PEM). The SET is not checked by the policy
/// (the host checks it), so it is a placeholder here.
pub fn rekor_bundle(payload_sha256: &[u8; 32], signature: &[u8], public_key_pem: &str) -> String {
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(payload_sha256)}},
            "signature": {
                "content": Base64::encode_string(signature),
                "publicKey": {"content": Base64::encode_string(public_key_pem.as_bytes())},
            },
        },
    });
    json!({
        "SignedEntryTimestamp": "MEUCIQ==",
        "Payload": {
            "body": Base64::encode_string(body.to_string().as_bytes()),
            "integratedTime": 1_700_000_000,
            "logIndex": 1,
            "logID": "00",
        },
    })
    .to_string()
}

/// One layer of a `.sig` manifest, built up as a test needs it.
#[derive(Clone)]
pub struct TestLayer {
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    pub certificate: Option<String>,
    pub bundle: Option<String>,
}

impl TestLayer {
    /// A genuine keyless-style layer: signed by `key`, its certificate attached, logged.
    pub fn logged(key: &TestKey, certificate: &str, payload: &[u8]) -> Self {
        let signature = key.sign(payload);
        TestLayer {
            bundle: Some(rekor_bundle(&sha256(payload), &signature, certificate)),
            payload: payload.to_vec(),
            signature,
            certificate: Some(certificate.to_string()),
        }
    }

    /// A layer signed by a bare key, no certificate, no bundle.
    pub fn by_key(key: &TestKey, payload: &[u8]) -> Self {
        TestLayer {
            payload: payload.to_vec(),
            signature: key.sign(payload),
            certificate: None,
            bundle: None,
        }
    }

    pub fn descriptor(&self) -> Value {
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            "dev.cosignproject.cosign/signature".into(),
            Base64::encode_string(&self.signature).into(),
        );
        if let Some(certificate) = &self.certificate {
            annotations.insert(
                "dev.sigstore.cosign/certificate".into(),
                certificate.clone().into(),
            );
        }
        if let Some(bundle) = &self.bundle {
            annotations.insert("dev.sigstore.cosign/bundle".into(), bundle.clone().into());
        }
        json!({
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": self.payload.len(),
            "digest": sha256_digest(&self.payload),
            "annotations": annotations,
        })
    }
}

/// The `.sig` manifest holding `layers`, as a registry serves it.
pub fn signature_manifest(layers: &[TestLayer]) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": sha256_digest(b"{}"),
        },
        "layers": layers.iter().map(TestLayer::descriptor).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

/// A simple-signing payload naming `digest`, with `optional` annotations.
pub fn payload(digest: &str, optional: Value) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": "registry.test/app"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    })
    .to_string()
    .into_bytes()
}
