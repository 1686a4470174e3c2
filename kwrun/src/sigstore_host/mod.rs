//! The Sigstore host capabilities (`oci/v2/verify`, `oci/v1/manifest_digest`,
//! `oci/v1/oci_manifest`): the verifier kwrun was started with (trust root, registry access,
//! registry timeout, cache) and the dispatch to the file serving each capability.

mod cache;
mod dsse_entry;
mod layer_proof;
#[cfg(test)]
mod lying_registry;
mod manifest_digest;
mod messages;
#[cfg(test)]
pub(crate) mod misbehaving_registry;
mod oci_manifest;
pub(crate) mod plan;
mod registry;
mod rekor_entry;
pub mod verification_constraint;
mod verify;

use std::time::Duration;

use anyhow::{Context, Result};
use sigstore::cosign::ClientBuilder;
use sigstore::registry::{ClientConfig, ClientProtocol};

use crate::docker_auth::RegistryCredentials;
use crate::execution_timeout::Deadline;
use crate::sources::Sources;
use crate::trust_config::TrustMaterial;
pub use cache::{Clock, SystemClock, VerificationCache, TRUSTED_FOR};
use registry::RegistryClients;
pub use registry::REGISTRY_TIMEOUT;

/// What the host was configured with on the command line.
pub struct SigstoreSettings {
    pub trust: Option<TrustMaterial>,
    pub sources: Sources,
    pub credentials: RegistryCredentials,
    pub registry_timeout: Duration,
    pub clock: Box<dyn Clock>,
}

/// Serves the Sigstore host capabilities, one host call at a time.
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
        verify::answer(self, payload, deadline)
    }

    /// `kubewarden/oci/v1/manifest_digest`: payload is a JSON string (the
    /// image), reply `{"digest":…}`.
    pub fn manifest_digest(
        &mut self,
        payload: &[u8],
        deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        manifest_digest::answer(self, payload, deadline)
    }

    /// `kubewarden/oci/v1/oci_manifest`: payload is a JSON string (the reference), reply the
    /// manifest exactly as the registry served it. A missing manifest is the registry's own
    /// error (`… manifest unknown`), as kwctl relays it.
    pub fn oci_manifest(&mut self, payload: &[u8], deadline: Deadline) -> Result<Vec<u8>, String> {
        oci_manifest::answer(self, payload, deadline)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deadline no test reaches: these tests are about answers, not time.
    pub(super) fn far_deadline() -> Deadline {
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

    pub(super) fn host_without_trust_root() -> SigstoreVerifier {
        SigstoreVerifier::new(SigstoreSettings {
            trust: None,
            sources: Sources::default(),
            credentials: RegistryCredentials::default(),
            registry_timeout: Duration::from_secs(2),
            clock: Box::new(SystemClock),
        })
        .unwrap()
    }
}
