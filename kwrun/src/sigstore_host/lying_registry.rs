//! A registry on 127.0.0.1 that lies about digests, for tests: it answers each manifest
//! digest look-up of the image with the next digest of a script, and serves real signatures
//! (signed by a key the test trusts) for whichever digest the script ends on. kwrun must only
//! ever answer with the digest it resolved first, and only with signatures for that digest.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub struct LyingRegistry {
    pub address: String,
    pub public_key_pem: String,
}

struct Content {
    /// Answers to successive digest look-ups of the image; the last one repeats.
    digest_script: Vec<String>,
    lookups: usize,
    /// Manifests by tag, blobs by digest.
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
}

pub(super) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(openssl::sha::sha256(bytes)))
}

impl LyingRegistry {
    /// Starts the registry; `digest_script` lists the answers to the image's digest look-ups,
    /// and the key-signed cosign signature is stored for `signed_digest`.
    pub fn start(digest_script: &[&str], signed_digest: &str) -> Self {
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let mut content = Content {
            digest_script: digest_script.iter().map(|d| d.to_string()).collect(),
            lookups: 0,
            manifests: BTreeMap::new(),
            blobs: BTreeMap::new(),
        };
        content.sign(&key, &address, signed_digest);
        let content = Arc::new(Mutex::new(content));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let content = Arc::clone(&content);
                std::thread::spawn(move || serve(stream, &content));
            }
        });
        LyingRegistry {
            address,
            public_key_pem: String::from_utf8(key.public_key_to_pem().unwrap()).unwrap(),
        }
    }
}

impl Content {
    /// Stores a `<alg>-<hex>.sig` manifest with one layer, signed by `key`, naming `digest`.
    fn sign(&mut self, key: &PKey<Private>, address: &str, digest: &str) {
        let payload = serde_json::json!({
            "critical": {"identity": {"docker-reference": format!("{address}/app")},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature"},
            "optional": null})
        .to_string()
        .into_bytes();
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).unwrap();
        let signature = BASE64.encode(signer.sign_oneshot_to_vec(&payload).unwrap());
        let config = b"{}".to_vec();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config.len(), "digest": sha256_digest(&config)},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "size": payload.len(), "digest": sha256_digest(&payload),
                "annotations": {"dev.cosignproject.cosign/signature": signature}}],
        })
        .to_string()
        .into_bytes();
        self.blobs.insert(sha256_digest(&payload), payload);
        self.blobs.insert(sha256_digest(&config), config);
        self.manifests
            .insert(format!("{}.sig", digest.replacen(':', "-", 1)), manifest);
    }

    fn next_digest(&mut self) -> String {
        let answer = self.digest_script[self.lookups.min(self.digest_script.len() - 1)].clone();
        self.lookups += 1;
        answer
    }

    /// Status, headers and body for one request.
    fn answer(&mut self, method: &str, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if let Some(digest) = path.strip_prefix("/v2/app/blobs/") {
            return match self.blobs.get(digest) {
                Some(blob) => (200, vec![], blob.clone()),
                None => not_found("BLOB_UNKNOWN"),
            };
        }
        let Some(reference) = path.strip_prefix("/v2/app/manifests/") else {
            return not_found("NAME_UNKNOWN");
        };
        if let Some(manifest) = self.manifests.get(reference) {
            let headers = vec![
                ("Content-Type".into(), OCI_MANIFEST.into()),
                ("Docker-Content-Digest".into(), sha256_digest(manifest)),
            ];
            return (200, headers, manifest.clone());
        }
        if reference.ends_with(".sig") {
            return not_found("MANIFEST_UNKNOWN");
        }
        // The image itself, by tag or by digest: the lie.
        let digest = self.next_digest();
        let body = if method == "HEAD" {
            vec![]
        } else {
            b"{}".to_vec()
        };
        let headers = vec![
            ("Content-Type".into(), OCI_MANIFEST.into()),
            ("Docker-Content-Digest".into(), digest),
        ];
        (200, headers, body)
    }
}

pub(super) fn not_found(code: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::json!({"errors": [{"code": code, "message": code.to_lowercase().replace('_', " ")}]});
    (
        404,
        vec![("Content-Type".into(), "application/json".into())],
        body.to_string().into_bytes(),
    )
}

/// The method and path of the next HTTP request on `reader`, its headers read past; `None`
/// when the client is gone.
pub(super) fn next_request(reader: &mut impl BufRead) -> Option<(String, String)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return None,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    Some((method.to_string(), path.to_string()))
}

fn serve(stream: TcpStream, content: &Mutex<Content>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let Some((method, path)) = next_request(&mut reader) else {
        return;
    };
    let method = method.as_str();
    let (status, headers, body) = content.lock().unwrap().answer(method, &path);
    let mut response = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&body);
    }
}
