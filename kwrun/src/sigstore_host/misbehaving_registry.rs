//! Registries on 127.0.0.1 that misbehave, for tests of kwrun's one deadline: each
//! evaluation must end in "not verified" with a reason, before its deadline, whatever the
//! registry does.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::lying_registry::{next_request, not_found, sha256_digest};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts connections and reads requests, but never answers.
    Silent,
    /// Answers with headers, then one body byte every half second.
    Trickling,
    /// Answers every manifest request with bytes that are not a manifest.
    GarbageManifests,
    /// Serves the image, and a signature manifest declaring a 1 GiB layer whose blob never
    /// ends.
    OversizedSignature,
}

/// Starts a registry misbehaving as told; returns its address (`127.0.0.1:port`).
pub fn start(misbehaviour: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, misbehaviour));
        }
    });
    address
}

/// An address where nothing listens: a registry that is down.
pub fn down() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// An OCI image manifest with an empty config and `layers`.
fn manifest_with(layers: serde_json::Value) -> Vec<u8> {
    let config = b"{}";
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(), "digest": sha256_digest(config)},
        "layers": layers,
    })
    .to_string()
    .into_bytes()
}

fn image_manifest() -> Vec<u8> {
    manifest_with(serde_json::json!([]))
}

fn oversized_signature_manifest() -> Vec<u8> {
    manifest_with(serde_json::json!([{
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "size": 1u64 << 30,
        "digest": format!("sha256:{}", "e".repeat(64)),
        "annotations": {"dev.cosignproject.cosign/signature": "c2lnbmF0dXJl"}}]))
}

fn serve(stream: TcpStream, misbehaviour: Misbehaviour) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    // Keep-alive: answer request after request on one connection.
    loop {
        let Some((method, path)) = next_request(&mut reader) else {
            return;
        };
        let (method, path) = (method.as_str(), path.as_str());
        let done = match misbehaviour {
            Misbehaviour::Silent => {
                // Hold the connection open without a word until the client gives up.
                let _ = reader.read_line(&mut String::new());
                return;
            }
            Misbehaviour::Trickling => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
                while stream.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_millis(500));
                }
                return;
            }
            Misbehaviour::GarbageManifests => answer(&mut stream, method, path, |_| {
                Some(b"\x00 this is { not a manifest".to_vec())
            }),
            Misbehaviour::OversizedSignature => {
                if path.contains("/blobs/") {
                    // The blob the manifest declares, at about 64 MB/s, as over a fast network.
                    let _ =
                        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
                    let chunk = vec![0u8; 64 * 1024];
                    while stream.write_all(&chunk).is_ok() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    return;
                }
                answer(&mut stream, method, path, |reference| {
                    Some(if reference.ends_with(".sig") {
                        oversized_signature_manifest()
                    } else {
                        image_manifest()
                    })
                })
            }
        };
        if done.is_err() {
            return;
        }
    }
}

/// Answers `/v2/` and manifest requests with `manifest_at(reference)`; anything else is
/// unknown.
fn answer(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    manifest_at: impl Fn(&str) -> Option<Vec<u8>>,
) -> std::io::Result<()> {
    let (status, content_type, body) = if path == "/v2/" {
        (200, "application/json".to_string(), b"{}".to_vec())
    } else if let Some(manifest) = path
        .strip_prefix("/v2/app/manifests/")
        .and_then(&manifest_at)
    {
        (200, OCI_MANIFEST.to_string(), manifest)
    } else {
        let (status, headers, body) = not_found("MANIFEST_UNKNOWN");
        (status, headers[0].1.clone(), body)
    };
    let mut response = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\n\
         Docker-Content-Digest: {}\r\n\r\n",
        body.len(),
        sha256_digest(&body)
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(&body);
    }
    stream.write_all(&response)
}
