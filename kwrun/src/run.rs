//! `kwrun run`: validate the settings, then evaluate one admission request,
//! the way `kwctl run` does, and produce kwctl's AdmissionResponse.

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::admission;
use crate::admission_response::{AdmissionResponse, ValidationResponse};
use crate::cli::{HostCallOptions, HostOptions, RunOptions, SettingsSource};
use crate::docker_auth::RegistryCredentials;
use crate::host_capabilities::HostCapabilities;
use crate::module_cache::ModuleCache;
use crate::policy_runtime::{Deadline, HostCallHandler, PolicyInstance};
use crate::sigstore_host::{SigstoreSettings, SigstoreVerifier, SystemClock, REGISTRY_TIMEOUT};
use crate::sources::Sources;
use crate::trust_config::TrustMaterial;

/// How a run ended, for the caller to print and exit with.
#[derive(Debug)]
pub enum RunOutcome {
    /// The policy refused its settings: kwctl prints the message, exits 1.
    InvalidSettings(String),
    /// The request was evaluated (accepted or rejected): exit 0.
    Evaluated(AdmissionResponse),
}

use kubewarden_policy_sdk::settings::SettingsValidationResponse;

pub fn run(options: &RunOptions) -> Result<RunOutcome> {
    let request = admission::read_admission_request(&options.request)?;
    let settings = match &options.settings {
        SettingsSource::None => json!({}),
        SettingsSource::YamlFile(path) => admission::read_settings_file(path)?,
        SettingsSource::Json(text) => admission::settings_from_json(text)?,
    };
    let host = host_capabilities_from(&options.host)?;
    let wasm = std::fs::read(&options.policy)
        .with_context(|| format!("cannot read policy {}", options.policy.display()))?;
    let cache = if options.module_cache {
        ModuleCache::in_user_cache_dir()
    } else {
        ModuleCache::disabled()
    };
    let mut policy =
        PolicyInstance::load_cached(&wasm, Box::new(host), options.execution_timeout, &cache)
            .with_context(|| format!("cannot load policy {}", options.policy.display()))?;

    if let Some(message) = settings_rejection(&mut policy, &settings)? {
        return Ok(RunOutcome::InvalidSettings(message));
    }
    Ok(RunOutcome::Evaluated(evaluate(
        &mut policy,
        &request,
        &settings,
    )))
}

/// The host capabilities configured from the command line.
pub fn host_capabilities_from(options: &HostOptions) -> Result<HostCapabilities> {
    let sigstore = SigstoreVerifier::new(SigstoreSettings {
        trust: options
            .sigstore_trust_config
            .as_deref()
            .map(TrustMaterial::from_file)
            .transpose()?,
        sources: options
            .sources
            .as_deref()
            .map(Sources::from_file)
            .transpose()?
            .unwrap_or_default(),
        credentials: options
            .docker_config
            .as_deref()
            .map(RegistryCredentials::from_path)
            .transpose()?
            .unwrap_or_default(),
        registry_timeout: REGISTRY_TIMEOUT,
        clock: Box::new(SystemClock),
    })?;
    Ok(HostCapabilities {
        sigstore,
        allowed: options.allowed_capabilities.clone(),
    })
}

/// `kwrun host-call`: answers one host capability call, printing the
/// response; the capability's error becomes the command's error.
pub fn host_call(options: &HostCallOptions) -> Result<Vec<u8>> {
    let payload = admission::read_input(&options.payload)?;
    let mut host = host_capabilities_from(&options.host)?;
    host.host_call(
        &options.binding,
        &options.namespace,
        &options.operation,
        &payload,
        // No policy is running: the call has what a registry call may take.
        Deadline::after(REGISTRY_TIMEOUT),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{}/{}/{}: {e}",
            options.binding,
            options.namespace,
            options.operation
        )
    })
}

/// `Some(message)` when the policy refuses the settings.
fn settings_rejection(policy: &mut PolicyInstance, settings: &Value) -> Result<Option<String>> {
    let payload = serde_json::to_vec(settings)?;
    let response = policy.call("validate_settings", &payload)?;
    let verdict: SettingsValidationResponse =
        serde_json::from_slice(&response).with_context(|| {
            format!(
                "validate_settings returned a malformed response: {}",
                String::from_utf8_lossy(&response)
            )
        })?;
    Ok((!verdict.valid).then(|| verdict.message.unwrap_or_default()))
}

/// Never fails: anything that goes wrong is a 500 rejection.
fn evaluate(policy: &mut PolicyInstance, request: &Value, settings: &Value) -> AdmissionResponse {
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    let payload = json!({"request": request, "settings": settings});
    let response = match serde_json::to_vec(&payload) {
        Ok(payload) => policy.call("validate", &payload),
        Err(e) => {
            return AdmissionResponse::evaluation_failure(
                uid,
                format!("cannot encode the validation request: {e}"),
            )
        }
    };
    let response = match response {
        Ok(response) => response,
        Err(e) => return AdmissionResponse::evaluation_failure(uid, e.to_string()),
    };
    match serde_json::from_slice::<ValidationResponse>(&response) {
        Ok(validation) => AdmissionResponse::from_validation(uid, &object, validation),
        Err(e) => AdmissionResponse::evaluation_failure(
            uid,
            format!(
                "the policy returned a malformed validation response ({e}): {}",
                String::from_utf8_lossy(&response)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy_runtime::tests::looping_guest;

    struct NoHost;

    impl HostCallHandler for NoHost {
        fn host_call(
            &mut self,
            _: &str,
            _: &str,
            _: &str,
            _: &[u8],
            _: Deadline,
        ) -> Result<Vec<u8>, String> {
            Err("no host capabilities in this test".to_string())
        }
    }

    fn looping_policy() -> PolicyInstance {
        PolicyInstance::load(
            &looping_guest(false),
            Box::new(NoHost),
            Duration::from_millis(200),
        )
        .unwrap()
    }

    #[test]
    fn a_policy_out_of_time_in_validate_is_a_500_rejection() {
        let request = json!({"uid": "u-1", "object": {}});
        let response = evaluate(&mut looping_policy(), &request, &json!({}));
        assert_eq!(response.uid, "u-1");
        assert!(!response.allowed);
        let status = response.status.unwrap();
        assert_eq!(status.code, Some(500));
        let message = status.message.unwrap();
        assert!(message.contains("exceeded its time limit"), "{message}");
    }

    #[test]
    fn a_policy_out_of_time_in_validate_settings_is_an_error() {
        let err = settings_rejection(&mut looping_policy(), &json!({})).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("exceeded its time limit"), "{message}");
        assert!(message.contains("validate_settings"), "{message}");
    }
}
