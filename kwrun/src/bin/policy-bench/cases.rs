//! The requests both policies answer: Pods, a Deployment and a CronJob of every size the
//! comparison needs, with `pubKeys` settings, and the keyless cases with their `.sig` manifests.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::instant_host::VERIFIED_DIGEST;
use crate::model_pki;

/// The key every rule trusts: any well-formed key does, the fake host never checks it.
const PUBLIC_KEY: &str = include_str!("../../../../test_data/pem/p256.pub.pem");
const CRONJOB_REQUEST: &str =
    include_str!("../../../../test_data/requests/cronjob_every_image_field.json");

pub struct Case {
    pub name: String,
    pub payload: Vec<u8>,
}

impl Case {
    fn new(name: &str, request: Value) -> Self {
        let settings = json!({
            "signatures": [{"image": "*", "pubKeys": [PUBLIC_KEY]}],
            "modifyImagesWithDigest": true,
        });
        Self::with_settings(name, request, settings)
    }

    fn with_settings(name: &str, request: Value, settings: Value) -> Self {
        let payload = json!({"request": request, "settings": settings}).to_string();
        Case {
            name: name.to_string(),
            payload: payload.into_bytes(),
        }
    }
}

fn container(index: usize, image: &str) -> Value {
    json!({"name": format!("c{index}"), "image": image})
}

fn admission_request(group: &str, kind: &str, object: Value) -> Value {
    let version = "v1";
    json!({
        "uid": "bench",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "namespace": "bench",
        "operation": "CREATE",
        "userInfo": {"username": "bench"},
        "object": object,
    })
}

fn pod(containers: Vec<Value>) -> Value {
    admission_request(
        "",
        "Pod",
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bench", "namespace": "bench"},
            "spec": {"containers": containers},
        }),
    )
}

/// The keyless signer of the keyless cases.
const KEYLESS_ISSUER: &str = "https://oidc.bench.test";
const KEYLESS_SUBJECT: &str = "alice@bench.test";

fn keyless_settings() -> Value {
    json!({
        "signatures": [{"image": "*", "keyless": [{"issuer": KEYLESS_ISSUER, "subject": KEYLESS_SUBJECT}]}],
        "modifyImagesWithDigest": true,
    })
}

fn keyless_cases() -> Vec<Case> {
    let image = |repository: &str| container(0, &format!("ghcr.io/acme/{repository}:1.0"));
    vec![
        Case::with_settings(
            "Pod, 1 container, keyless",
            pod(vec![image("keyless")]),
            keyless_settings(),
        ),
        Case::with_settings(
            "Pod, 1 container, keyless, `.sig` of 1,000 genuine layers",
            pod(vec![image("keyless-1000-genuine")]),
            keyless_settings(),
        ),
        Case::with_settings(
            "Pod, 1 container, keyless, `.sig` of 999 forged layers then a genuine one",
            pod(vec![image("keyless-1000-forged")]),
            keyless_settings(),
        ),
    ]
}

/// The `.sig` manifests of the keyless cases, by reference: one genuine layer; 1,000 genuine
/// layers (one signer signing again and again); and 999 layers an attacker pushed (the genuine
/// certificate copied, each payload different, a garbage signature, a bundle copied from the
/// genuine one) before the genuine layer.
pub fn keyless_manifests() -> Result<BTreeMap<String, Vec<u8>>> {
    let signer = model_pki::Signer::new(KEYLESS_ISSUER, KEYLESS_SUBJECT)?;
    let genuine = signer.layer(VERIFIED_DIGEST, 0)?;
    let mut attack: Vec<Value> = (1..1000)
        .map(|i| {
            let mut forged = signer.layer(VERIFIED_DIGEST, i)?;
            forged["annotations"]["dev.sigstore.cosign/bundle"] =
                genuine["annotations"]["dev.sigstore.cosign/bundle"].clone();
            forged["annotations"]["dev.cosignproject.cosign/signature"] = json!("Z2FyYmFnZQ==");
            Ok(forged)
        })
        .collect::<Result<_>>()?;
    attack.push(genuine.clone());
    let genuine_many: Vec<Value> = (0..1000)
        .map(|i| signer.layer(VERIFIED_DIGEST, i))
        .collect::<Result<_>>()?;
    let sig = |repository: &str| {
        format!(
            "ghcr.io/acme/{repository}:{}.sig",
            VERIFIED_DIGEST.replace(':', "-")
        )
    };
    Ok(BTreeMap::from([
        (sig("keyless"), model_pki::manifest(vec![genuine])),
        (
            sig("keyless-1000-genuine"),
            model_pki::manifest(genuine_many),
        ),
        (sig("keyless-1000-forged"), model_pki::manifest(attack)),
    ]))
}

pub fn cases() -> Result<Vec<Case>> {
    let one_image = |i| container(i, "ghcr.io/acme/app:1.0");
    let distinct = |i| container(i, &format!("ghcr.io/acme/app-{i}:1.0"));
    // A Pod of about 1 MiB: one container whose environment carries the bulk, as large
    // generated configuration does.
    let big_env: Vec<Value> = (0..1024)
        .map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(1000)}))
        .collect();
    let mut big = one_image(0);
    big["env"] = Value::Array(big_env);
    let deployment = admission_request(
        "apps",
        "Deployment",
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench", "namespace": "bench"},
            "spec": {"template": {"spec": {"containers": (0..20).map(distinct).collect::<Vec<_>>()}}},
        }),
    );
    let cronjob: Value =
        serde_json::from_str(CRONJOB_REQUEST).context("test_data CronJob request")?;
    Ok([
        Case::new("Pod, 1 container", pod(vec![one_image(0)])),
        Case::new(
            "Pod, 100 containers, one image",
            pod((0..100).map(one_image).collect()),
        ),
        Case::new(
            "Pod, 100 distinct images",
            pod((0..100).map(distinct).collect()),
        ),
        Case::new("Deployment, 20 images", deployment),
        Case::new("CronJob (test_data)", cronjob),
        Case::new("Pod, 1 MiB object", pod(vec![big])),
        Case::new(
            "Pod, 10,000 containers, one image",
            pod((0..10_000).map(one_image).collect()),
        ),
    ]
    .into_iter()
    .chain(keyless_cases())
    .collect())
}
