//! Reads kwctl's `--sources-path` YAML: which registries are reached over
//! plain HTTP instead of HTTPS.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The registries a user declared insecure (`host` or `host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub insecure_sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    #[serde(default)]
    insecure_sources: Vec<String>,
    /// Custom CA roots per registry. Accepted so kwctl's files load, but not
    /// used: kwrun's registries are either plain HTTP or publicly trusted.
    #[serde(default)]
    #[allow(dead_code)]
    source_authorities: serde_yaml::Value,
}

impl Sources {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sources file {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("invalid sources file {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Self> {
        // An empty file is a valid "no sources" file.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let file: SourcesFile = serde_yaml::from_str(text)?;
        Ok(Self {
            insecure_sources: file.insecure_sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_insecure_sources_and_ignores_authorities() {
        let sources = Sources::from_yaml(
            "insecure_sources:\n  - \"127.0.0.1:5000\"\n  - registry.local\nsource_authorities:\n  foo: []\n",
        )
        .unwrap();
        assert_eq!(
            sources.insecure_sources,
            vec!["127.0.0.1:5000", "registry.local"]
        );
    }

    #[test]
    fn empty_file_means_no_sources() {
        assert_eq!(Sources::from_yaml("").unwrap(), Sources::default());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Sources::from_yaml("insecure_source: [a]").is_err());
    }
}
