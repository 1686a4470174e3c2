//! `kubewarden/oci/v1/manifest_digest`: the digest the registry resolves an image to.

use sigstore::cosign::CosignCapabilities;

use super::registry::{parse_reference, RegistryCall};
use super::SigstoreVerifier;
use crate::execution_timeout::Deadline;

/// Resolves the image named by the payload (a JSON string) within one registry call.
pub(super) fn answer(
    verifier: &mut SigstoreVerifier,
    payload: &[u8],
    deadline: Deadline,
) -> Result<Vec<u8>, String> {
    let image: String = serde_json::from_slice(payload)
        .map_err(|e| format!("invalid manifest digest request (expected a JSON string): {e}"))?;
    let reference = parse_reference(&image)?;
    let auth = verifier.credentials.auth_for(reference.registry());
    let client = verifier.clients.cosign()?;
    let call = RegistryCall::new(deadline, verifier.registry_timeout);
    let digest = verifier
        .runtime
        .block_on(call.bounded("resolving the manifest digest", async {
            client.triangulate(&reference, &auth).await
        }))
        .map_err(|e| format!("image {image}: {e}"))?
        .1;
    serde_json::to_vec(&serde_json::json!({"digest": digest})).map_err(|e| e.to_string())
}
