//! Registry access for the Sigstore host capabilities: the registry clients, built on first
//! use, and the time each registry operation may take.

use std::str::FromStr;
use std::time::Duration;

use sigstore::cosign::ClientBuilder;
use sigstore::registry::{ClientConfig, OciReference};

use super::messages::explain;
use crate::execution_timeout::{Deadline, HostTimeout};
use crate::trust_config::TrustMaterial;

/// The most one registry call (resolving a digest, fetching signatures or a manifest) may
/// take, however far the deadline is.
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry clients, built on first use: each loads the system's TLS roots, which costs
/// more than a whole evaluation that never reaches a registry.
pub(super) struct RegistryClients {
    pub(super) config: ClientConfig,
    pub(super) trust: Option<TrustMaterial>,
    pub(super) cosign: Option<sigstore::cosign::Client>,
    /// For manifests the policy reads itself (`oci/v1/oci_manifest`).
    pub(super) registry: Option<oci_client::Client>,
}

impl RegistryClients {
    pub(super) fn cosign(&mut self) -> Result<&mut sigstore::cosign::Client, String> {
        if self.cosign.is_none() {
            let builder = ClientBuilder::default().with_oci_client_config(self.config.clone());
            let client = match &self.trust {
                Some(material) => builder
                    .with_trust_repository(&material.trust_root())
                    .and_then(|builder| builder.build()),
                None => builder.build(),
            }
            .map_err(|e| format!("cannot build the cosign client: {e}"))?;
            self.cosign = Some(client);
        }
        Ok(self.cosign.as_mut().expect("just built"))
    }

    pub(super) fn registry(&mut self) -> &oci_client::Client {
        let config = &self.config;
        self.registry
            .get_or_insert_with(|| oci_client::Client::new(config.clone().into()))
    }
}

pub(super) fn parse_reference(image: &str) -> Result<OciReference, String> {
    OciReference::from_str(image).map_err(|e| format!("invalid image reference {image:?}: {e}"))
}

/// One registry operation: it gets what is left before the evaluation's deadline, at most the
/// registry timeout, and running out of either is a failure.
pub(super) struct RegistryCall {
    deadline: Deadline,
    timeout: HostTimeout,
}

impl RegistryCall {
    /// Timed from now: steps run one after another, each with what is left.
    pub(super) fn new(deadline: Deadline, registry_timeout: Duration) -> Self {
        RegistryCall {
            deadline,
            timeout: deadline.host_timeout(registry_timeout),
        }
    }

    pub(super) async fn run<T>(
        &self,
        what: &str,
        operation: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        if self.timeout.duration.is_zero() {
            return Err(self.deadline.exceeded(self.timeout, what));
        }
        match tokio::time::timeout(self.timeout.duration, operation).await {
            Ok(result) => result,
            Err(_) => Err(self.deadline.exceeded(self.timeout, what)),
        }
    }

    /// [`RegistryCall::run`] for the sigstore crate's operations, their errors explained.
    pub(super) async fn bounded<T>(
        &self,
        what: &str,
        operation: impl std::future::Future<Output = sigstore::errors::Result<T>>,
    ) -> Result<T, String> {
        self.run(what, async {
            operation
                .await
                .map_err(|e| format!("{what}: {}", explain(&e)))
        })
        .await
    }
}
