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
