//! Every YAML example in README.md goes through the policy's own settings reader: settings
//! documents and the `settings` of ClusterAdmissionPolicy examples must be valid, and an example
//! marked `# refused, as shown below` must be refused with exactly the errors the README prints
//! after it. An example of any other shape fails the test, so none is skipped silently.

use serde_json::Value;
use verify_image_signatures::Settings;

/// The fenced blocks of `language`, each with the text after it (up to the next block's end).
fn blocks(markdown: &str, language: &str) -> Vec<(String, String)> {
    let fence = format!("```{language}\n");
    let mut found = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(&fence) {
        let body_start = start + fence.len();
        let body_len = rest[body_start..].find("```\n").expect("closed fence");
        let body = rest[body_start..body_start + body_len].to_string();
        rest = &rest[body_start + body_len + 4..];
        found.push((body, rest.to_string()));
    }
    found
}

/// The errors the README shows for a refused example: the next ```text block, one per line.
fn shown_errors(after: &str) -> Vec<String> {
    let (text, _) = blocks(after, "text")
        .into_iter()
        .next()
        .expect("a ```text block follows");
    text.lines().map(str::to_string).collect()
}

#[test]
fn every_yaml_example_is_what_the_policy_says_it_is() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let examples = blocks(&readme, "yaml");
    assert!(
        examples.len() >= 8,
        "found only {} YAML examples",
        examples.len()
    );
    for (i, (yaml, after)) in examples.iter().enumerate() {
        let document: Value = serde_yaml::from_str(yaml)
            .unwrap_or_else(|e| panic!("README YAML example {i} does not parse: {e}\n{yaml}"));
        // The Install section's PolicyServer and Sigstore verification config are not settings.
        if document["kind"] == "PolicyServer"
            || document.get("allOf").is_some()
            || document.get("anyOf").is_some()
        {
            continue;
        }
        let settings = if document["kind"] == "ClusterAdmissionPolicy"
            || document["kind"] == "AdmissionPolicy"
        {
            document["spec"]["settings"].clone()
        } else if document.get("signatures").is_some()
            || document.get("modifyImagesWithDigests").is_some()
        {
            document
        } else {
            panic!("README YAML example {i} is neither settings nor a policy resource:\n{yaml}");
        };
        let outcome = Settings::parse(&settings);
        if yaml.starts_with("# refused, as shown below") {
            let errors = outcome.expect_err("the example is meant to be refused");
            let errors: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            assert_eq!(errors, shown_errors(after), "README example {i}");
        } else if let Err(errors) = outcome {
            panic!("README YAML example {i} is refused: {errors}\n{yaml}");
        }
    }
}

/// The README's project layout: every path it names exists, and every module of the policy's
/// tree (`src/`, `src/deploy/`, `src/request/`) is named, so a move cannot leave it behind.
#[test]
fn the_project_layout_names_every_module_and_nothing_else() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let layout = readme
        .split("## Project layout\n")
        .nth(1)
        .and_then(|section| blocks(section, "text").into_iter().next())
        .map(|(body, _)| body)
        .expect("a ```text block under ## Project layout");
    // Lines at the margin name a path from the root; lines indented by two a path inside the
    // last directory at the margin; deeper lines continue a description.
    let mut named = Vec::new();
    let mut parent = String::new();
    for line in layout.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if line.starts_with("   ") {
            continue;
        }
        if line.starts_with("  ") {
            named.push(format!("{parent}{first}"));
        } else {
            if first.ends_with('/') {
                parent = first.to_string();
            }
            named.push(first.to_string());
        }
    }
    for path in &named {
        assert!(
            std::path::Path::new(root).join(path).exists(),
            "the README's project layout names {path}, which does not exist"
        );
    }
    for dir in ["src", "src/deploy", "src/request"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = match std::path::Path::new(root).join(dir).join(&name).is_dir() {
                true => format!("{dir}/{name}/"),
                false => format!("{dir}/{name}"),
            };
            let is_module = path.ends_with('/') || path.ends_with(".rs");
            let test_only = ["src/test_host.rs", "src/test_pki.rs", "src/request/tests/"];
            let described = ["src/deploy/", "src/request/"].contains(&path.as_str())
                || path.ends_with("/mod.rs");
            if is_module && !test_only.contains(&path.as_str()) && !described {
                // `x.rs` with its submodules in `x/` is one module.
                let as_directory = path.replace(".rs", "/");
                assert!(
                    named.contains(&path) || named.contains(&as_directory),
                    "the README's project layout does not name {path}"
                );
            }
        }
    }
}
