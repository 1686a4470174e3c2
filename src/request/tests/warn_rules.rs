//! `failureAction: warn`: a failing warn rule admits with a warning; it never weakens an
//! enforcing rule, never pins, and does not count as covering an image.
use super::*;
use crate::host::SignerConstraint;

const APP: &str = "spec.containers[0].image \"ghcr.io/acme/app:v1\"";

/// Rule 0 (pubKeys) enforces when `enforcing`; rule 1 (keyless) warns. Both cover app*.
fn rules(enforcing: bool, extra: Value) -> Settings {
    let mut signatures = vec![
        json!({"image": "ghcr.io/acme/app*", "failureAction": "warn",
        "keyless": [{"issuer": "https://issuer.example", "subject": "new@example.com"}]}),
    ];
    if enforcing {
        signatures.insert(
            0,
            json!({"image": "ghcr.io/acme/app*", "pubKeys": [P256_PUB]}),
        );
    }
    let mut document = json!({"signatures": signatures});
    document
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    settings(document)
}

/// Answers per signer kind: `pubKeys` and `keyless`, as the test says.
fn host(pub_keys: Result<&str, &str>, keyless: Result<&str, &str>) -> FakeHost {
    let (pub_keys, keyless) = (
        pub_keys.map(str::to_string).map_err(str::to_string),
        keyless.map(str::to_string).map_err(str::to_string),
    );
    FakeHost::answering(move |r| match r.signer {
        SignerConstraint::PubKeys(_) => pub_keys.clone(),
        _ => keyless.clone(),
    })
}

fn app_pod() -> KubernetesAdmissionRequest {
    fixture("pod_generated_name.json")
}

fn audit_of(admission: &Admission) -> Value {
    let record: Value =
        serde_json::from_str(&admission.audit_annotations[IMAGES_AUDIT_KEY]).unwrap();
    record["spec.containers[0].image"].clone()
}

#[test]
fn a_failing_warn_rule_alone_admits_with_a_warning_and_pins_nothing() {
    let admission = admit(
        &app_pod(),
        &rules(false, json!({})),
        &host(Ok(DIGEST_A), Err("no matching signature")),
    );
    assert_eq!(admission.decision, Decision::Accept);
    assert_eq!(
        admission.warnings,
        [format!("{APP} failed signatures[0] (keyless): no matching signature; admitted (failureAction: warn)")]
    );
    assert_eq!(
        audit_of(&admission),
        json!("unmatched; failed warn-only signatures[0] (keyless)")
    );
}

#[test]
fn a_passing_warn_rule_alone_vouches_for_nothing_it_is_not_pinned() {
    let admission = admit(
        &app_pod(),
        &rules(false, json!({})),
        &host(Ok(DIGEST_A), Ok(DIGEST_A)),
    );
    assert_eq!(admission.decision, Decision::Accept);
    assert!(admission.warnings.is_empty());
    assert_eq!(audit_of(&admission), json!("unmatched"));
}

/// An attacker's image that only a warn rule covers is not let through a safety net.
#[test]
fn a_warn_rule_does_not_count_as_coverage_for_unmatched_images() {
    let admission = admit(
        &app_pod(),
        &rules(false, json!({"unmatchedImages": "reject"})),
        &host(Ok(DIGEST_A), Ok(DIGEST_A)),
    );
    let Decision::Reject(message) = admission.decision else {
        panic!("expected a rejection")
    };
    assert!(
        message.ends_with(&format!(
            "{APP}: only failureAction: warn rules cover this image (unmatchedImages: reject)"
        )),
        "{message}"
    );
    let admission = admit(
        &app_pod(),
        &rules(false, json!({"unmatchedImages": "warn"})),
        &host(Ok(DIGEST_A), Ok(DIGEST_A)),
    );
    assert_eq!(
        admission.warnings,
        [format!("{APP}: only failureAction: warn rules cover this image; admitted unverified (unmatchedImages: warn)")]
    );
}

#[test]
fn a_warn_rule_never_weakens_an_enforcing_rule() {
    let admission = admit(
        &app_pod(),
        &rules(true, json!({})),
        &host(Err("no matching signature"), Ok(DIGEST_A)),
    );
    let Decision::Reject(message) = admission.decision else {
        panic!("expected a rejection")
    };
    assert!(
        message.ends_with(&format!(
            "{APP} failed signatures[0] (pubKeys): no matching signature"
        )),
        "{message}"
    );
}

#[test]
fn beside_a_passing_enforcing_rule_a_failing_warn_rule_warns_and_the_image_is_pinned() {
    let admission = admit(
        &app_pod(),
        &rules(true, json!({})),
        &host(Ok(DIGEST_A), Err("no matching signature")),
    );
    let Decision::Mutate(mutated) = &admission.decision else {
        panic!("expected a mutation: {:?}", admission.decision)
    };
    assert_eq!(
        mutated.pointer("/spec/containers/0/image"),
        Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
    );
    assert_eq!(
        admission.warnings,
        [format!("{APP} failed signatures[1] (keyless): no matching signature; admitted (failureAction: warn)")]
    );
    assert_eq!(
        audit_of(&admission),
        json!(format!("verified by signatures[0] (pubKeys): {DIGEST_A}; failed warn-only signatures[1] (keyless)"))
    );
}

/// The pin is the enforcing rule's digest; a warn rule vouching for another is a warning.
#[test]
fn the_pin_is_only_ever_a_digest_an_enforcing_rule_verified() {
    let admission = admit(
        &app_pod(),
        &rules(true, json!({})),
        &host(Ok(DIGEST_A), Ok(DIGEST_B)),
    );
    let Decision::Mutate(mutated) = &admission.decision else {
        panic!("expected a mutation: {:?}", admission.decision)
    };
    assert_eq!(
        mutated.pointer("/spec/containers/0/image"),
        Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
    );
    assert_eq!(
        admission.warnings,
        [format!("{APP} failed signatures[1] (keyless): verified digest {DIGEST_B} differs from {DIGEST_A} verified by another rule; admitted (failureAction: warn)")]
    );
}

#[rstest]
#[case::written_other_digest(
    json!({}),
    Some(DIGEST_B),
    format!("the image is pinned to {DIGEST_B} but the verified digest is {DIGEST_A}")
)]
#[case::require_without_digest(
    json!({"digestPolicy": "require"}),
    None,
    format!("the image must be written with its digest (digestPolicy: require); the verified digest is {DIGEST_A}")
)]
fn a_warn_rule_alone_warns_where_an_enforcing_rule_would_refuse_the_digest(
    #[case] extra: Value,
    #[case] written: Option<&str>,
    #[case] reason: String,
) {
    let mut request = app_pod();
    if let Some(digest) = written {
        request.object["spec"]["containers"][0]["image"] =
            json!(format!("ghcr.io/acme/app:v1@{digest}"));
    }
    let admission = admit(
        &request,
        &rules(false, extra),
        &host(Ok(DIGEST_A), Ok(DIGEST_A)),
    );
    assert_eq!(admission.decision, Decision::Accept);
    assert_eq!(admission.warnings.len(), 1, "{:?}", admission.warnings);
    assert!(
        admission.warnings[0].ends_with(&format!(
            "failed signatures[0] (keyless): {reason}; admitted (failureAction: warn)"
        )),
        "{:?}",
        admission.warnings
    );
}
