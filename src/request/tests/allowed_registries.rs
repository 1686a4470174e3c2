//! `allowedRegistries`: images of other registries are refused before any host call.
use super::*;

fn rules(extra: Value) -> Settings {
    let mut document = json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}]});
    document
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    settings(document)
}

#[rstest]
#[case::listed("ghcr.io/acme/app:v1", true)]
#[case::listed_other_spelling("GHCR.IO:443/acme/app:v1", true)]
#[case::docker_hub_short("nginx:1.27", true)]
#[case::docker_hub_alias("index.docker.io/library/nginx:1.27", true)]
#[case::unlisted("tarpit.example:5000/app:v1", false)]
#[case::unlisted_look_alike("ghcr.io.evil.example/acme/app:v1", false)]
fn only_listed_registries_reach_the_host(#[case] image: &str, #[case] asked: bool) {
    let host = FakeHost::trusting();
    let settings = rules(json!({"allowedRegistries": ["ghcr.io", "docker.io"]}));
    let decision = decision_of(&pod_with_image(image), &settings, &host);
    assert_eq!(host.call_count(), usize::from(asked), "{image}");
    if !asked {
        let Decision::Reject(message) = decision else {
            panic!("{image}: expected a rejection")
        };
        assert!(
            message
                .contains("is not in allowedRegistries, so it was refused without asking the host"),
            "{message}"
        );
    }
}

#[test]
fn without_the_setting_every_registry_is_asked_about() {
    let host = FakeHost::trusting();
    decision_of(
        &pod_with_image("tarpit.example:5000/app:v1"),
        &rules(json!({})),
        &host,
    );
    assert_eq!(host.call_count(), 1);
}

#[test]
fn an_uncovered_image_of_another_registry_follows_unmatched_images() {
    let host = FakeHost::trusting();
    let settings = settings(json!({
        "signatures": [{"image": "ghcr.io/*", "pubKeys": [P256_PUB]}],
        "allowedRegistries": ["ghcr.io"],
    }));
    assert!(matches!(
        decision_of(&pod_with_image("quay.io/x/y:1"), &settings, &host),
        Decision::Accept
    ));
    assert_eq!(host.call_count(), 0);
}

#[rstest]
#[case(json!([]), "allowedRegistries: must not be empty")]
#[case(json!(["https://ghcr.io"]), "allowedRegistries[0]: \"https://ghcr.io\" is not a registry host")]
#[case(json!(["ghcr.io/acme"]), "allowedRegistries[0]: \"ghcr.io/acme\" is not a registry host")]
#[case(json!(["ghcr.io", "nginx"]), "allowedRegistries[1]: \"nginx\" is not a registry host")]
#[case(json!(["reg.example:99999"]), "allowedRegistries[0]: \"reg.example:99999\" is not a registry host")]
fn malformed_entries_are_refused_with_their_path(#[case] list: Value, #[case] expected: &str) {
    let document =
        json!({"signatures": [{"image": "*", "pubKeys": [P256_PUB]}], "allowedRegistries": list});
    let errors = Settings::parse(&document).unwrap_err().to_string();
    assert!(errors.contains(expected), "{errors}");
}
