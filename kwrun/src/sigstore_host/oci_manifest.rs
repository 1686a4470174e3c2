//! `kubewarden/oci/v1/oci_manifest`: a manifest exactly as the registry serves it, for the
//! policy to read itself.

use super::messages::explain;
use super::registry::RegistryCall;
use super::SigstoreVerifier;
use crate::execution_timeout::Deadline;

/// What `oci/v1/oci_manifest` accepts: image manifests and indexes, OCI and Docker.
const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Fetches the manifest at the reference the payload (a JSON string) names, within one
/// registry call.
pub(super) fn answer(
    verifier: &mut SigstoreVerifier,
    payload: &[u8],
    deadline: Deadline,
) -> Result<Vec<u8>, String> {
    let image: String = serde_json::from_slice(payload)
        .map_err(|e| format!("invalid OCI manifest request (expected a JSON string): {e}"))?;
    let reference: oci_client::Reference = image
        .parse()
        .map_err(|e| format!("invalid image reference {image:?}: {e}"))?;
    let auth: oci_client::secrets::RegistryAuth =
        (&verifier.credentials.auth_for(reference.registry())).into();
    let registry = verifier.clients.registry();
    let call = RegistryCall::new(deadline, verifier.registry_timeout);
    let (manifest, _digest) = verifier
        .runtime
        .block_on(call.run("fetching the manifest", async {
            registry
                .pull_manifest_raw(&reference, &auth, MANIFEST_MEDIA_TYPES)
                .await
                .map_err(|e| explain(&e))
        }))
        .map_err(|e| format!("image {image}: {e}"))?;
    Ok(manifest.to_vec())
}

#[cfg(test)]
mod tests {
    use sigstore::registry::{ClientConfig, ClientProtocol};

    use crate::sigstore_host::lying_registry;
    use crate::sigstore_host::tests::{far_deadline, host_without_trust_root};
    use crate::sigstore_host::verify::tests::SHA256_ONE;

    #[test]
    fn oci_manifest_serves_the_raw_manifest_and_relays_manifest_unknown() {
        let registry = lying_registry::LyingRegistry::start(&[SHA256_ONE], SHA256_ONE);
        let mut host = host_without_trust_root();
        host.clients.config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(vec![registry.address.clone()]),
            ..ClientConfig::default()
        };
        let signatures = format!(
            "{}/app:{}.sig",
            registry.address,
            SHA256_ONE.replace(':', "-")
        );
        let manifest = host
            .oci_manifest(
                serde_json::to_string(&signatures).unwrap().as_bytes(),
                far_deadline(),
            )
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        let missing = format!("{}/app:sha256-{}.sig", registry.address, "9".repeat(64));
        let err = host
            .oci_manifest(
                serde_json::to_string(&missing).unwrap().as_bytes(),
                far_deadline(),
            )
            .unwrap_err();
        // The policy tells "no classic signatures" from a failure by these words, as kwctl's.
        assert!(err.contains("manifest unknown"), "{err}");
        assert!(host.oci_manifest(b"not json", far_deadline()).is_err());
    }
}
