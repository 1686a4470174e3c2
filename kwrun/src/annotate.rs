//! `kwrun annotate`: embeds a policy's metadata (from metadata.yml, with the
//! protocol version the policy reports and its README as usage text) into
//! the wasm module, as `kwctl annotate` does.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::capability_catalog;
use crate::execution_timeout::DEFAULT_EXECUTION_TIMEOUT;
use crate::policy_metadata::PolicyMetadata;
use crate::policy_runtime::{Deadline, HostCallHandler, PolicyInstance};
use crate::wasm_custom_section;

pub const METADATA_SECTION: &str = "io.kubewarden.metadata";
const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotateOptions {
    pub policy: PathBuf,
    pub metadata: PathBuf,
    pub usage: Option<PathBuf>,
    pub output: PathBuf,
}

pub fn annotate(options: &AnnotateOptions) -> Result<()> {
    let wasm = read(&options.policy, "policy")?;
    let metadata_text = String::from_utf8(read(&options.metadata, "metadata")?)
        .with_context(|| format!("{} is not UTF-8", options.metadata.display()))?;
    let usage = match &options.usage {
        Some(path) => Some(
            String::from_utf8(read(path, "usage")?)
                .with_context(|| format!("{} is not UTF-8", path.display()))?,
        ),
        None => None,
    };
    let checked = PolicyMetadata::from_yaml(&metadata_text)
        .with_context(|| format!("invalid metadata file {}", options.metadata.display()))?;
    for warning in capability_warnings(&checked, &wasm)? {
        eprintln!("warning: {warning}");
    }
    let metadata = metadata_from_yaml(&metadata_text)
        .with_context(|| format!("invalid metadata file {}", options.metadata.display()))?;
    let protocol_version = if checked.is_wapc() {
        Some(protocol_version(&wasm)?)
    } else {
        None
    };
    let metadata = complete_metadata(metadata, protocol_version, usage)?;
    let section = serde_json::to_vec(&metadata)?;
    let annotated = wasm_custom_section::with_custom_section(&wasm, METADATA_SECTION, &section)
        .with_context(|| format!("cannot annotate {}", options.policy.display()))?;
    std::fs::write(&options.output, annotated)
        .with_context(|| format!("cannot write {}", options.output.display()))
}

/// Where `hostCapabilities` and the capabilities the module calls differ (kwctl's two checks).
fn capability_warnings(metadata: &PolicyMetadata, wasm: &[u8]) -> Result<Vec<String>> {
    let used = capability_catalog::used_by(wasm)?;
    let declared: std::collections::BTreeSet<String> = metadata
        .host_capabilities
        .iter()
        .flatten()
        .cloned()
        .collect();
    let list = |set: Vec<&String>| {
        set.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut warnings = Vec::new();
    let undeclared: Vec<&String> = used.difference(&declared).collect();
    if !undeclared.is_empty() {
        warnings.push(format!(
            "host capabilities used by the policy but not declared in metadata: {}",
            list(undeclared)
        ));
    }
    let unused: Vec<&String> = declared.difference(&used).collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "host capabilities declared in metadata but not detected in the policy: {}",
            list(unused)
        ));
    }
    Ok(warnings)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} file {}", path.display()))
}

fn metadata_from_yaml(text: &str) -> Result<Value> {
    match serde_yaml::from_str::<Value>(text).context("not valid YAML")? {
        Value::Object(object) => Ok(Value::Object(object)),
        other => bail!("metadata must be a mapping, not {other}"),
    }
}

/// Adds what annotate computes to the user's metadata.
fn complete_metadata(
    mut metadata: Value,
    protocol_version: Option<String>,
    usage: Option<String>,
) -> Result<Value> {
    let object = metadata
        .as_object_mut()
        .ok_or_else(|| anyhow!("metadata must be a mapping"))?;
    if let Some(version) = protocol_version {
        object.insert("protocolVersion".into(), Value::String(version));
    }
    if let Some(usage) = usage {
        let annotations = object
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        let annotations = annotations
            .as_object_mut()
            .ok_or_else(|| anyhow!("metadata annotations must be a mapping"))?;
        annotations.insert(USAGE_ANNOTATION.into(), Value::String(usage));
    }
    Ok(metadata)
}

/// Policies must not need the outside world to say their protocol version.
struct NoHostCapabilities;

impl HostCallHandler for NoHostCapabilities {
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        _: &[u8],
        _: Deadline,
    ) -> Result<Vec<u8>, String> {
        Err(format!(
            "host capability {binding}/{namespace}/{operation} is not available while annotating"
        ))
    }
}

/// Asks the policy for its waPC protocol version (a JSON string like "v1").
fn protocol_version(wasm: &[u8]) -> Result<String> {
    // No flag here: annotating only asks for the protocol version.
    let mut policy = PolicyInstance::load(
        wasm,
        Box::new(NoHostCapabilities),
        DEFAULT_EXECUTION_TIMEOUT,
    )?;
    let response = policy
        .call("protocol_version", &[])
        .context("cannot get the policy's protocol version")?;
    let version: String = serde_json::from_slice(&response).with_context(|| {
        format!(
            "protocol_version returned {:?}, not a JSON string",
            String::from_utf8_lossy(&response)
        )
    })?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_gets_protocol_version_and_usage() {
        let metadata = metadata_from_yaml(
            "rules: []\nmutating: true\nannotations:\n  io.kubewarden.policy.title: t\n",
        )
        .unwrap();
        let done = complete_metadata(metadata, Some("v1".into()), Some("# Usage".into())).unwrap();
        assert_eq!(
            done,
            json!({
                "rules": [], "mutating": true, "protocolVersion": "v1",
                "annotations": {"io.kubewarden.policy.title": "t", "io.kubewarden.policy.usage": "# Usage"}
            })
        );
    }

    #[test]
    fn usage_creates_annotations_when_missing() {
        let done = complete_metadata(json!({"rules": []}), None, Some("readme".into())).unwrap();
        assert_eq!(
            done["annotations"],
            json!({"io.kubewarden.policy.usage": "readme"})
        );
    }

    #[test]
    fn non_wapc_policies_get_no_protocol_version() {
        assert!(metadata_from_yaml("- not a mapping").is_err());
    }
}
