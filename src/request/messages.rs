//! The texts the policy answers with: rejections (every failing image of the object in one
//! message, each with the field path, the image, the rule and the reason, so one round trip
//! tells the user everything), warnings, and the audit record's outcomes.

use std::fmt::Write;

use serde_json::Value;

use crate::reference::Digest;

/// Why one image field was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub path: String,
    pub image: String,
    /// `signatures[2] (keyless)` when a rule failed; `None` when the image itself is unusable.
    pub rule: Option<String>,
    pub reason: String,
}

/// `Kind namespace/name`, falling back to `generateName` for objects not yet named.
pub fn describe_object(kind: &str, object: &Value, request_namespace: &str) -> String {
    let metadata = object.get("metadata");
    let text = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = text("name")
        .map(str::to_string)
        .or_else(|| text("generateName").map(|g| format!("{g}*")))
        .unwrap_or_else(|| "<unnamed>".to_string());
    let namespace = text("namespace").or(Some(request_namespace).filter(|n| !n.is_empty()));
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Why a `minimumMatches` rule failed: how many of how many signers passed (their indexes),
/// and why each asked one failed.
pub fn quorum_not_met(
    kind: &str,
    minimum: usize,
    total: usize,
    passed: &[usize],
    failed: &[(usize, String)],
) -> String {
    let asked = passed.len() + failed.len();
    let passed: Vec<String> = passed.iter().map(|i| format!("{kind}[{i}]")).collect();
    let mut message = format!(
        "{} of {total} signers passed, {minimum} required (minimumMatches)",
        passed.len()
    );
    if !passed.is_empty() {
        let _ = write!(message, "; passed: {}", passed.join(", "));
    }
    for (i, reason) in failed {
        let _ = write!(message, "; {kind}[{i}] failed: {reason}");
    }
    if asked < total {
        let unasked: Vec<String> = (asked..total).map(|i| format!("{kind}[{i}]")).collect();
        let _ = write!(
            message,
            "; not asked, the quorum being out of reach: {}",
            unasked.join(", ")
        );
    }
    message
}

pub fn rules_disagree(verified: &Digest, first: &Digest) -> String {
    format!("verified digest {verified} differs from {first} verified by another rule")
}

pub fn pinned_to_another_digest(pinned: &str, verified: &Digest) -> String {
    format!("the image is pinned to {pinned} but the verified digest is {verified}")
}

pub fn digest_required(verified: &Digest) -> String {
    format!("the image must be written with its digest (digestPolicy: require); the verified digest is {verified}")
}

/// `warn_only`: rules with `failureAction: warn` cover the image, but they enforce nothing.
fn no_rule_covers(warn_only: bool) -> &'static str {
    if warn_only {
        "only failureAction: warn rules cover this image"
    } else {
        "no rule covers this image"
    }
}

pub fn unmatched_rejected(warn_only: bool) -> String {
    format!("{} (unmatchedImages: reject)", no_rule_covers(warn_only))
}

pub fn unmatched_warning(path: &str, image: &str, warn_only: bool) -> String {
    format!(
        "{path} {image:?}: {}; admitted unverified (unmatchedImages: warn)",
        no_rule_covers(warn_only)
    )
}

/// The admission warning for an image a `failureAction: warn` rule would have refused.
pub fn warn_rule_failed(failure: &ImageFailure) -> String {
    let rule = failure.rule.as_deref().unwrap_or("a rule");
    format!(
        "{} {:?} failed {rule}: {}; admitted (failureAction: warn)",
        failure.path, failure.image, failure.reason
    )
}

/// Appended to a field's audit record: `; failed warn-only signatures[1] (keyless)`.
pub fn warned_by(rules: &[&str]) -> String {
    format!("; failed warn-only {}", rules.join(", "))
}

/// The audit record of a verified field: `signatures[0] (pubKeys): sha256:…`.
pub fn verified_by(rules: &[String], digest: &Digest) -> String {
    format!("verified by {}: {digest}", rules.join(", "))
}

/// At most this many failures are spelled out in a rejection: a workload with thousands of
/// failing images still gets a message the API server and a terminal can carry.
const LISTED_FAILURES: usize = 20;
/// Image strings and reasons come from the workload and the host: either may be huge.
const LONGEST_IMAGE: usize = 256;
const LONGEST_REASON: usize = 2048;

pub fn rejection(object: &str, failures: &[ImageFailure]) -> String {
    let noun = if failures.len() == 1 {
        "image"
    } else {
        "images"
    };
    let mut message = format!("{object}: {} {noun} not verified: ", failures.len());
    for (i, failure) in failures.iter().take(LISTED_FAILURES).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        let image = shortened(&failure.image, LONGEST_IMAGE);
        let _ = write!(message, "{} {image:?}", failure.path);
        if let Some(rule) = &failure.rule {
            let _ = write!(message, " failed {rule}");
        }
        let _ = write!(message, ": {}", shortened(&failure.reason, LONGEST_REASON));
    }
    if let Some(more) = failures
        .len()
        .checked_sub(LISTED_FAILURES)
        .filter(|&n| n > 0)
    {
        let _ = write!(message, "; … and {more} more");
    }
    message
}

/// `text` cut to at most `limit` bytes on a character boundary, marked with `…` when cut.
fn shortened(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= limit {
        return text.into();
    }
    let end = (0..=limit)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..end]).into()
}

/// An image of a registry outside `allowedRegistries`, refused before any host call.
pub fn registry_not_allowed(registry: &str) -> String {
    format!(
        "its registry {registry} is not in allowedRegistries, so it was refused without asking the host"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_objects_like_kubectl() {
        let named = json!({"metadata": {"name": "web", "namespace": "shop"}});
        assert_eq!(describe_object("Pod", &named, "other"), "Pod shop/web");
        let generated = json!({"metadata": {"generateName": "web-7d9f-"}});
        assert_eq!(
            describe_object("Pod", &generated, "shop"),
            "Pod shop/web-7d9f-*"
        );
        assert_eq!(describe_object("Job", &json!({}), ""), "Job <unnamed>");
    }

    #[test]
    fn lists_every_failure_in_order() {
        let failures = [
            ImageFailure {
                path: "spec.containers[0].image".into(),
                image: "ghcr.io/acme/app:v1".into(),
                rule: Some("signatures[0] (pubKeys)".into()),
                reason: "no matching signature".into(),
            },
            ImageFailure {
                path: "spec.initContainers[1].image".into(),
                image: "NGINX".into(),
                rule: None,
                reason: "invalid image reference: invalid reference format".into(),
            },
        ];
        assert_eq!(
            rejection("Pod shop/web", &failures),
            "Pod shop/web: 2 images not verified: spec.containers[0].image \"ghcr.io/acme/app:v1\" failed signatures[0] (pubKeys): no matching signature; spec.initContainers[1].image \"NGINX\": invalid image reference: invalid reference format"
        );
    }

    fn failure(i: usize, image: &str, reason: &str) -> ImageFailure {
        ImageFailure {
            path: format!("spec.containers[{i}].image"),
            image: image.to_string(),
            rule: Some("signatures[0] (pubKeys)".into()),
            reason: reason.to_string(),
        }
    }

    #[test]
    fn thousands_of_failures_make_a_bounded_message() {
        let failures: Vec<ImageFailure> = (0..5000)
            .map(|i| {
                failure(
                    i,
                    &format!("ghcr.io/acme/app-{i}:v1"),
                    "no matching signature",
                )
            })
            .collect();
        let message = rejection("Pod shop/web", &failures);
        assert!(message.starts_with("Pod shop/web: 5000 images not verified: "));
        assert!(message.contains("spec.containers[19].image"));
        assert!(!message.contains("spec.containers[20].image"));
        assert!(message.ends_with("; … and 4980 more"), "{message}");
        assert!(message.len() < 4096, "{} bytes", message.len());
    }

    #[test]
    fn huge_images_and_reasons_are_cut_on_character_boundaries() {
        let image = "é".repeat(10_000);
        let reason = "ü".repeat(10_000);
        let message = rejection("Pod shop/web", &[failure(0, &image, &reason)]);
        assert!(message.len() < LONGEST_IMAGE + LONGEST_REASON + 200);
        assert!(
            message.contains("…\"") && message.ends_with('…'),
            "{message}"
        );
        // Exactly at the limit nothing is cut.
        assert_eq!(shortened("abc", 3), "abc");
        assert_eq!(shortened("abcd", 3), "abc…");
    }
}
