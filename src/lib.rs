//! waPC entry points of the verify-image-signatures policy: they translate between the wire and
//! plain Rust values; the modules below hold the logic and run natively in tests.

pub mod custom_resources;
pub mod evaluate;
pub mod host;
pub mod image_pattern;
pub mod image_ref;
pub mod messages;
pub mod pem_material;
pub mod reference_grammar;
pub mod settings;
pub mod signature_proof;
pub mod signers;
pub mod strict_fields;
#[cfg(test)]
mod test_host;
pub mod verification;
pub mod workload;

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::{protocol_version_guest, reject_request};
use serde_json::Value;
use wapc_guest::{register_function, CallResult};

use evaluate::{admit, Admission, Decision};
use host::KubewardenHost;
use settings::Settings;

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let request: ValidationRequest<Value> = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(e) => {
            return reject_request(
                Some(format!("cannot read the admission request: {e}")),
                Some(400),
                None,
                None,
            )
        }
    };
    // The host validated these settings at load time; failing here would mean it did not.
    let settings = match Settings::parse(&request.settings) {
        Ok(settings) => settings,
        Err(errors) => {
            return reject_request(
                Some(format!("invalid policy settings: {errors}")),
                Some(500),
                None,
                None,
            )
        }
    };
    respond(admit(&request.request, &settings, &KubewardenHost))
}

/// The SDK's response for an admission: the decision, and on acceptance the warnings and
/// audit annotations (absent rather than empty, as the SDK's own helpers send them).
fn respond(admission: Admission) -> CallResult {
    let Admission {
        decision,
        warnings,
        audit_annotations,
    } = admission;
    let (accepted, message, mutated_object) = match decision {
        Decision::Accept => (true, None, None),
        Decision::Mutate(object) => (true, None, Some(object)),
        Decision::Reject(message) => (false, Some(message), None),
    };
    let response = ValidationResponse {
        accepted,
        message,
        code: None,
        mutated_object,
        audit_annotations: (!audit_annotations.is_empty())
            .then(|| audit_annotations.into_iter().collect()),
        warnings: (!warnings.is_empty()).then_some(warnings),
    };
    Ok(serde_json::to_vec(&response)?)
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let outcome = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("settings are not valid JSON: {e}"))
        .and_then(|document| {
            Settings::validate(&document, &KubewardenHost).map_err(|e| e.to_string())
        });
    let response = SettingsValidationResponse {
        valid: outcome.is_ok(),
        message: outcome.err(),
    };
    Ok(serde_json::to_vec(&response)?)
}
