//! metadata.yml as Kubewarden hosts read it (kwctl 1.36's `Metadata`), checked before it is
//! embedded: wrong types and invalid rules are errors naming the key, as with kwctl; unknown
//! keys are errors too (kwctl ignores them, so a misspelt key would silently do nothing).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyMetadata {
    /// Computed by annotate; whatever the file says is replaced.
    #[allow(dead_code)]
    pub protocol_version: Option<ProtocolVersion>,
    pub rules: Vec<Rule>,
    #[allow(dead_code)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[allow(dead_code)]
    pub mutating: bool,
    #[allow(dead_code)]
    pub background_audit: Option<bool>,
    pub execution_mode: Option<ExecutionMode>,
    #[allow(dead_code)]
    pub policy_type: Option<PolicyType>,
    pub context_aware_resources: Option<Vec<ContextAwareResource>>,
    pub host_capabilities: Option<Vec<String>>,
    pub minimum_kubewarden_version: Option<String>,
}

#[derive(Debug, Deserialize)]
pub enum ProtocolVersion {
    #[serde(rename = "v1")]
    V1,
    Unknown,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionMode {
    KubewardenWapc,
    Opa,
    Gatekeeper,
    Wasi,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    Kubernetes,
    Raw,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub enum Operation {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "*")]
    All,
}

impl PolicyMetadata {
    /// Parses and checks; every problem is reported, each with its key.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let metadata: PolicyMetadata = match serde_yaml::from_str(text) {
            Ok(metadata) => metadata,
            Err(e) => bail!("Error unmarshalling metadata {e}"),
        };
        let problems = metadata.problems();
        if !problems.is_empty() {
            bail!("Metadata is invalid: {}", problems.join("; "));
        }
        Ok(metadata)
    }

    pub fn is_wapc(&self) -> bool {
        self.execution_mode
            .as_ref()
            .is_none_or(|mode| *mode == ExecutionMode::KubewardenWapc)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            rule.check(&format!("rules[{i}]"), &mut problems);
        }
        for (i, resource) in self.context_aware_resources.iter().flatten().enumerate() {
            for (key, value) in [
                ("apiVersion", &resource.api_version),
                ("kind", &resource.kind),
            ] {
                if value.is_empty() {
                    problems.push(format!(
                        "contextAwareResources[{i}].{key}: must not be empty"
                    ));
                }
            }
        }
        for (i, capability) in self.host_capabilities.iter().flatten().enumerate() {
            if !crate::capability_catalog::is_known(capability) {
                problems.push(format!(
                    "hostCapabilities[{i}]: {capability:?} is not a host capability (write namespace/operation, e.g. \"oci/v2/verify\")"
                ));
            }
        }
        if let Some(version) = &self.minimum_kubewarden_version {
            let numeric = version.split('.').count() == 3
                && version
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if !numeric {
                problems.push(format!(
                    "minimumKubewardenVersion: {version:?} is not a version such as \"1.35.0\""
                ));
            }
        }
        problems
    }
}

impl Rule {
    /// kwctl's rule checks: no empty lists or resources, `*` alone, and resource wildcards
    /// that do not overlap what else is listed.
    fn check(&self, path: &str, problems: &mut Vec<String>) {
        let lists: [(&str, Vec<&str>); 4] = [
            (
                "apiGroups",
                self.api_groups.iter().map(String::as_str).collect(),
            ),
            (
                "apiVersions",
                self.api_versions.iter().map(String::as_str).collect(),
            ),
            (
                "resources",
                self.resources.iter().map(String::as_str).collect(),
            ),
            (
                "operations",
                self.operations
                    .iter()
                    .map(|op| if *op == Operation::All { "*" } else { "op" })
                    .collect(),
            ),
        ];
        for (key, values) in &lists {
            if values.is_empty() {
                problems.push(format!("{path}.{key}: must not be empty"));
            } else if *key != "resources" && values.contains(&"*") && values.len() > 1 {
                problems.push(format!(
                    "{path}.{key}: no other elements can be defined when '*' is used"
                ));
            }
        }
        for resource in &self.resources {
            let problem = if resource.is_empty() {
                Some("empty resource is not allowed".to_string())
            } else if resource == "*" && self.resources.iter().any(|r| !r.contains('/') && r != "*")
            {
                Some(
                    "if '*' is present, must not specify other resources without subresources"
                        .to_string(),
                )
            } else if resource == "*/*" && self.resources.len() > 1 {
                Some("if '*/*' is present, must not specify other resources".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                problems.push(format!("{path}.resources: {problem}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "rules:\n  - apiGroups: [\"\"]\n    apiVersions: [v1]\n    resources: [pods]\n    operations: [CREATE]\nmutating: true\n";

    #[test]
    fn reads_valid_metadata() {
        let metadata = PolicyMetadata::from_yaml(&format!(
            "{VALID}executionMode: kubewarden-wapc\nhostCapabilities: [oci/v2/verify]\n"
        ))
        .unwrap();
        assert!(metadata.is_wapc());
        assert_eq!(metadata.host_capabilities.unwrap(), ["oci/v2/verify"]);
        assert!(
            !PolicyMetadata::from_yaml(&format!("{VALID}executionMode: wasi\n"))
                .unwrap()
                .is_wapc()
        );
    }

    #[test]
    fn problems_name_the_key() {
        let cases = [
            (
                format!("{VALID}contextAware: false\n"),
                "unknown field `contextAware`",
            ),
            ("rules: []\n".to_string(), "missing field `mutating`"),
            (
                format!("{VALID}backgroundAudit: yes-please\n"),
                "backgroundAudit: invalid type",
            ),
            (
                VALID.replace("CREATE", "PATCH"),
                "rules[0].operations[0]: unknown variant `PATCH`",
            ),
            (
                format!("{VALID}executionMode: docker\n"),
                "executionMode: unknown variant `docker`",
            ),
            (
                format!("{VALID}hostCapabilities: oci/v2/verify\n"),
                "hostCapabilities: invalid type: string",
            ),
            (
                format!("{VALID}hostCapabilities: [kubewarden/oci/v2/verify]\n"),
                "hostCapabilities[0]: \"kubewarden/oci/v2/verify\" is not a host capability",
            ),
            (
                VALID.replace("resources: [pods]", "resources: []"),
                "rules[0].resources: must not be empty",
            ),
            (
                VALID.replace("resources: [pods]", "resources: [\"\"]"),
                "rules[0].resources: empty resource is not allowed",
            ),
            (
                VALID.replace("operations: [CREATE]", "operations: [\"*\", CREATE]"),
                "rules[0].operations: no other elements can be defined when '*' is used",
            ),
            (
                VALID.replace("resources: [pods]", "resources: [\"*\", pods]"),
                "if '*' is present, must not specify other resources",
            ),
            (
                format!("{VALID}minimumKubewardenVersion: soon\n"),
                "minimumKubewardenVersion: \"soon\" is not a version",
            ),
        ];
        for (yaml, expected) in cases {
            let err = PolicyMetadata::from_yaml(&yaml).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}\nshould contain\n{expected}");
        }
    }
}
