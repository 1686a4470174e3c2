//! `kubewarden/oci/v2/verify`: resolves the image's digest once, fetches its signatures by that
//! digest, keeps the ones that hold up, and answers with the digest when every signer the
//! request names is met.

use sigstore::cosign::CosignCapabilities;
use sigstore::registry::OciReference;

use super::layer_proof::prove_layers;
use super::messages::{describe_layer, is_v3_bundle, V3_ANNOTATIONS_HINT};
use super::plan::{plan, SignerDemands, SignerRequirement, VerifyRequest};
use super::registry::{parse_reference, RegistryCall};
use super::SigstoreVerifier;
use crate::execution_timeout::Deadline;

/// Answers from the cache of recent successes, else by checking the request's plan; only a
/// success is remembered.
pub(super) fn answer(
    verifier: &mut SigstoreVerifier,
    payload: &[u8],
    deadline: Deadline,
) -> Result<Vec<u8>, String> {
    if let Some(response) = verifier.cache.get(payload) {
        return Ok(response);
    }
    let request: VerifyRequest = serde_json::from_slice(payload)
        .map_err(|e| format!("invalid sigstore verification request: {e}"))?;
    let plan = plan(request).map_err(|e| format!("invalid sigstore verification request: {e}"))?;
    let digest =
        check(verifier, &plan, deadline).map_err(|e| format!("image {}: {e}", plan.image))?;
    let response = serde_json::json!({"is_trusted": true, "digest": digest});
    let response = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
    verifier.cache.remember_success(payload, &response);
    Ok(response)
}

/// Returns the verified manifest digest, or why the image is not trusted.
fn check(
    verifier: &mut SigstoreVerifier,
    plan: &SignerDemands,
    deadline: Deadline,
) -> Result<String, String> {
    if let (Some(reason), false) = (plan.needs_trust_root, verifier.has_trust_root) {
        return Err(format!(
            "no Sigstore trust root configured ({reason}); pass --sigstore-trust-config"
        ));
    }
    let reference = parse_reference(&plan.image)?;
    let auth = verifier.credentials.auth_for(reference.registry());
    let client = verifier.clients.cosign()?;
    let registry_timeout = verifier.registry_timeout;
    let (digest, layers) = verifier.runtime.block_on(async {
        // Resolve once, then look signatures up by that digest, so a tag
        // moved meanwhile cannot pair one image's digest with another's
        // signatures.
        let (signature_image, digest) = RegistryCall::new(deadline, registry_timeout)
            .bounded("resolving the manifest digest", async {
                client.triangulate(&reference, &auth).await
            })
            .await?;
        let pinned = OciReference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            digest.clone(),
        );
        let layers = RegistryCall::new(deadline, registry_timeout)
            .bounded("fetching signatures", async {
                client.trusted_signature_layers(&auth, &pinned).await
            })
            .await?;
        if layers.is_empty() {
            return Err(format!(
                "no verifiable signatures found for {digest} (looked for classic signatures at {signature_image} and for cosign v3 bundles among the image's OCI referrers)"
            ));
        }
        Ok((digest, layers))
    })?;
    // The one digest this verification resolved is the one it answers with; a registry
    // that answers a tag with another algorithm or a malformed digest is not trusted.
    if !is_sha256_digest(&digest) {
        return Err(format!(
            "the registry resolved the image to {digest:?}, not a sha256 digest"
        ));
    }
    let proof = prove_layers(layers, &digest);
    let layers = proof.proven;
    let dropped = if proof.dropped.is_empty() {
        String::new()
    } else {
        format!("; {}", proof.dropped.join("; "))
    };
    if layers.is_empty() {
        return Err(format!(
            "not trusted: no signature of {digest} holds up{dropped}"
        ));
    }

    let unmet: Vec<&SignerRequirement> = plan
        .requirements
        .iter()
        .filter(|requirement| {
            !layers
                .iter()
                .any(|layer| requirement.constraint.verify(layer).unwrap_or(false))
        })
        .collect();
    if unmet.is_empty() {
        return Ok(digest);
    }
    let names: Vec<&str> = unmet.iter().map(|r| r.name.as_str()).collect();
    let found: Vec<String> = layers.iter().map(describe_layer).collect();
    // Otherwise the user sees their signer's v3 signature listed and no reason it failed.
    let hint = if unmet.iter().any(|r| r.wants_annotations) && layers.iter().any(is_v3_bundle) {
        V3_ANNOTATIONS_HINT
    } else {
        ""
    };
    Err(format!(
        "not trusted: no signature by {} (the {} verified signature(s) of {digest}: {}){hint}{dropped}",
        names.join("; no signature by "),
        layers.len(),
        found.join("; ")
    ))
}

fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sigstore_host::tests::{
        far_deadline, host_without_trust_root, plain_http_host, pub_key_request,
    };
    use crate::sigstore_host::{lying_registry, misbehaving_registry, plan, REGISTRY_TIMEOUT};

    pub(in crate::sigstore_host) const SHA256_ONE: &str =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// Asks a host that reaches `registry` over plain HTTP to verify `registry/app:v1` with
    /// the registry's signing key.
    fn verify_at(registry: &lying_registry::LyingRegistry) -> Result<String, String> {
        let mut host = plain_http_host(&registry.address, Duration::from_secs(10));
        let request = pub_key_request(&registry.address, &registry.public_key_pem);
        let response = host.verify(&request, far_deadline())?;
        let response: serde_json::Value = serde_json::from_slice(&response).unwrap();
        Ok(response["digest"].as_str().unwrap().to_string())
    }

    #[test]
    fn an_honest_registry_is_trusted_with_the_digest_it_resolved() {
        let registry = lying_registry::LyingRegistry::start(&[SHA256_ONE], SHA256_ONE);
        assert_eq!(verify_at(&registry), Ok(SHA256_ONE.to_string()));
    }

    #[test]
    fn signatures_found_through_a_second_lookup_do_not_vouch_for_the_first() {
        // First look-up: sha256:1…; the crate's own second look-up (by that digest) is told
        // sha512:2…, for which the registry holds a genuine signature.
        let other = format!("sha512:{}", "2".repeat(128));
        let registry = lying_registry::LyingRegistry::start(&[SHA256_ONE, &other], &other);
        let err = verify_at(&registry).unwrap_err();
        assert!(
            err.contains(&format!("no signature of {SHA256_ONE} holds up"))
                && err.contains(&format!("it signs {other}, not the resolved {SHA256_ONE}")),
            "{err}"
        );
    }

    #[test]
    fn a_registry_resolving_to_another_algorithm_is_not_trusted() {
        let sha512 = format!("sha512:{}", "3".repeat(128));
        let registry = lying_registry::LyingRegistry::start(&[&sha512], &sha512);
        let err = verify_at(&registry).unwrap_err();
        assert!(err.contains("not a sha256 digest"), "{err}");
    }

    #[test]
    fn keyless_without_trust_root_fails_before_any_registry_call() {
        let mut host = host_without_trust_root();
        let request = serde_json::json!({"type": "SigstoreKeylessVerify", "image": "127.0.0.1:1/app:1",
            "keyless": [{"issuer": "https://idp", "subject": "a@b"}], "annotations": null});
        let err = host
            .verify(request.to_string().as_bytes(), far_deadline())
            .unwrap_err();
        assert!(err.contains("no Sigstore trust root configured"), "{err}");
    }

    #[test]
    fn unreachable_registry_is_an_error_not_trust() {
        let mut host = host_without_trust_root();
        let key = plan::tests::public_key_pem();
        // Port 1 on loopback: nothing listens there.
        let request = serde_json::json!({"type": "SigstorePubKeyVerify", "image": "127.0.0.1:1/app:1",
            "pub_keys": [key], "annotations": null});
        let err = host
            .verify(request.to_string().as_bytes(), far_deadline())
            .unwrap_err();
        assert!(
            err.starts_with("image 127.0.0.1:1/app:1: resolving the manifest digest"),
            "{err}"
        );
    }

    /// Asks a host with the default 30 s registry timeout to verify `address/app:v1` with a
    /// key, within an execution timeout of `execution_timeout`; returns the answer and how long
    /// it took.
    fn verify_within(
        address: &str,
        execution_timeout: Duration,
    ) -> (Result<Vec<u8>, String>, Duration) {
        let mut host = plain_http_host(address, REGISTRY_TIMEOUT);
        let request = pub_key_request(address, &plan::tests::public_key_pem());
        let started = std::time::Instant::now();
        let answer = host.verify(&request, Deadline::after(execution_timeout));
        (answer, started.elapsed())
    }

    #[rstest::rstest]
    #[case::down(misbehaving_registry::down(), "resolving the manifest digest")]
    #[case::silent(
        misbehaving_registry::start(misbehaving_registry::Misbehaviour::Silent),
        "no answer within the policy's time limit of 1.5s"
    )]
    #[case::trickling(
        misbehaving_registry::start(misbehaving_registry::Misbehaviour::Trickling),
        "no answer within the policy's time limit of 1.5s"
    )]
    #[case::garbage_manifests(
        misbehaving_registry::start(misbehaving_registry::Misbehaviour::GarbageManifests),
        "no verifiable signatures found"
    )]
    #[case::oversized_signature(
        misbehaving_registry::start(misbehaving_registry::Misbehaviour::OversizedSignature),
        "fetching signatures: no answer within the policy's time limit of 1.5s"
    )]
    fn a_misbehaving_registry_is_not_verified_before_the_deadline(
        #[case] address: String,
        #[case] reason: &str,
    ) {
        let execution_timeout = Duration::from_millis(1500);
        let (answer, took) = verify_within(&address, execution_timeout);
        let error = answer.expect_err("a misbehaving registry must not verify");
        assert!(error.contains(reason), "{error}");
        // The host keeps a reserve of the time before the deadline for the guest, so it ends
        // before it.
        assert!(
            took < execution_timeout,
            "took {took:?} of a {execution_timeout:?} execution timeout: {error}"
        );
    }
}
