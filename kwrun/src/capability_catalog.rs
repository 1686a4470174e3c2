//! The Kubewarden host capabilities by name (`namespace/operation`, as metadata.yml's
//! `hostCapabilities` and kwctl's `--allowed-host-capabilities` write them): which exist, which
//! a policy module calls, and which a run allows.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

/// Every capability a Kubewarden host serves (kwctl 1.36), as (namespace, operation).
/// `tracing/log` is not one: every policy may log.
pub const KNOWN: [(&str, &str); 11] = [
    ("crypto", "v1/is_certificate_trusted"),
    ("kubernetes", "can_i"),
    ("kubernetes", "get_resource"),
    ("kubernetes", "list_resources_all"),
    ("kubernetes", "list_resources_by_namespace"),
    ("net", "v1/dns_lookup_host"),
    ("oci", "v1/manifest_digest"),
    ("oci", "v1/oci_manifest"),
    ("oci", "v1/oci_manifest_config"),
    ("oci", "v1/verify"),
    ("oci", "v2/verify"),
];

pub fn is_known(path: &str) -> bool {
    KNOWN
        .iter()
        .any(|(namespace, operation)| path.split_once('/') == Some((namespace, operation)))
}

/// The capabilities a module calls, found as kwctl finds them: a capability counts when its
/// namespace and its operation both appear in the module's data (the strings the guest passes
/// to the host), an operation that prefixes a longer one only when it also stands alone.
pub fn used_by(wasm: &[u8]) -> Result<BTreeSet<String>> {
    let mut data = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::DataSection(reader) =
            payload.context("the policy is not a valid Wasm module")?
        {
            for segment in reader {
                data.extend_from_slice(segment.context("unreadable data segment")?.data);
                data.push(0xFF);
            }
        }
    }
    let count = |needle: &str| {
        data.windows(needle.len())
            .filter(|window| *window == needle.as_bytes())
            .count()
    };
    Ok(KNOWN
        .iter()
        .filter(|(namespace, operation)| {
            let longer: usize = KNOWN
                .iter()
                .filter(|(_, other)| other.len() > operation.len() && other.starts_with(operation))
                .map(|(_, other)| count(other))
                .sum();
            count(namespace) > 0 && count(operation) > longer
        })
        .map(|(namespace, operation)| format!("{namespace}/{operation}"))
        .collect())
}

/// What `--allowed-host-capabilities` lets a run call: `*`, `namespace/*`, a version prefix
/// such as `oci/v1/*`, or one capability; kwctl's default is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<String>,
}

impl Default for AllowList {
    fn default() -> Self {
        AllowList {
            patterns: vec!["*".to_string()],
        }
    }
}

impl AllowList {
    /// Checks each pattern against the capability tree, with kwctl's messages.
    pub fn parse(patterns: &[String]) -> Result<Self> {
        for pattern in patterns {
            check_pattern(pattern).with_context(|| "Invalid host capabilities pattern")?;
        }
        Ok(AllowList {
            patterns: patterns.to_vec(),
        })
    }

    pub fn allows(&self, namespace: &str, operation: &str) -> bool {
        let path = format!("{namespace}/{operation}");
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => *pattern == path,
            })
    }

    /// The error a policy gets for a call it was not granted, in kwctl's words.
    pub fn denial(namespace: &str, operation: &str) -> String {
        format!(
            "Policy has not been granted access to the '{namespace}/{operation}' host capability. The violation has been reported."
        )
    }
}

fn check_pattern(pattern: &str) -> Result<()> {
    if pattern.is_empty() {
        bail!("invalid pattern: pattern must not be empty");
    }
    if pattern == "*" || is_known(pattern) {
        return Ok(());
    }
    let segments: Vec<&str> = pattern.split('/').collect();
    let (last, prefix) = segments.split_last().expect("split yields one segment");
    if last.contains('*') && *last != "*" || prefix.iter().any(|s| s.contains('*')) {
        bail!("invalid pattern {pattern:?}: wildcard '*' must be the entire last path segment (e.g. 'oci/*'), not a partial match");
    }
    let paths: Vec<String> = KNOWN.iter().map(|(n, o)| format!("{n}/{o}")).collect();
    let stem = prefix.join("/");
    if *last == "*" {
        if paths.iter().any(|p| p.starts_with(&format!("{stem}/"))) {
            return Ok(());
        }
        let namespaces: BTreeSet<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
        bail!(
            "invalid pattern {pattern:?}: unknown segment {:?}, valid options at this level are: {}",
            prefix[0],
            namespaces.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    if paths.iter().any(|p| p.starts_with(&format!("{pattern}/"))) {
        bail!("invalid pattern {pattern:?}: not a complete capability path; use \"{pattern}/*\" to allow all capabilities under it");
    }
    bail!("invalid pattern {pattern:?}: not a host capability")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_allow_what_they_name() {
        let list =
            AllowList::parse(&["oci/v1/*".into(), "crypto/v1/is_certificate_trusted".into()])
                .unwrap();
        assert!(list.allows("oci", "v1/oci_manifest"));
        assert!(list.allows("crypto", "v1/is_certificate_trusted"));
        assert!(!list.allows("oci", "v2/verify"));
        assert!(AllowList::default().allows("net", "v1/dns_lookup_host"));
        let namespace = AllowList::parse(&["oci/*".into()]).unwrap();
        assert!(
            namespace.allows("oci", "v2/verify") && !namespace.allows("net", "v1/dns_lookup_host")
        );
    }

    #[test]
    fn bad_patterns_are_refused_as_kwctl_refuses_them() {
        let cases = [
            ("", "pattern must not be empty"),
            ("oci*", "wildcard '*' must be the entire last path segment"),
            ("oci", "not a complete capability path; use \"oci/*\""),
            ("bogus/*", "unknown segment \"bogus\", valid options at this level are: crypto, kubernetes, net, oci"),
            ("oci/v9/verify", "not a host capability"),
        ];
        for (pattern, expected) in cases {
            let err = format!(
                "{:#}",
                AllowList::parse(&[pattern.to_string()]).unwrap_err()
            );
            assert!(
                err.starts_with("Invalid host capabilities pattern: "),
                "{err}"
            );
            assert!(err.contains(expected), "{pattern}: {err}");
        }
    }

    #[test]
    fn a_module_uses_what_its_data_names() {
        let module = wat::parse_str(
            r#"(module (memory 1)
                 (data (i32.const 0) "kubewarden")
                 (data (i32.const 16) "oci")
                 (data (i32.const 32) "v2/verify")
                 (data (i32.const 64) "v1/oci_manifest_config"))"#,
        )
        .unwrap();
        // v1/oci_manifest only appears inside v1/oci_manifest_config: not counted.
        assert_eq!(
            used_by(&module).unwrap(),
            BTreeSet::from([
                "oci/v1/oci_manifest_config".to_string(),
                "oci/v2/verify".to_string()
            ])
        );
    }
}
