//! The policy's metadata files agree with each other, with Cargo.toml and with the settings the
//! policy actually reads: a version bumped in one place only, a rule missing from Artifact Hub or
//! a form field the policy would reject all fail here instead of after a release.
//!
//! The settings keys and workload kinds come from the policy crate itself, so a new key or
//! kind that the files do not mention fails here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use verify_image_signatures::settings_keys;
use verify_image_signatures::WORKLOAD_KINDS;

/// (API group, resource) pairs the policy must be registered for.
fn resources() -> BTreeSet<(&'static str, &'static str)> {
    WORKLOAD_KINDS
        .iter()
        .flat_map(|w| w.resources.iter().map(|r| (w.api_group, *r)))
        .collect()
}

/// The kinds, as Artifact Hub lists them.
fn kinds() -> String {
    let kinds: Vec<&str> = WORKLOAD_KINDS.iter().map(|w| w.kind).collect();
    kinds.join(", ")
}

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(name: &str) -> Value {
    serde_yaml::from_str(&read(name)).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

fn metadata() -> Value {
    yaml("metadata.yml")
}

fn artifacthub() -> Value {
    yaml("artifacthub-pkg.yml")
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is missing or not a string"))
}

fn annotation<'a>(document: &'a Value, key: &str) -> &'a str {
    document["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("annotation {key} is missing or not a string"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, found {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("expected a string, found {v}"))
        })
        .collect()
}

/// The `version = "…"` line of the `[package]` table.
fn cargo_version() -> String {
    let manifest = read("Cargo.toml");
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            if key.trim() == "version" {
                return value.trim().trim_matches('"').to_string();
            }
        }
    }
    panic!("Cargo.toml has no version in [package]");
}

/// The version of the newest released entry in CHANGELOG.md: its first `## ` heading other than
/// `## Unreleased` (`## 0.2.0`, `## [0.2.0] - 2026-12-01` or `## v0.2.0`).
fn changelog_version() -> String {
    let changelog = read("CHANGELOG.md");
    let heading = changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .find(|title| !title.trim().eq_ignore_ascii_case("unreleased"))
        .expect("CHANGELOG.md has no released entry (a `## <version>` heading)");
    let version = heading.split_whitespace().next().unwrap_or_default();
    version
        .trim_matches(|c| c == '[' || c == ']')
        .trim_start_matches('v')
        .to_string()
}

/// Cargo.toml's package version is the release version (`make release`, the `v*` tag the release
/// workflow checks); every other file that states it must say the same.
#[test]
fn every_file_states_the_cargo_version() {
    let cargo = cargo_version();
    let metadata = metadata();
    let artifacthub = artifacthub();
    let stated = [
        (
            "metadata.yml",
            "annotations.io.kubewarden.policy.version",
            annotation(&metadata, "io.kubewarden.policy.version").to_string(),
        ),
        (
            "artifacthub-pkg.yml",
            "version",
            text(&artifacthub, "/version").to_string(),
        ),
        ("CHANGELOG.md", "newest released entry", changelog_version()),
    ];
    let disagreeing: Vec<String> = stated
        .iter()
        .filter(|(_, _, version)| *version != cargo)
        .map(|(file, field, version)| {
            format!("{file} ({field}) says {version:?}, Cargo.toml says {cargo:?}")
        })
        .collect();
    assert!(
        disagreeing.is_empty(),
        "versions disagree with Cargo.toml's [package] version:\n  {}",
        disagreeing.join("\n  ")
    );
}

#[test]
fn published_locations_name_the_cargo_version() {
    let cargo = cargo_version();
    let metadata = metadata();
    let artifacthub = artifacthub();

    // Published locations name the same release, at the place metadata.yml names.
    let tag = format!("v{cargo}");
    let image = text(&artifacthub, "/containersImages/0/image");
    assert!(
        image.ends_with(&format!(":{tag}")),
        "containersImages: {image}"
    );
    let oci_url = annotation(&metadata, "io.kubewarden.policy.ociUrl");
    assert_eq!(
        image,
        format!("{oci_url}:{tag}"),
        "containersImages vs io.kubewarden.policy.ociUrl"
    );
    assert!(
        text(&artifacthub, "/install").contains(&format!(":{tag}")),
        "install text"
    );
    // The GitHub release's asset, as `make release` names it.
    let links = artifacthub["links"].as_array().expect("links");
    for link in links.iter().filter(|l| l["name"] == "policy") {
        let url = link["url"].as_str().expect("link url");
        assert!(
            url.ends_with(&format!("/releases/download/{tag}/annotated-policy.wasm")),
            "artifacthub-pkg.yml policy link: {url}"
        );
    }
    // The README's Install section pulls this release from the same place.
    let pull = format!("registry://{oci_url}:{tag}");
    assert!(
        read("README.md").contains(&pull),
        "README.md does not name {pull} (its Install section)"
    );
}

#[test]
fn metadata_declares_a_mutating_wapc_policy_with_background_audit() {
    let metadata = metadata();
    assert_eq!(metadata["mutating"], Value::Bool(true));
    // Not context aware: no cluster resources are read.
    assert!(metadata.get("contextAwareResources").is_none());
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(metadata["backgroundAudit"], Value::Bool(true));
    assert_eq!(
        annotation(&metadata, "io.kubewarden.policy.license"),
        "Apache-2.0"
    );
    assert_eq!(annotation(&metadata, "io.artifacthub.resources"), kinds());
}

#[test]
fn metadata_rules_cover_every_workload_resource_on_create_and_update() {
    let metadata = metadata();
    let rules = metadata["rules"].as_array().expect("rules must be a list");
    let mut covered = BTreeSet::new();
    for rule in rules {
        assert_eq!(strings(&rule["apiVersions"]), ["v1"], "{rule}");
        let operations: BTreeSet<&str> = strings(&rule["operations"]).into_iter().collect();
        assert_eq!(operations, BTreeSet::from(["CREATE", "UPDATE"]), "{rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                assert!(
                    covered.insert((group, resource)),
                    "{group}/{resource} listed twice"
                );
            }
        }
    }
    assert_eq!(covered, resources());
}

/// The `annotations:` block of artifacthub-pkg.yml as Kubewarden's tooling writes it (kwctl
/// scaffold artifacthub), from metadata.yml and questions-ui.yml: every value a string.
fn generated_artifacthub_annotations() -> String {
    let metadata = metadata();
    let indent = |text: &str| {
        text.lines()
            .map(|line| {
                if line.is_empty() {
                    String::new()
                } else {
                    format!("    {line}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rules = serde_yaml::to_string(&metadata["rules"]).expect("rules serialise");
    let mutation = if metadata["mutating"] == Value::Bool(true) {
        "true"
    } else {
        "false"
    };
    format!(
        "annotations:\n  kubewarden/mutation: '{mutation}'\n  kubewarden/questions-ui: |\n{}\n  kubewarden/resources: {}\n  kubewarden/rules: |\n{}\n",
        indent(&read("questions-ui.yml")),
        annotation(&metadata, "io.artifacthub.resources"),
        indent(&rules),
    )
}

/// The annotations are generated: `make artifacthub-pkg.yml` (UPDATE_ARTIFACTHUB=1) rewrites
/// them; otherwise a file that drifted from metadata.yml or questions-ui.yml fails here.
#[test]
fn artifacthub_annotations_are_generated_from_metadata_and_questions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacthub-pkg.yml");
    let current = read("artifacthub-pkg.yml");
    let start = current
        .find("\nannotations:\n")
        .expect("artifacthub-pkg.yml ends with its annotations")
        + 1;
    let expected = format!(
        "{}{}",
        &current[..start],
        generated_artifacthub_annotations()
    );
    if std::env::var_os("UPDATE_ARTIFACTHUB").is_some() {
        std::fs::write(&path, &expected).expect("write artifacthub-pkg.yml");
        return;
    }
    assert!(
        current == expected,
        "artifacthub-pkg.yml annotations are out of date: run `make artifacthub-pkg.yml`"
    );
}

#[test]
fn artifacthub_annotations_match_metadata() {
    let metadata = metadata();
    let artifacthub = artifacthub();
    let rules_text = annotation(&artifacthub, "kubewarden/rules");
    let rules: Value = serde_yaml::from_str(rules_text)
        .unwrap_or_else(|e| panic!("kubewarden/rules is not valid YAML: {e}"));
    assert_eq!(rules, metadata["rules"]);
    assert_eq!(annotation(&artifacthub, "kubewarden/mutation"), "true");
    assert_eq!(annotation(&artifacthub, "kubewarden/resources"), kinds());
    let questions: Value =
        serde_yaml::from_str(annotation(&artifacthub, "kubewarden/questions-ui"))
            .unwrap_or_else(|e| panic!("kubewarden/questions-ui is not valid YAML: {e}"));
    assert_eq!(questions, yaml("questions-ui.yml"));
    assert_eq!(
        text(&artifacthub, "/license"),
        annotation(&metadata, "io.kubewarden.policy.license")
    );
    assert_eq!(
        text(&artifacthub, "/name"),
        annotation(&metadata, "io.kubewarden.policy.title")
    );
}

/// Every `variable` of a questions list, recursively, without its parent prefix
/// (`githubActions.owner` is `owner`).
fn variables(questions: &Value, found: &mut Vec<String>) {
    for question in questions.as_array().expect("questions must be a list") {
        let variable = question["variable"]
            .as_str()
            .unwrap_or_else(|| panic!("question without a variable: {question}"));
        let key = variable.rsplit('.').next().unwrap_or(variable);
        found.push(key.to_string());
        for nested in ["subquestions", "sequence_questions"] {
            if let Some(children) = question.get(nested) {
                variables(children, found);
            }
        }
    }
}

#[test]
fn questions_ui_names_only_real_settings_keys_and_all_of_them() {
    let questions = yaml("questions-ui.yml");
    let mut found = Vec::new();
    variables(&questions["questions"], &mut found);
    let unknown: Vec<&String> = found
        .iter()
        .filter(|v| !settings_keys().contains(&v.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "questions-ui.yml variables that are not settings keys: {unknown:?}"
    );
    let asked: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    let missing: Vec<&str> = settings_keys()
        .into_iter()
        .filter(|k| !asked.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "settings keys the form does not ask for: {missing:?}"
    );
}

#[test]
fn readme_documents_every_settings_key() {
    let readme = read("README.md");
    let missing: Vec<&str> = settings_keys()
        .into_iter()
        .chain(["url_prefix"])
        .filter(|key| !readme.contains(&format!("`{key}`")) && !readme.contains(&format!("{key}:")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not mention: {missing:?}"
    );
}
