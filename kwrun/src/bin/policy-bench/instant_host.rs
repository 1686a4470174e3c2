//! The model host both policies run against: it answers at once, so only guest work is
//! measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kwrun::policy_runtime::{Deadline, HostCallHandler};
use serde_json::json;

/// The digest every verification answers with.
pub const VERIFIED_DIGEST: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Answers `oci/v2/verify` and `crypto/v1/is_certificate_trusted` with "trusted" at once,
/// serves the `.sig` manifests it holds (any other reference is "manifest unknown", as a
/// registry says it), and counts the calls; anything else is an error, so a policy taking
/// another path shows up as a rejection, not as a fast number.
pub struct InstantHost {
    pub calls: Arc<AtomicUsize>,
    pub manifests: Arc<BTreeMap<String, Vec<u8>>>,
}

impl HostCallHandler for InstantHost {
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
        _deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v2/verify") => {
                Ok(json!({"is_trusted": true, "digest": VERIFIED_DIGEST})
                    .to_string()
                    .into_bytes())
            }
            ("kubewarden", "crypto", "v1/is_certificate_trusted") => {
                Ok(br#"{"trusted":true,"reason":""}"#.to_vec())
            }
            ("kubewarden", "oci", "v1/oci_manifest") => {
                let reference: String =
                    serde_json::from_slice(payload).map_err(|e| e.to_string())?;
                self.manifests
                    .get(&reference)
                    .cloned()
                    .ok_or_else(|| "OCI API errors: [OCI API error: manifest unknown]".to_string())
            }
            _ => Err(format!(
                "the benchmark host serves only oci/v2/verify, not {namespace}/{operation}"
            )),
        }
    }
}
