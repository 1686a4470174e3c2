//! Reads a Sigstore `ClientTrustConfig` (protobuf-specs JSON form) into the
//! key material the `sigstore` crate verifies with: Fulcio CA certificates,
//! Rekor (transparency log) keys and CT log keys.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use sigstore::trust::ManualTrustRoot;

/// The trust material from one trust-config file, owned so that a
/// [`ManualTrustRoot`] can borrow it while the cosign client is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustMaterial {
    /// DER certificates of every certificate authority chain (roots and
    /// intermediates alike: the crate treats them all as trust anchors).
    pub fulcio_certs: Vec<Vec<u8>>,
    /// Rekor keys (DER SPKI) by the hex of their log id, which is how the
    /// crate looks up the key that signed a bundle (`logID` in the bundle).
    pub rekor_keys: BTreeMap<String, Vec<u8>>,
    /// CT log keys (DER SPKI) by hex log id.
    pub ctfe_keys: BTreeMap<String, Vec<u8>>,
}

impl TrustMaterial {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read Sigstore trust config {}", path.display()))?;
        Self::from_json(&text)
            .with_context(|| format!("invalid Sigstore trust config {}", path.display()))
    }

    /// Accepts a `ClientTrustConfig` (`{"trustedRoot": {...}}`) or a bare
    /// `TrustedRoot`, since both circulate as "the trust root".
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        let root_value = value.get("trustedRoot").cloned().unwrap_or(value);
        let root: TrustedRoot =
            serde_json::from_value(root_value).context("trustedRoot does not match the schema")?;

        let mut material = TrustMaterial::default();
        for (i, ca) in root.certificate_authorities.iter().enumerate() {
            for (j, cert) in ca.cert_chain.certificates.iter().enumerate() {
                let der = decode_b64(&cert.raw_bytes).with_context(|| {
                    format!("certificateAuthorities[{i}].certChain.certificates[{j}].rawBytes")
                })?;
                material.fulcio_certs.push(der);
            }
        }
        for (i, log) in root.tlogs.iter().enumerate() {
            let (id, key) = log.key_by_id().with_context(|| format!("tlogs[{i}]"))?;
            material.rekor_keys.insert(id, key);
        }
        for (i, log) in root.ctlogs.iter().enumerate() {
            let (id, key) = log.key_by_id().with_context(|| format!("ctlogs[{i}]"))?;
            material.ctfe_keys.insert(id, key);
        }
        if material.fulcio_certs.is_empty() && material.rekor_keys.is_empty() {
            bail!("trustedRoot holds neither certificate authorities nor transparency logs");
        }
        Ok(material)
    }

    /// A trust root borrowing this material, for `ClientBuilder::with_trust_repository`.
    pub fn trust_root(&self) -> ManualTrustRoot<'_> {
        ManualTrustRoot {
            fulcio_certs: self
                .fulcio_certs
                .iter()
                .map(|der| der.as_slice().into())
                .collect(),
            rekor_keys: self.rekor_keys.clone(),
            ctfe_keys: self.ctfe_keys.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRoot {
    #[serde(default)]
    tlogs: Vec<TransparencyLog>,
    #[serde(default)]
    certificate_authorities: Vec<CertificateAuthority>,
    #[serde(default)]
    ctlogs: Vec<TransparencyLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransparencyLog {
    public_key: PublicKey,
    log_id: Option<LogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    cert_chain: CertChain,
}

#[derive(Deserialize)]
struct CertChain {
    #[serde(default)]
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

impl TransparencyLog {
    /// The key and the hex id bundles refer to it by. A missing `logId` is
    /// derived as the spec defines it: SHA-256 of the DER public key.
    fn key_by_id(&self) -> Result<(String, Vec<u8>)> {
        let key = decode_b64(&self.public_key.raw_bytes).context("publicKey.rawBytes")?;
        let id = match &self.log_id {
            Some(log_id) => decode_b64(&log_id.key_id).context("logId.keyId")?,
            None => openssl::sha::sha256(&key).to_vec(),
        };
        Ok((hex::encode(id), key))
    }
}

fn decode_b64(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("not valid base64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn client_trust_config(log_id: Option<&[u8]>) -> String {
        let mut tlog = json!({
            "baseUrl": "https://rekor.local",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(b"rekor-key-der"), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2024-01-01T00:00:00Z"}},
        });
        if let Some(id) = log_id {
            tlog["logId"] = json!({"keyId": b64(id)});
        }
        json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [tlog],
                "certificateAuthorities": [{
                    "subject": {"organization": "local", "commonName": "local"},
                    "uri": "https://fulcio.local",
                    "certChain": {"certificates": [{"rawBytes": b64(b"ca-der")}]},
                    "validFor": {"start": "2024-01-01T00:00:00Z"}
                }],
                "ctlogs": [{"publicKey": {"rawBytes": b64(b"ct-key-der")}, "logId": {"keyId": b64(&[0xab, 0xcd])}}],
                "timestampAuthorities": []
            },
            "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}
        })
        .to_string()
    }

    #[test]
    fn client_trust_config_maps_to_trust_material() {
        let material = TrustMaterial::from_json(&client_trust_config(Some(&[0x01, 0xff]))).unwrap();
        assert_eq!(material.fulcio_certs, vec![b"ca-der".to_vec()]);
        assert_eq!(
            material.rekor_keys.get("01ff"),
            Some(&b"rekor-key-der".to_vec())
        );
        assert_eq!(
            material.ctfe_keys.get("abcd"),
            Some(&b"ct-key-der".to_vec())
        );
        let root = material.trust_root();
        assert_eq!(root.fulcio_certs.len(), 1);
    }

    #[test]
    fn missing_log_id_is_the_sha256_of_the_key() {
        let material = TrustMaterial::from_json(&client_trust_config(None)).unwrap();
        let expected = hex::encode(openssl::sha::sha256(b"rekor-key-der"));
        assert!(material.rekor_keys.contains_key(&expected));
    }

    #[test]
    fn bare_trusted_root_is_accepted() {
        let config: serde_json::Value =
            serde_json::from_str(&client_trust_config(Some(&[1]))).unwrap();
        let material = TrustMaterial::from_json(&config["trustedRoot"].to_string()).unwrap();
        assert_eq!(material.rekor_keys.len(), 1);
    }

    #[test]
    fn bad_base64_names_the_field() {
        let text = json!({"trustedRoot": {"certificateAuthorities": [
            {"certChain": {"certificates": [{"rawBytes": "%%%"}]}}]}})
        .to_string();
        let err = format!("{:#}", TrustMaterial::from_json(&text).unwrap_err());
        assert!(
            err.contains("certificateAuthorities[0].certChain.certificates[0].rawBytes"),
            "{err}"
        );
    }

    #[test]
    fn empty_trust_root_is_refused() {
        let err = TrustMaterial::from_json(r#"{"trustedRoot": {}}"#).unwrap_err();
        assert!(format!("{err:#}").contains("neither"));
    }
}
