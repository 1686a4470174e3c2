//! The Sigstore host capabilities (`oci/v2/verify`, `oci/v1/manifest_digest`):
//! real cosign verification against real OCI registries, with the trust root,
//! registry access, timeout and cache policy kwrun was started with.

mod cache;
pub mod constraints;
mod dsse_entry;
mod layer_proof;
#[cfg(test)]
mod lying_registry;
mod messages;
#[cfg(test)]
pub(crate) mod misbehaving_registry;
pub(crate) mod plan;
mod registry;
mod rekor_entry;

use std::time::Duration;

use anyhow::{Context, Result};
use sigstore::cosign::{ClientBuilder, CosignCapabilities};
use sigstore::registry::{ClientConfig, ClientProtocol, OciReference};

use crate::docker_auth::RegistryCredentials;
use crate::execution_limit::Deadline;
use crate::sources::Sources;
use crate::trust_config::TrustMaterial;
pub use cache::{Clock, SystemClock, VerificationCache, TRUSTED_FOR};
use layer_proof::prove_layers;
use messages::{describe_layer, explain, is_v3_bundle, V3_ANNOTATIONS_HINT};
use plan::{plan, SignerDemands, SignerRequirement, VerifyRequest};
pub use registry::REGISTRY_TIMEOUT;
use registry::{parse_reference, RegistryClients, Step};

/// What `oci/v1/oci_manifest` accepts: image manifests and indexes, OCI and Docker.
const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// What the host was configured with on the command line.
pub struct SigstoreSettings {
    pub trust: Option<TrustMaterial>,
    pub sources: Sources,
    pub credentials: RegistryCredentials,
    pub registry_timeout: Duration,
    pub clock: Box<dyn Clock>,
}

pub struct SigstoreVerifier {
    runtime: tokio::runtime::Runtime,
    clients: RegistryClients,
    credentials: RegistryCredentials,
    has_trust_root: bool,
    registry_timeout: Duration,
    cache: VerificationCache,
}

impl SigstoreVerifier {
    pub fn new(settings: SigstoreSettings) -> Result<Self> {
        let registry_config = ClientConfig {
            protocol: if settings.sources.insecure_sources.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(settings.sources.insecure_sources.clone())
            },
            ..ClientConfig::default()
        };
        // A trust root that cannot be used is an error now, not at the first verification.
        if let Some(material) = &settings.trust {
            ClientBuilder::default()
                .with_trust_repository(&material.trust_root())
                .context("cannot use the Sigstore trust root")?;
        }
        // The wasm guest runs on this thread; registry calls are driven to
        // completion here, one host call at a time.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Self {
            runtime,
            has_trust_root: settings.trust.is_some(),
            clients: RegistryClients {
                config: registry_config,
                trust: settings.trust,
                cosign: None,
                registry: None,
            },
            credentials: settings.credentials,
            registry_timeout: settings.registry_timeout,
            cache: VerificationCache::new(settings.clock, TRUSTED_FOR),
        })
    }

    /// `kubewarden/oci/v2/verify`: `{"is_trusted":true,"digest":…}` or the
    /// reason the image is not trusted.
    pub fn verify(&mut self, payload: &[u8], deadline: Deadline) -> Result<Vec<u8>, String> {
        if let Some(response) = self.cache.get(payload) {
            return Ok(response);
        }
        let request: VerifyRequest = serde_json::from_slice(payload)
            .map_err(|e| format!("invalid sigstore verification request: {e}"))?;
        let plan =
            plan(request).map_err(|e| format!("invalid sigstore verification request: {e}"))?;
        let digest = self
            .check(&plan, deadline)
            .map_err(|e| format!("image {}: {e}", plan.image))?;
        let response = serde_json::json!({"is_trusted": true, "digest": digest});
        let response = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
        self.cache.remember_success(payload, &response);
        Ok(response)
    }

    /// `kubewarden/oci/v1/manifest_digest`: payload is a JSON string (the
    /// image), reply `{"digest":…}`.
    pub fn manifest_digest(
        &mut self,
        payload: &[u8],
        deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        let image: String = serde_json::from_slice(payload).map_err(|e| {
            format!("invalid manifest digest request (expected a JSON string): {e}")
        })?;
        let reference = parse_reference(&image)?;
        let auth = self.credentials.auth_for(reference.registry());
        let client = self.clients.cosign()?;
        let step = Step::new(deadline, self.registry_timeout);
        let digest = self
            .runtime
            .block_on(step.bounded("resolving the manifest digest", async {
                client.triangulate(&reference, &auth).await
            }))
            .map_err(|e| format!("image {image}: {e}"))?
            .1;
        serde_json::to_vec(&serde_json::json!({"digest": digest})).map_err(|e| e.to_string())
    }

    /// `kubewarden/oci/v1/oci_manifest`: payload is a JSON string (the reference), reply the
    /// manifest exactly as the registry served it. A missing manifest is the registry's own
    /// error (`… manifest unknown`), as kwctl relays it.
    pub fn oci_manifest(&mut self, payload: &[u8], deadline: Deadline) -> Result<Vec<u8>, String> {
        let image: String = serde_json::from_slice(payload)
            .map_err(|e| format!("invalid OCI manifest request (expected a JSON string): {e}"))?;
        let reference: oci_client::Reference = image
            .parse()
            .map_err(|e| format!("invalid image reference {image:?}: {e}"))?;
        let auth: oci_client::secrets::RegistryAuth =
            (&self.credentials.auth_for(reference.registry())).into();
        let registry = self.clients.registry();
        let step = Step::new(deadline, self.registry_timeout);
        let (manifest, _digest) = self
            .runtime
            .block_on(step.run("fetching the manifest", async {
                registry
                    .pull_manifest_raw(&reference, &auth, MANIFEST_MEDIA_TYPES)
                    .await
                    .map_err(|e| explain(&e))
            }))
            .map_err(|e| format!("image {image}: {e}"))?;
        Ok(manifest.to_vec())
    }

    /// Returns the verified manifest digest, or why the image is not trusted.
    fn check(&mut self, plan: &SignerDemands, deadline: Deadline) -> Result<String, String> {
        if let (Some(reason), false) = (plan.needs_trust_root, self.has_trust_root) {
            return Err(format!(
                "no Sigstore trust root configured ({reason}); pass --sigstore-trust-config"
            ));
        }
        let reference = parse_reference(&plan.image)?;
        let auth = self.credentials.auth_for(reference.registry());
        let client = self.clients.cosign()?;
        let registry_timeout = self.registry_timeout;
        let (digest, layers) = self.runtime.block_on(async {
            // Resolve once, then look signatures up by that digest, so a tag
            // moved meanwhile cannot pair one image's digest with another's
            // signatures.
            let (signature_image, digest) = Step::new(deadline, registry_timeout)
                .bounded("resolving the manifest digest", async {
                    client.triangulate(&reference, &auth).await
                })
                .await?;
            let pinned = OciReference::with_digest(
                reference.registry().to_string(),
                reference.repository().to_string(),
                digest.clone(),
            );
            let layers = Step::new(deadline, registry_timeout)
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
pub(crate) mod tests {
    use super::*;

    /// A budget no test reaches: these tests are about answers, not time.
    fn budget() -> Deadline {
        Deadline::after(Duration::from_secs(60))
    }

    /// A host without a trust root that reaches the registry at `address` over plain HTTP.
    pub(crate) fn plain_http_host(address: &str, registry_timeout: Duration) -> SigstoreVerifier {
        SigstoreVerifier::new(SigstoreSettings {
            trust: None,
            sources: Sources {
                insecure_sources: vec![address.to_string()],
            },
            credentials: RegistryCredentials::default(),
            registry_timeout,
            clock: Box::new(SystemClock),
        })
        .unwrap()
    }

    /// `oci/v2/verify` of `address/app:v1` against the PEM key `key`.
    pub(crate) fn pub_key_request(address: &str, key: &str) -> Vec<u8> {
        serde_json::json!({"type": "SigstorePubKeyVerify", "image": format!("{address}/app:v1"),
            "pub_keys": [key], "annotations": null})
        .to_string()
        .into_bytes()
    }

    fn host_without_trust_root() -> SigstoreVerifier {
        SigstoreVerifier::new(SigstoreSettings {
            trust: None,
            sources: Sources::default(),
            credentials: RegistryCredentials::default(),
            registry_timeout: Duration::from_secs(2),
            clock: Box::new(SystemClock),
        })
        .unwrap()
    }

    /// Asks a host that reaches `registry` over plain HTTP to verify `registry/app:v1` with
    /// the registry's signing key.
    fn verify_at(registry: &lying_registry::LyingRegistry) -> Result<String, String> {
        let mut host = plain_http_host(&registry.address, Duration::from_secs(10));
        let request = pub_key_request(&registry.address, &registry.public_key_pem);
        let response = host.verify(&request, budget())?;
        let response: serde_json::Value = serde_json::from_slice(&response).unwrap();
        Ok(response["digest"].as_str().unwrap().to_string())
    }

    const SHA256_ONE: &str =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn an_honest_registry_is_trusted_with_the_digest_it_resolved() {
        let registry = lying_registry::LyingRegistry::start(&[SHA256_ONE], SHA256_ONE);
        assert_eq!(verify_at(&registry), Ok(SHA256_ONE.to_string()));
    }

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
                budget(),
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
                budget(),
            )
            .unwrap_err();
        // The policy tells "no classic signatures" from a failure by these words, as kwctl's.
        assert!(err.contains("manifest unknown"), "{err}");
        assert!(host.oci_manifest(b"not json", budget()).is_err());
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
            .verify(request.to_string().as_bytes(), budget())
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
            .verify(request.to_string().as_bytes(), budget())
            .unwrap_err();
        assert!(
            err.starts_with("image 127.0.0.1:1/app:1: resolving the manifest digest"),
            "{err}"
        );
    }

    /// Asks a host with the default 30 s registry timeout to verify `address/app:v1` with a
    /// key, within a budget of `budget`; returns the answer and how long it took.
    fn verify_within(address: &str, budget: Duration) -> (Result<Vec<u8>, String>, Duration) {
        let mut host = plain_http_host(address, REGISTRY_TIMEOUT);
        let request = pub_key_request(address, &plan::tests::public_key_pem());
        let started = std::time::Instant::now();
        let answer = host.verify(&request, Deadline::after(budget));
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
    fn a_misbehaving_registry_is_not_verified_within_the_budget(
        #[case] address: String,
        #[case] reason: &str,
    ) {
        let budget = Duration::from_millis(1500);
        let (answer, took) = verify_within(&address, budget);
        let error = answer.expect_err("a misbehaving registry must not verify");
        assert!(error.contains(reason), "{error}");
        // The host keeps a reserve of the budget for the guest, so it ends before it.
        assert!(
            took < budget,
            "took {took:?} of a {budget:?} budget: {error}"
        );
    }
}
