//! Shapes the policy's answer (the SDK's ValidationResponse) into the
//! AdmissionResponse JSON that `kwctl run` prints, so e2e tests can run
//! against either tool.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

pub use kubewarden_policy_sdk::response::ValidationResponse;

/// kwctl's AdmissionResponse, fields in kwctl's order.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of an RFC 6902 JSON patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionStatus>,
    /// Always present, `null` when empty, as kwctl prints it.
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Always present, `null` when empty, as kwctl prints it.
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AdmissionStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// The status code of a rejection that kwrun, not the policy, decided.
pub const EVALUATION_FAILURE_CODE: u16 = 500;

impl AdmissionResponse {
    pub fn from_validation(
        uid: &str,
        request_object: &Value,
        validation: ValidationResponse,
    ) -> Self {
        let status = (validation.message.is_some() || validation.code.is_some()).then_some(
            AdmissionStatus {
                message: validation.message,
                code: validation.code,
            },
        );
        // A mutation only means something when the request is let through.
        let patch = validation
            .mutated_object
            .filter(|_| validation.accepted)
            .map(|mutated| json_patch::diff(request_object, &mutated))
            .filter(|patch| !patch.0.is_empty())
            .map(|patch| {
                let bytes = serde_json::to_vec(&patch).unwrap_or_default();
                base64::engine::general_purpose::STANDARD.encode(bytes)
            });
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: validation.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_string()),
            patch,
            status,
            // Sorted, so the printed response is the same on every run.
            audit_annotations: validation
                .audit_annotations
                .map(|annotations| annotations.into_iter().collect()),
            warnings: validation.warnings,
        }
    }

    /// A rejection for a policy that could not be evaluated (trap, error,
    /// malformed answer): never an accept.
    pub fn evaluation_failure(uid: &str, message: String) -> Self {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: false,
            patch_type: None,
            patch: None,
            status: Some(AdmissionStatus {
                message: Some(message),
                code: Some(EVALUATION_FAILURE_CODE),
            }),
            audit_annotations: None,
            warnings: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shaped(validation: Value, object: Value) -> Value {
        let validation: ValidationResponse = serde_json::from_value(validation).unwrap();
        serde_json::to_value(AdmissionResponse::from_validation(
            "uid-1", &object, validation,
        ))
        .unwrap()
    }

    #[test]
    fn accept_is_uid_and_allowed_only() {
        let response = shaped(
            json!({"accepted": true, "message": null, "code": null, "mutated_object": null}),
            json!({}),
        );
        assert_eq!(
            response,
            json!({"uid": "uid-1", "allowed": true, "auditAnnotations": null, "warnings": null})
        );
        let text = serde_json::to_string(&AdmissionResponse::from_validation(
            "u",
            &json!({}),
            serde_json::from_value(json!({"accepted": true})).unwrap(),
        ))
        .unwrap();
        assert_eq!(
            text,
            r#"{"uid":"u","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn reject_carries_message_and_code_when_given() {
        assert_eq!(
            shaped(
                json!({"accepted": false, "message": "unsigned image", "code": 403}),
                json!({})
            ),
            json!({"uid": "uid-1", "allowed": false, "status": {"message": "unsigned image", "code": 403},
                "auditAnnotations": null, "warnings": null})
        );
        assert_eq!(
            shaped(json!({"accepted": false, "message": "no"}), json!({})),
            json!({"uid": "uid-1", "allowed": false, "status": {"message": "no"},
                "auditAnnotations": null, "warnings": null})
        );
    }

    #[test]
    fn mutation_becomes_a_base64_json_patch() {
        let object = json!({"spec": {"containers": [{"image": "r/app:1"}]}});
        let mutated = json!({"spec": {"containers": [{"image": "r/app:1@sha256:abc"}]}});
        let response = shaped(
            json!({"accepted": true, "mutated_object": mutated, "warnings": ["w"],
            "audit_annotations": {"a": "b"}}),
            object,
        );
        assert_eq!(response["patchType"], "JSONPatch");
        assert_eq!(response["warnings"], json!(["w"]));
        assert_eq!(response["auditAnnotations"], json!({"a": "b"}));
        let patch = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap();
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(
            patch,
            json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "r/app:1@sha256:abc"}])
        );
    }

    #[test]
    fn unchanged_mutated_object_adds_no_patch() {
        let object = json!({"spec": {"x": 1}});
        let response = shaped(
            json!({"accepted": true, "mutated_object": object.clone()}),
            object,
        );
        assert_eq!(
            response,
            json!({"uid": "uid-1", "allowed": true, "auditAnnotations": null, "warnings": null})
        );
    }

    #[test]
    fn evaluation_failure_is_a_500_rejection() {
        let response =
            serde_json::to_value(AdmissionResponse::evaluation_failure("u", "trap".into()))
                .unwrap();
        assert_eq!(
            response,
            json!({"uid": "u", "allowed": false, "status": {"message": "trap", "code": 500},
                "auditAnnotations": null, "warnings": null})
        );
    }
}
