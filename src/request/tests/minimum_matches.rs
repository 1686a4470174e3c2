//! `minimumMatches`: N of the listed signers, each its own host call, asked only until the
//! quorum is met or out of reach.
use super::*;
use crate::host::SignerConstraint;

const KEYS: [&str; 3] = [P256_PUB, P384_PUB, RSA_PUB];

fn two_of_three() -> Settings {
    settings(
        json!({"signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": KEYS, "minimumMatches": 2}]}),
    )
}

/// Answers per key: `Ok(digest)` or `Err(reason)`, by the key's position in `KEYS`.
fn host(answers: [Result<&'static str, &'static str>; 3]) -> FakeHost {
    FakeHost::answering(move |r| match r.signer {
        SignerConstraint::PubKeys([key]) => {
            let i = KEYS.iter().position(|k| k == key).expect("a listed key");
            answers[i].map(str::to_string).map_err(str::to_string)
        }
        ref other => panic!("one key per call, got {other:?}"),
    })
}

#[rstest]
#[case::first_two_pass([Ok(DIGEST_A), Ok(DIGEST_A), Err("x")], 2, None)]
#[case::first_fails([Err("no signature by this key"), Ok(DIGEST_A), Ok(DIGEST_A)], 3, None)]
#[case::two_fail([Err("no signature"), Err("unreachable registry"), Ok(DIGEST_A)], 2,
    Some("0 of 3 signers passed, 2 required (minimumMatches); pubKeys[0] failed: no signature; pubKeys[1] failed: unreachable registry; not asked, the quorum being out of reach: pubKeys[2]"))]
#[case::one_passes([Ok(DIGEST_A), Err("no signature"), Err("no signature")], 3,
    Some("1 of 3 signers passed, 2 required (minimumMatches); passed: pubKeys[0]; pubKeys[1] failed: no signature; pubKeys[2] failed: no signature"))]
#[case::passing_signers_disagree([Ok(DIGEST_A), Ok(DIGEST_B), Ok(DIGEST_A)], 2,
    Some("verifications disagree on the digest"))]
fn n_of_m_signers(
    #[case] answers: [Result<&'static str, &'static str>; 3],
    #[case] calls: usize,
    #[case] rejection: Option<&str>,
) {
    let host = host(answers);
    // Two containers share the image: each signer is still asked once.
    let decision = decision_of(
        &fixture("pod_every_image_field.json"),
        &two_of_three(),
        &host,
    );
    assert_eq!(host.call_count(), calls, "{:?}", host.call_log());
    match (decision, rejection) {
        (Decision::Mutate(mutated), None) => assert_eq!(
            mutated.pointer("/spec/containers/1/image"),
            Some(&json!(format!("ghcr.io/acme/app:v1@{DIGEST_A}")))
        ),
        (Decision::Reject(message), Some(reason)) => assert!(
            message.contains(&format!(
                "spec.containers[0].image \"ghcr.io/acme/app:v1\" failed signatures[0] (pubKeys): {reason}"
            )),
            "{message}"
        ),
        (decision, expected) => panic!("{decision:?}, expected rejection {expected:?}"),
    }
}

#[test]
fn without_minimum_matches_the_whole_list_is_one_call_as_before() {
    let rules = settings(json!({"signatures": [{"image": "ghcr.io/acme/app*", "pubKeys": KEYS}]}));
    let host = FakeHost::answering(|r| match r.signer {
        SignerConstraint::PubKeys(keys) if keys.len() == 3 => Ok(DIGEST_A.to_string()),
        ref other => panic!("{other:?}"),
    });
    assert!(matches!(
        decision_of(&fixture("pod_generated_name.json"), &rules, &host),
        Decision::Mutate(_)
    ));
    assert_eq!(host.call_count(), 1);
}

#[test]
fn keyless_identities_are_asked_one_by_one() {
    let rules = settings(
        json!({"signatures": [{"image": "ghcr.io/acme/app*", "minimumMatches": 1,
        "keyless": [{"issuer": "https://i.example", "subject": "old@example.com"},
                    {"issuer": "https://i.example", "subject": "new@example.com"}]}]}),
    );
    let host = FakeHost::answering(|r| match r.signer {
        SignerConstraint::Keyless([identity]) if identity.subject == "new@example.com" => {
            Ok(DIGEST_A.to_string())
        }
        SignerConstraint::Keyless([_]) => Err("no signature by this identity".to_string()),
        ref other => panic!("one identity per call, got {other:?}"),
    });
    assert!(matches!(
        decision_of(&fixture("pod_generated_name.json"), &rules, &host),
        Decision::Mutate(_)
    ));
    assert_eq!(host.call_count(), 2);
}
