//! The whole admission path on arbitrary AdmissionRequest JSON (workloads, and a custom resource
//! located by JSONPath), with a host that trusts every
//! image: never a panic, and an admitted object differs from the request only in image strings
//! that now end with the digest the host returned.
#![no_main]

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use verify_image_signatures::{admit, Decision, Settings, SigstoreHost, VerificationRequest};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const KEY: &str = include_str!("../../test_data/pem/p256.pub.pem");

struct TrustingHost;

impl SigstoreHost for TrustingHost {
    fn verify(&self, _request: &VerificationRequest<'_>) -> Result<String, String> {
        Ok(DIGEST.to_string())
    }
    fn certificate_trusted(
        &self,
        _certificate: &str,
        _chain: &[String],
        _at: Option<&str>,
    ) -> Result<(), String> {
        Ok(())
    }
    fn oci_manifest(&self, _reference: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Every leaf of `after` that differs from `before` must be an image string pinned to DIGEST.
fn only_images_pinned(before: &Value, after: &Value) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            assert_eq!(b.len(), a.len());
            for (key, value) in b {
                only_images_pinned(value, &a[key]);
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            assert_eq!(b.len(), a.len());
            b.iter().zip(a).for_each(|(b, a)| only_images_pinned(b, a));
        }
        (Value::String(b), Value::String(a)) if a != b => {
            assert!(a.ends_with(&format!("@{DIGEST}")), "{b:?} became {a:?}");
        }
        (b, a) => assert_eq!(b, a),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<KubernetesAdmissionRequest>(data) else {
        return;
    };
    let settings = Settings::parse(&json!({
        "signatures": [{"image": "*", "pubKeys": [KEY]}],
        "skipImages": ["docker.io/library/busybox:*"],
        "customResources": [{"group": "argoproj.io", "kind": "Rollout", "paths": [
            "$.spec.template.spec.containers[*].image",
            "$..initContainers[*].image"
        ]}]
    }))
    .expect("the fuzz settings are valid");
    let admission = admit(&request, &settings, &TrustingHost);
    match admission.decision {
        Decision::Mutate(object) => only_images_pinned(&request.object, &object),
        Decision::Accept | Decision::Reject(_) => {}
    }
});
