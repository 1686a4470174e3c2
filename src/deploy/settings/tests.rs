use rstest::rstest;
use serde_json::{json, Value};

use super::rule::FailureAction;
use super::*;
use crate::deploy::pem_material::test_material::*;
use crate::host::SignerConstraint;

fn parse_yaml(yaml: &str) -> Result<Settings, SettingsErrors> {
    let document: Value = serde_yaml::from_str(yaml).expect("test YAML");
    Settings::parse(&document)
}

fn errors_of(document: Value) -> String {
    Settings::parse(&document)
        .expect_err("settings must be invalid")
        .to_string()
}

#[test]
fn reads_every_signer_kind() {
    let document = json!({
        "signatures": [
            {"image": "ghcr.io/acme/*", "pubKeys": [P256_PUB, P384_PUB, RSA_PUB, ED25519_PUB], "annotations": {"env": "prod"}},
            {"image": "ghcr.io/acme/*", "keyless": [{"issuer": "https://accounts.example", "subject": "alice@example.com"}]},
            {"image": "ghcr.io/acme/*", "keylessPrefix": [{"issuer": "https://token.actions.githubusercontent.com", "urlPrefix": "https://github.com/acme"}]},
            {"image": "ghcr.io/acme/*", "githubActions": {"owner": "acme", "repo": "app"}},
            {"image": "ghcr.io/acme/*", "certificates": [LEAF_CERT], "certificateChain": [CA_CERT], "requireRekorBundle": false}
        ]
    });
    let settings = Settings::parse(&document).expect("valid settings");
    assert_eq!(
        settings.digest_policy,
        DigestPolicy::Pin,
        "pinning defaults to on"
    );
    let kinds: Vec<&str> = settings.rules.iter().map(|r| r.signer.key()).collect();
    assert_eq!(
        kinds,
        [
            "pubKeys",
            "keyless",
            "keylessPrefix",
            "githubActions",
            "certificates"
        ]
    );
    assert_eq!(
        settings.rules[0].annotations.as_ref().unwrap()["env"],
        "prod"
    );
    assert_eq!(
        settings.rules[0].signer.constraints(),
        vec![SignerConstraint::PubKeys(&[
            P256_PUB.to_string(),
            P384_PUB.to_string(),
            RSA_PUB.to_string(),
            ED25519_PUB.to_string()
        ])]
    );
    match &settings.rules[2].signer.constraints()[0] {
        SignerConstraint::KeylessPrefix(ids) => {
            assert_eq!(ids[0].url_prefix, "https://github.com/acme")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        settings.rules[3].signer.constraints(),
        vec![SignerConstraint::GithubActions {
            owner: "acme",
            repo: Some("app")
        }]
    );
    let chain = [CA_CERT.to_string()];
    assert_eq!(
        settings.rules[4].signer.constraints(),
        vec![SignerConstraint::Certificate {
            certificate: LEAF_CERT,
            chain: Some(&chain),
            require_rekor_bundle: false
        }]
    );
}

#[test]
fn reads_the_established_policys_yaml() {
    let yaml = format!(
        r#"
modifyImagesWithDigest: false
signatures:
  - image: "registry-testing.svc.lan/*"
    pubKeys:
      - |
{}
    annotations:
      env: prod
  - image: "ghcr.io/kubewarden/*"
    keylessPrefix:
      - issuer: https://token.actions.githubusercontent.com
        url_prefix: https://github.com/kubewarden
  - image: "docker.io/library/busybox:*"
    githubActions:
      owner: kubewarden
  - image: "*"
    certificates:
      - |
{}
"#,
        indent(P256_PUB, 8),
        indent(LEAF_CERT, 8)
    );
    let settings = parse_yaml(&yaml).expect("valid settings");
    assert_eq!(settings.digest_policy, DigestPolicy::Keep);
    assert_eq!(settings.rules.len(), 4);
    assert_eq!(
        settings.rules[2].signer.constraints(),
        vec![SignerConstraint::GithubActions {
            owner: "kubewarden",
            repo: None
        }]
    );
    // certificates without certificateChain and requireRekorBundle: no chain, bundle required.
    match &settings.rules[3].signer.constraints()[0] {
        SignerConstraint::Certificate {
            chain,
            require_rekor_bundle,
            ..
        } => {
            assert_eq!(*chain, None);
            assert!(*require_rekor_bundle);
        }
        other => panic!("{other:?}"),
    }
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}", " ".repeat(by)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn accepts_url_prefix_in_either_spelling_but_not_both() {
    let rule = |prefix: Value| json!({"signatures": [{"image": "*", "keylessPrefix": [prefix]}]});
    assert!(Settings::parse(&rule(
        json!({"issuer": "i", "urlPrefix": "https://github.com/a"})
    ))
    .is_ok());
    assert!(Settings::parse(&rule(
        json!({"issuer": "i", "url_prefix": "https://github.com/a"})
    ))
    .is_ok());
    assert_eq!(
        errors_of(rule(
            json!({"issuer": "i", "urlPrefix": "https://github.com/a", "url_prefix": "https://github.com/b"})
        )),
        "signatures[0].keylessPrefix[0]: give urlPrefix or url_prefix, not both"
    );
}

#[rstest]
#[case::not_an_object(json!([]), "must be an object, found a list")]
#[case::no_signatures(json!({}), "signatures: is required: list at least one signature rule")]
#[case::empty_signatures(json!({"signatures": []}), "signatures: must not be empty")]
#[case::signatures_not_a_list(json!({"signatures": {"image": "*"}}), "signatures: must be a list, found an object")]
#[case::unknown_top_level(json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}}], "modifyImageWithDigest": false}),
    "modifyImageWithDigest: unknown field; expected one of: signatures, modifyImagesWithDigest, digestPolicy, unmatchedImages, skipImages, customResources, fulcioCertificateChain, allowedRegistries, rule")]
#[case::modify_not_bool(json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}}], "modifyImagesWithDigest": "no"}),
    "modifyImagesWithDigest: must be true or false, found a string")]
#[case::no_image(json!({"signatures": [{"githubActions": {"owner": "a"}}]}),
    "signatures[0].image: is required (a glob such as \"ghcr.io/acme/*\")")]
#[case::empty_image(json!({"signatures": [{"image": " ", "githubActions": {"owner": "a"}}]}), "signatures[0].image: must not be empty")]
#[case::no_signer(json!({"signatures": [{"image": "*"}]}),
    "signatures[0]: needs one signer kind: one of pubKeys, keyless, keylessPrefix, githubActions, certificates")]
#[case::two_signers(json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}, "keyless": [{"issuer": "i", "subject": "s"}]}]}),
    "signatures[0]: has keyless and githubActions: a rule takes exactly one signer kind (write one rule per kind; every matching rule must pass)")]
#[case::unknown_rule_field(json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}, "anotations": {"a": "b"}}]}),
    "signatures[0].anotations: unknown field; expected one of: image, annotations, failureAction, minimumMatches, pubKeys, keyless, keylessPrefix, githubActions, certificates, certificateChain, requireRekorBundle")]
#[case::empty_pub_keys(json!({"signatures": [{"image": "*", "pubKeys": []}]}), "signatures[0].pubKeys: must not be empty")]
#[case::bad_pem(json!({"signatures": [{"image": "*", "pubKeys": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]}]}),
    "signatures[0].pubKeys[0]: not a PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo): unknown/unsupported ASN.1 DER tag: 0x00 at DER byte 1")]
#[case::empty_keyless(json!({"signatures": [{"image": "*", "keyless": []}]}), "signatures[0].keyless: must not be empty")]
#[case::keyless_missing_subject(json!({"signatures": [{"image": "*", "keyless": [{"issuer": "i"}]}]}),
    "signatures[0].keyless[0].subject: is required")]
#[case::keyless_unknown(json!({"signatures": [{"image": "*", "keyless": [{"issuer": "i", "subject": "s", "subjectRegExp": ".*"}]}]}),
    "signatures[0].keyless[0].subjectRegExp: unknown field; expected one of: issuer, subject")]
#[case::prefix_not_https(json!({"signatures": [{"image": "*", "keylessPrefix": [{"issuer": "i", "urlPrefix": "gh.com/x"}]}]}),
    "signatures[0].keylessPrefix[0].urlPrefix: \"gh.com/x\" is not an absolute https URL")]
#[case::prefix_missing(json!({"signatures": [{"image": "*", "keylessPrefix": [{"issuer": "i"}]}]}),
    "signatures[0].keylessPrefix[0].urlPrefix: is required")]
#[case::gha_not_object(json!({"signatures": [{"image": "*", "githubActions": "acme"}]}),
    "signatures[0].githubActions: must be an object, found a string")]
#[case::gha_empty_owner(json!({"signatures": [{"image": "*", "githubActions": {"owner": ""}}]}),
    "signatures[0].githubActions.owner: must not be empty")]
#[case::gha_bad_repo(json!({"signatures": [{"image": "*", "githubActions": {"owner": "acme", "repo": "a/b"}}]}),
    "signatures[0].githubActions.repo: \"a/b\" is not a valid GitHub repository name (letters, digits, '.', '-', '_', at most 100)")]
#[case::gha_bad_owner(json!({"signatures": [{"image": "*", "githubActions": {"owner": "-acme"}}]}),
    "signatures[0].githubActions.owner: \"-acme\" is not a valid GitHub user or organisation name (letters, digits and single inner hyphens, at most 39)")]
#[case::empty_certificates(json!({"signatures": [{"image": "*", "certificates": []}]}), "signatures[0].certificates: must not be empty")]
#[case::cert_is_key(json!({"signatures": [{"image": "*", "certificates": [P256_PUB]}]}),
    "signatures[0].certificates[0]: not a PEM X.509 \"CERTIFICATE\": PEM error: unexpected PEM type label: expecting \"BEGIN CERTIFICATE\"")]
#[case::empty_chain(json!({"signatures": [{"image": "*", "certificates": [LEAF_CERT], "certificateChain": []}]}),
    "signatures[0].certificateChain: must not be empty")]
#[case::rekor_not_bool(json!({"signatures": [{"image": "*", "certificates": [LEAF_CERT], "requireRekorBundle": "yes"}]}),
    "signatures[0].requireRekorBundle: must be true or false, found a string")]
#[case::chain_without_certificates(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "certificateChain": [CA_CERT]}]}),
    "signatures[0].certificateChain: is only allowed together with certificates")]
#[case::failure_action_unknown(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "failureAction": "audit"}]}),
    "signatures[0].failureAction: must be one of reject, warn, found \"audit\"")]
#[case::failure_action_not_string(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "failureAction": false}]}),
    "signatures[0].failureAction: must be a string, found a boolean")]
#[case::minimum_zero(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "minimumMatches": 0}]}),
    "signatures[0].minimumMatches: must be a whole number of at least 1 (omit it to require every signer), found 0")]
#[case::minimum_string(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "minimumMatches": "1"}]}),
    "signatures[0].minimumMatches: must be a whole number of at least 1 (omit it to require every signer), found \"1\"")]
#[case::minimum_fraction(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB, P384_PUB], "minimumMatches": 1.5}]}),
    "signatures[0].minimumMatches: must be a whole number of at least 1 (omit it to require every signer), found 1.5")]
#[case::minimum_negative(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "minimumMatches": -1}]}),
    "signatures[0].minimumMatches: must be a whole number of at least 1 (omit it to require every signer), found -1")]
#[case::minimum_above_list(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB, P384_PUB], "minimumMatches": 3}]}),
    "signatures[0].minimumMatches: is 3, but signatures[0].pubKeys lists 2 signers: it could never be met")]
#[case::minimum_above_keyless(json!({"signatures": [{"image": "*", "keyless": [{"issuer": "i", "subject": "s"}], "minimumMatches": 2}]}),
    "signatures[0].minimumMatches: is 2, but signatures[0].keyless lists 1 signer: it could never be met")]
#[case::minimum_same_key_twice(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB, RSA_PUB, format!("\n\n{}", P256_PUB.replace('\n', "\r\n"))], "minimumMatches": 2}]}),
    "signatures[0].pubKeys[2]: one signature could satisfy both this and pubKeys[0], so with minimumMatches it would count twice")]
#[case::minimum_same_identity_twice(json!({"signatures": [{"image": "*", "keyless": [{"issuer": "i", "subject": "s"}, {"issuer": "i", "subject": "s"}], "minimumMatches": 2}]}),
    "signatures[0].keyless[1]: one signature could satisfy both this and keyless[0], so with minimumMatches it would count twice")]
#[case::minimum_overlapping_prefixes(json!({"signatures": [{"image": "*", "keylessPrefix": [{"issuer": "i", "urlPrefix": "https://github.com/acme/"}, {"issuer": "i", "urlPrefix": "https://github.com/acme/app/"}], "minimumMatches": 2}]}),
    "signatures[0].keylessPrefix[1]: one signature could satisfy both this and keylessPrefix[0], so with minimumMatches it would count twice")]
#[case::minimum_same_certificate_twice(json!({"signatures": [{"image": "*", "certificates": [LEAF_CERT, LEAF_CERT], "minimumMatches": 1}]}),
    "signatures[0].certificates[1]: one signature could satisfy both this and certificates[0], so with minimumMatches it would count twice")]
#[case::minimum_with_github_actions(json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}, "minimumMatches": 1}]}),
    "signatures[0].minimumMatches: is not allowed with githubActions, which names a single signer")]
#[case::custom_resources_not_a_list(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}], "customResources": {"group": "argoproj.io"}}),
    "customResources: must be a list, found an object")]
#[case::custom_resources_bad_path(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}], "customResources": [{"group": "argoproj.io", "kind": "Rollout", "paths": ["$.spec.containers[?(@.name)].image"]}]}),
    "customResources[0].paths[0]: \"$.spec.containers[?(@.name)].image\" is not a JSONPath the policy reads: unexpected '[' at character 18; supported: $ then .name, ['name'], [n], [*], .*, ..name, ..[n], ..[*] or ..*")]
#[case::annotation_not_string(json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB], "annotations": {"version": 2}}]}),
    "signatures[0].annotations.version: must be a string, found a number (quote it in YAML)")]
fn reports_each_problem_with_its_path(#[case] document: Value, #[case] expected: &str) {
    assert_eq!(errors_of(document), expected);
}

/// `digestPolicy` and the established `modifyImagesWithDigest`, alone and together: together
/// they must say the same thing (`true` is a pinning policy, `false` a non-mutating one).
#[rstest]
#[case::neither(None, None, Ok(DigestPolicy::Pin))]
#[case::modify_true(Some(json!(true)), None, Ok(DigestPolicy::Pin))]
#[case::modify_false(Some(json!(false)), None, Ok(DigestPolicy::Keep))]
#[case::pin(None, Some("pin"), Ok(DigestPolicy::Pin))]
#[case::pods_only(None, Some("pinPodsOnly"), Ok(DigestPolicy::PinPodsOnly))]
#[case::keep(None, Some("keep"), Ok(DigestPolicy::Keep))]
#[case::require(None, Some("require"), Ok(DigestPolicy::Require))]
#[case::true_pin(Some(json!(true)), Some("pin"), Ok(DigestPolicy::Pin))]
#[case::true_pods_only(Some(json!(true)), Some("pinPodsOnly"), Ok(DigestPolicy::PinPodsOnly))]
#[case::false_keep(Some(json!(false)), Some("keep"), Ok(DigestPolicy::Keep))]
#[case::false_require(Some(json!(false)), Some("require"), Ok(DigestPolicy::Require))]
#[case::true_keep(Some(json!(true)), Some("keep"),
    Err("digestPolicy: \"keep\" contradicts modifyImagesWithDigest: true; give only digestPolicy (modifyImagesWithDigest: true is pin, false is keep)"))]
#[case::true_require(Some(json!(true)), Some("require"),
    Err("digestPolicy: \"require\" contradicts modifyImagesWithDigest: true; give only digestPolicy (modifyImagesWithDigest: true is pin, false is keep)"))]
#[case::false_pin(Some(json!(false)), Some("pin"),
    Err("digestPolicy: \"pin\" contradicts modifyImagesWithDigest: false; give only digestPolicy (modifyImagesWithDigest: true is pin, false is keep)"))]
#[case::false_pods_only(Some(json!(false)), Some("pinPodsOnly"),
    Err("digestPolicy: \"pinPodsOnly\" contradicts modifyImagesWithDigest: false; give only digestPolicy (modifyImagesWithDigest: true is pin, false is keep)"))]
#[case::unknown(
    None,
    Some("Pin"),
    Err("digestPolicy: must be one of pin, pinPodsOnly, keep, require, found \"Pin\"")
)]
#[case::unknown_and_bad_modify(Some(json!("yes")), Some("pods"),
    Err("modifyImagesWithDigest: must be true or false, found a string; digestPolicy: must be one of pin, pinPodsOnly, keep, require, found \"pods\""))]
fn reads_the_digest_policy(
    #[case] modify: Option<Value>,
    #[case] policy: Option<&str>,
    #[case] expected: Result<DigestPolicy, &str>,
) {
    let mut document = json!({"signatures": [{"image": "*", "githubActions": {"owner": "a"}}]});
    if let Some(modify) = modify {
        document["modifyImagesWithDigest"] = modify;
    }
    if let Some(policy) = policy {
        document["digestPolicy"] = json!(policy);
    }
    let read = Settings::parse(&document)
        .map(|s| s.digest_policy)
        .map_err(|e| e.to_string());
    assert_eq!(read, expected.map_err(str::to_string));
}

#[test]
fn minimum_matches_is_read_for_every_kind_that_lists_signers() {
    let settings = Settings::parse(&json!({"signatures": [
        {"image": "*", "pubKeys": [P256_PUB, P384_PUB, RSA_PUB], "minimumMatches": 2},
        {"image": "*", "keyless": [{"issuer": "i", "subject": "s"}], "minimumMatches": 1},
        {"image": "*", "keylessPrefix": [{"issuer": "i", "urlPrefix": "https://github.com/a"}, {"issuer": "i", "urlPrefix": "https://github.com/b"}], "minimumMatches": 2},
        {"image": "*", "certificates": [LEAF_CERT], "minimumMatches": 1},
        {"image": "*", "pubKeys": [P256_PUB]},
    ]}))
    .unwrap();
    let read: Vec<Option<usize>> = settings.rules.iter().map(|r| r.minimum_matches).collect();
    assert_eq!(read, [Some(2), Some(1), Some(2), Some(1), None]);
    let calls: Vec<usize> = settings
        .rules
        .iter()
        .map(|r| r.signer.each_signer().map_or(0, |s| s.len()))
        .collect();
    assert_eq!(calls, [3, 1, 2, 1, 1]);
}

#[test]
fn rules_enforce_unless_they_say_warn() {
    let settings = Settings::parse(&json!({"signatures": [
        {"image": "*", "pubKeys": [P256_PUB]},
        {"image": "*", "pubKeys": [P256_PUB], "failureAction": "reject"},
        {"image": "*", "pubKeys": [P256_PUB], "failureAction": "warn"},
    ]}))
    .unwrap();
    let actions: Vec<FailureAction> = settings.rules.iter().map(|r| r.failure_action).collect();
    assert_eq!(
        actions,
        [
            FailureAction::Reject,
            FailureAction::Reject,
            FailureAction::Warn
        ]
    );
}

/// The new settings' mistakes come together with every other, in document order.
#[test]
fn reports_problems_of_the_new_settings_together() {
    let document = json!({
        "digestPolicy": "pinned",
        "customResources": [{"group": "argoproj.io", "kind": "rollouts", "paths": ["$.a"]}],
        "signatures": [
            {"image": "*", "pubKeys": [P256_PUB], "minimumMatches": 2, "failureAction": "Warn"},
        ],
    });
    assert_eq!(
        errors_of(document),
        "signatures[0].failureAction: must be one of reject, warn, found \"Warn\"; \
         signatures[0].minimumMatches: is 2, but signatures[0].pubKeys lists 1 signer: it could never be met; \
         digestPolicy: must be one of pin, pinPodsOnly, keep, require, found \"pinned\"; \
         customResources[0].kind: \"rollouts\" is not a kind (the resource's kind as its objects spell it, such as Rollout, not rollouts)"
    );
}

#[test]
fn reports_every_problem_at_once_in_document_order() {
    let document = json!({
        "signatures": [
            {"image": "*", "keyless": []},
            {"image": "*", "pubKeys": [P256_PUB]},
            {"image": "", "githubActions": {"owner": "acme", "org": "x"}},
        ],
        "extra": 1
    });
    assert_eq!(
        errors_of(document),
        "signatures[0].keyless: must not be empty; signatures[2].image: must not be empty; \
         signatures[2].githubActions.org: unknown field; expected one of: owner, repo; \
         extra: unknown field; expected one of: signatures, modifyImagesWithDigest, digestPolicy, unmatchedImages, skipImages, customResources, fulcioCertificateChain, allowedRegistries, rule"
    );
}

#[test]
fn null_values_are_absent() {
    let settings = Settings::parse(&json!({
        "signatures": [{"image": "*", "githubActions": {"owner": "a", "repo": null}, "annotations": null, "keyless": null}],
        "modifyImagesWithDigest": null
    }))
    .unwrap();
    assert_eq!(settings.digest_policy, DigestPolicy::Pin);
    assert!(settings.rules[0].annotations.is_none());
}

#[test]
fn certificates_are_checked_against_their_chain_by_name_at_deploy_time() {
    // LEAF_CERT is issued by CA_CERT; CA_CERT is self-issued.
    let valid = json!({"signatures": [
        {"image": "a/*", "certificates": [LEAF_CERT], "certificateChain": [CA_CERT]},
        {"image": "b/*", "certificates": [LEAF_CERT]}
    ]});
    Settings::validate(&valid).expect("the chain issues the certificate");
    let cases = [
        (
            json!({"image": "a/*", "certificates": [LEAF_CERT, CA_CERT], "certificateChain": [CA_CERT]}),
            None,
        ),
        (
            json!({"image": "a/*", "certificates": [CA_CERT], "certificateChain": [LEAF_CERT]}),
            Some("signatures[0].certificateChain[0]: is issued by"),
        ),
        (
            json!({"image": "a/*", "certificates": [LEAF_CERT], "certificateChain": [CA_CERT, LEAF_CERT]}),
            Some("signatures[0].certificateChain[0]: is issued by"),
        ),
    ];
    for (rule, expected) in cases {
        let outcome = Settings::validate(&json!({"signatures": [rule]}));
        match expected {
            None => assert!(outcome.is_ok(), "{rule}: {:?}", outcome.err()),
            Some(expected) => {
                let errors = outcome.unwrap_err().to_string();
                assert!(errors.contains(expected), "{rule}: {errors}");
            }
        }
    }
    // A certificate the chain did not issue is named with both issuers.
    let errors = Settings::validate(&json!({"signatures": [
        {"image": "a/*", "certificates": [LEAF_CERT], "certificateChain": [LEAF_CERT]}
    ]}))
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains(
            "signatures[0].certificates[0]: not issued by certificateChain: its issuer is"
        ),
        "{errors}"
    );
}

#[rstest]
#[case::unmatched_unknown(json!({"unmatchedImages": "deny"}), "unmatchedImages: must be one of accept, warn, reject, found \"deny\"")]
#[case::unmatched_not_string(json!({"unmatchedImages": true}), "unmatchedImages: must be a string")]
#[case::skip_short_name(json!({"skipImages": ["pause:*"]}), "skipImages[0]: \"pause:*\" is not written fully normalised")]
#[case::skip_cannot_match(json!({"skipImages": ["docker.io/library/pause:*", "ghcr.io/Acme/x"]}), "skipImages[1]: \"ghcr.io/Acme/x\" has upper case in a repository path")]
#[case::skip_empty(json!({"skipImages": []}), "skipImages: must not be empty")]
#[case::image_cannot_match(json!({"signatures": [{"image": "https://ghcr.io/acme/*", "pubKeys": [P256_PUB]}]}), "signatures[0].image: \"https://ghcr.io/acme/*\" is a URL")]
fn new_top_level_settings_are_checked(#[case] extra: Value, #[case] expected: &str) {
    let mut document = json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}]});
    document
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let errors = Settings::parse(&document)
        .expect_err("must be refused")
        .to_string();
    assert!(
        errors.contains(expected),
        "{errors}\nshould contain\n{expected}"
    );
}

#[test]
fn new_top_level_settings_default_to_todays_behaviour() {
    let settings =
        Settings::parse(&json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}]})).unwrap();
    assert_eq!(settings.unmatched_images, UnmatchedImages::Accept);
    assert!(settings.skip_images.is_empty());
    let settings = Settings::parse(
        &json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}],
        "unmatchedImages": "warn", "skipImages": ["registry.k8s.io/pause:*"]}),
    )
    .unwrap();
    assert_eq!(settings.unmatched_images, UnmatchedImages::Warn);
    assert_eq!(settings.skip_images.len(), 1);
}

/// What Rancher's Kubewarden UI writes for this policy's form (questions-ui.yml): the signer-kind
/// selector `rule` and empty optional strings inside list items.
#[test]
fn settings_written_by_the_ui_form_are_accepted() {
    let settings = Settings::parse(&json!({
        "rule": "GithubAction",
        "modifyImagesWithDigest": true,
        "unmatchedImages": "accept",
        "signatures": [{"image": "ghcr.io/acme/*", "githubActions": {"owner": "acme", "repo": ""}}]
    }))
    .expect("the form's output is valid settings");
    assert_eq!(
        settings.rules[0].signer.constraints(),
        vec![SignerConstraint::GithubActions {
            owner: "acme",
            repo: None
        }]
    );
    let err = Settings::parse(
        &json!({"rule": "Keyles", "signatures": [{"image": "*", "pubKeys": [P256_PUB]}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("rule: \"Keyles\" is not a signer kind of the settings form"),
        "{err}"
    );
}

mod fulcio_certificate_chain {
    use super::*;

    fn keyless_rule() -> Value {
        json!({"image": "*", "keyless": [{"issuer": "https://idp", "subject": "a@example.com"}]})
    }

    #[test]
    fn defaults_to_the_public_good_fulcio_intermediate_then_root() {
        let settings = Settings::parse(&json!({"signatures": [keyless_rule()]})).unwrap();
        assert_eq!(settings.fulcio_chain, FulcioChain::PublicGood);
        let chain = settings.fulcio_chain.certificates();
        let subjects: Vec<String> = chain
            .iter()
            .map(|pem| {
                crate::deploy::pem_material::decode_certificate(pem)
                    .unwrap()
                    .tbs_certificate()
                    .subject()
                    .to_string()
            })
            .collect();
        assert_eq!(
            subjects,
            [
                "CN=sigstore-intermediate,O=sigstore.dev",
                "CN=sigstore,O=sigstore.dev"
            ]
        );
    }

    #[test]
    fn a_configured_chain_is_kept_in_order() {
        let settings = Settings::parse(&json!({
            "signatures": [keyless_rule()],
            "fulcioCertificateChain": [LEAF_CERT, CA_CERT],
        }))
        .unwrap();
        assert_eq!(
            settings.fulcio_chain.certificates(),
            [LEAF_CERT.to_string(), CA_CERT.to_string()]
        );
    }

    #[rstest]
    #[case::not_a_list(json!(CA_CERT), "fulcioCertificateChain: must be a list")]
    #[case::empty(json!([]), "fulcioCertificateChain: must not be empty")]
    #[case::a_key(json!([P256_PUB]), "fulcioCertificateChain[0]: not a PEM X.509 \"CERTIFICATE\"")]
    #[case::mangled(json!([CA_CERT, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]), "fulcioCertificateChain[1]: not a PEM X.509")]
    fn a_chain_that_does_not_decode_is_refused_with_its_path(
        #[case] chain: Value,
        #[case] expected: &str,
    ) {
        let errors =
            errors_of(json!({"signatures": [keyless_rule()], "fulcioCertificateChain": chain}));
        assert!(errors.contains(expected), "{errors}");
    }

    #[test]
    fn a_chain_no_rule_would_use_is_refused_with_the_other_mistakes() {
        let errors = errors_of(json!({
            "signatures": [{"image": "*", "pubKeys": [P256_PUB]}],
            "fulcioCertificateChain": [CA_CERT],
            "unmatchedImages": "maybe",
        }));
        assert!(errors.contains("fulcioCertificateChain: is set, but no rule is keyless (keyless, keylessPrefix or githubActions), so nothing would use it"), "{errors}");
        assert!(errors.contains("unmatchedImages"), "{errors}");
    }

    #[test]
    fn any_keyless_kind_uses_it() {
        for rule in [
            keyless_rule(),
            json!({"image": "*", "keylessPrefix": [{"issuer": "https://idp", "urlPrefix": "https://github.com/acme"}]}),
            json!({"image": "*", "githubActions": {"owner": "acme"}, "failureAction": "warn"}),
        ] {
            let document = json!({"signatures": [rule], "fulcioCertificateChain": [CA_CERT]});
            assert!(Settings::parse(&document).is_ok(), "{document}");
        }
    }
}
