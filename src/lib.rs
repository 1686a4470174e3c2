//! waPC entry points of the verify-image-signatures policy: they translate between the wire and
//! plain Rust values; the modules below hold the logic and run natively in tests.

// The crate is documented with its private items (`make doc`): its modules are private behind
// the short `pub use` list below, and their docs link to each other.
#![allow(rustdoc::private_intra_doc_links)]

mod deploy;
mod host;
mod reference;
mod request;
#[cfg(test)]
mod test_host;
#[cfg(test)]
mod test_pki;
mod workload_kinds;

// What the integration tests, the fuzz targets and the benchmarks need; everything else is
// private, so the compiler reports what nothing uses.
pub use deploy::image_pattern::{CoverageSpellings, ImagePattern};
pub use deploy::settings::{settings_keys, Settings};
pub use host::{SigstoreHost, VerificationRequest};
pub use reference::ImageRef;
pub use request::extract::image_fields;
pub use request::{admit, Admission, Decision};
pub use workload_kinds::{pod_spec_path, WORKLOAD_KINDS};

use std::cell::RefCell;
use std::rc::Rc;

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::{protocol_version_guest, reject_request};
use serde_json::Value;
use wapc_guest::{register_function, CallResult};

use host::KubewardenHost;

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

thread_local! {
    /// The settings of the last request, with what they read as. A policy server keeps one
    /// instance for many requests with the same settings, so reading them (PEM keys,
    /// patterns) once instead of per request is most of a small request's work.
    static LAST_SETTINGS: RefCell<Option<(Value, Rc<Settings>)>> = const { RefCell::new(None) };
}

/// The settings `document` reads as, read once per distinct document.
fn settings_of(document: Value) -> Result<Rc<Settings>, String> {
    let cached = LAST_SETTINGS.with_borrow(|last| {
        last.as_ref()
            .filter(|(last_document, _)| *last_document == document)
            .map(|(_, settings)| Rc::clone(settings))
    });
    if let Some(settings) = cached {
        return Ok(settings);
    }
    let settings = Rc::new(Settings::parse(&document).map_err(|e| e.to_string())?);
    LAST_SETTINGS.set(Some((document, Rc::clone(&settings))));
    Ok(settings)
}

fn validate(payload: &[u8]) -> CallResult {
    let ValidationRequest { request, settings } = match serde_json::from_slice(payload) {
        Ok(payload) => payload,
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
    let settings = match settings_of(settings) {
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
    respond(admit(&request, &settings, &KubewardenHost))
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
        .and_then(|document| Settings::validate(&document).map_err(|e| e.to_string()));
    let response = SettingsValidationResponse {
        valid: outcome.is_ok(),
        message: outcome.err(),
    };
    Ok(serde_json::to_vec(&response)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Settings with one rule and `extra` top-level fields.
    fn settings_with(extra: Value) -> Value {
        let mut document = json!({"signatures": [
            {"image": "*", "pubKeys": [deploy::pem_material::test_material::P256_PUB]}
        ]});
        if let (Some(document), Value::Object(extra)) = (document.as_object_mut(), extra) {
            document.extend(extra);
        }
        document
    }

    #[test]
    fn settings_are_read_once_per_distinct_document() {
        let accept = settings_with(json!({"unmatchedImages": "accept"}));
        let reject = settings_with(json!({"unmatchedImages": "reject"}));
        let first = settings_of(accept.clone()).unwrap();
        let again = settings_of(accept).unwrap();
        assert!(Rc::ptr_eq(&first, &again));
        let other = settings_of(reject).unwrap();
        assert!(!Rc::ptr_eq(&first, &other));
        assert_eq!(
            other.unmatched_images,
            deploy::settings::UnmatchedImages::Reject
        );
    }

    #[test]
    fn invalid_settings_are_reported_and_not_remembered() {
        let valid = settings_with(json!({}));
        let invalid = settings_with(json!({"modifyImagesWithDigest": "yes"}));
        let before = settings_of(valid.clone()).unwrap();
        let error = settings_of(invalid).unwrap_err();
        assert!(error.contains("modifyImagesWithDigest"), "{error}");
        assert!(Rc::ptr_eq(&before, &settings_of(valid).unwrap()));
    }
}
