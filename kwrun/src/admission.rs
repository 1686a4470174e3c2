//! The inputs of `kwrun run`: the AdmissionRequest under evaluation and the
//! policy settings, read the way kwctl reads them.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Reads the request file (`-` is stdin) and returns the AdmissionRequest.
pub fn read_admission_request(path: &str) -> Result<Value> {
    let bytes = read_input(path)?;
    let text =
        String::from_utf8(bytes).with_context(|| format!("request file {path} is not UTF-8"))?;
    admission_request_from_json(&text).with_context(|| format!("invalid request file {path}"))
}

/// The bytes of a file, or of stdin for `-`.
pub fn read_input(path: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    }
    Ok(bytes)
}

/// Accepts a bare AdmissionRequest or a whole AdmissionReview
/// (`{"request": {...}}`), as kwctl does.
pub fn admission_request_from_json(text: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text).context("not JSON")?;
    let Value::Object(mut object) = value else {
        bail!("expected a JSON object (an AdmissionRequest or an AdmissionReview)");
    };
    // An AdmissionReview wraps the request; an AdmissionRequest has its own uid.
    if !object.contains_key("uid") {
        if let Some(request) = object.remove("request") {
            if !request.is_object() {
                bail!("AdmissionReview.request is not an object");
            }
            return Ok(request);
        }
    }
    Ok(Value::Object(object))
}

/// Settings given with `--settings-path`: YAML (JSON is YAML too).
pub fn read_settings_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    settings_from_yaml(&text).with_context(|| format!("invalid settings file {}", path.display()))
}

pub fn settings_from_yaml(text: &str) -> Result<Value> {
    let value: Value = serde_yaml::from_str(text).context("not valid YAML")?;
    settings_object(value)
}

/// Settings given with `--settings-json`.
pub fn settings_from_json(text: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text).context("--settings-json is not valid JSON")?;
    settings_object(value)
}

/// An empty document means "no settings", which policies receive as `{}`.
fn settings_object(value: Value) -> Result<Value> {
    match value {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(value),
        other => bail!("settings must be a mapping, not {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_and_review_both_yield_the_request() {
        let request =
            json!({"uid": "abc", "kind": {"kind": "Pod"}, "object": {"metadata": {"name": "p"}}});
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        assert_eq!(
            admission_request_from_json(&request.to_string()).unwrap(),
            request
        );
        assert_eq!(
            admission_request_from_json(&review.to_string()).unwrap(),
            request
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        for text in ["[]", "not json", r#"{"request": 3}"#] {
            assert!(admission_request_from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn settings_yaml_becomes_json() {
        let yaml = "signatures:\n  - image: \"ghcr.io/*\"\n    pubKeys: [\"k\"]\nmodifyImagesWithDigest: true\n";
        assert_eq!(
            settings_from_yaml(yaml).unwrap(),
            json!({"signatures": [{"image": "ghcr.io/*", "pubKeys": ["k"]}], "modifyImagesWithDigest": true})
        );
        assert_eq!(settings_from_yaml("").unwrap(), json!({}));
        assert_eq!(settings_from_yaml("{\"a\": 1}").unwrap(), json!({"a": 1}));
        assert!(settings_from_yaml("- a list").is_err());
    }

    #[test]
    fn settings_json_is_parsed() {
        assert_eq!(
            settings_from_json(r#"{"a": [1]}"#).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(settings_from_json("null").unwrap(), json!({}));
        assert!(settings_from_json("{").is_err());
    }
}
