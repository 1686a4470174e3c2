//! Routes a policy's waPC host calls to the Kubewarden capability serving
//! them; anything kwrun does not implement is an explicit error, never a
//! silent empty answer.

use crate::capability_catalog::AllowList;
use crate::certificate_trust;
use crate::policy_runtime::{Deadline, HostCallHandler};
use crate::sigstore_host::SigstoreVerifier;

pub struct HostCapabilities {
    pub sigstore: SigstoreVerifier,
    /// What this run lets the policy call (`--allowed-host-capabilities`).
    pub allowed: AllowList,
}

impl HostCallHandler for HostCapabilities {
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
        deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        let exempt = (namespace, operation) == ("tracing", "log");
        if binding == "kubewarden" && !exempt && !self.allowed.allows(namespace, operation) {
            return Err(AllowList::denial(namespace, operation));
        }
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v2/verify") => self.sigstore.verify(payload, deadline),
            ("kubewarden", "oci", "v1/manifest_digest") => {
                self.sigstore.manifest_digest(payload, deadline)
            }
            ("kubewarden", "oci", "v1/oci_manifest") => {
                self.sigstore.oci_manifest(payload, deadline)
            }
            ("kubewarden", "crypto", "v1/is_certificate_trusted") => {
                certificate_trust::is_certificate_trusted(payload, chrono::Utc::now())
            }
            ("kubewarden", "tracing", "log") => {
                eprintln!("{}", policy_log_line(payload));
                Ok(Vec::new())
            }
            _ => Err(format!(
                "unknown host capability {binding}/{namespace}/{operation} (not implemented by kwrun)"
            )),
        }
    }
}

/// Renders an SDK log event (`{"level", "message", ...fields}`) as one line.
fn policy_log_line(payload: &[u8]) -> String {
    let Ok(serde_json::Value::Object(mut event)) = serde_json::from_slice(payload) else {
        return format!("policy log: {}", String::from_utf8_lossy(payload));
    };
    let mut take = |key: &str| match event.remove(key) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let level = take("level");
    let message = take("message");
    // Source positions are noise for someone reading a test log.
    for key in ["file", "line", "column"] {
        event.remove(key);
    }
    if event.is_empty() {
        format!("policy {level}: {message}")
    } else {
        format!(
            "policy {level}: {message} {}",
            serde_json::Value::Object(event)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole evaluation against a registry that never answers: the policy's host call comes
    /// back with the reason before the policy's deadline, so the policy still answers
    /// (here: forwards the host's error), instead of kwrun hanging or the guest being killed.
    #[test]
    fn one_deadline_bounds_an_evaluation_waiting_for_a_registry() {
        use crate::policy_runtime::tests::forwarding_guest;
        use crate::policy_runtime::PolicyInstance;
        use crate::sigstore_host::tests::{plain_http_host, pub_key_request};
        use crate::sigstore_host::{misbehaving_registry, plan, REGISTRY_TIMEOUT};

        let registry = misbehaving_registry::start(misbehaving_registry::Misbehaviour::Silent);
        let host = HostCapabilities {
            sigstore: plain_http_host(&registry, REGISTRY_TIMEOUT),
            allowed: AllowList::default(),
        };
        let execution_timeout = std::time::Duration::from_secs(2);
        let mut policy =
            PolicyInstance::load(&forwarding_guest(), Box::new(host), execution_timeout).unwrap();
        let request = pub_key_request(&registry, &plan::tests::public_key_pem());
        let started = std::time::Instant::now();
        let answer = policy
            .call("v2/verify", &request)
            .expect("the guest answers within its execution timeout");
        let took = started.elapsed();
        let answer = String::from_utf8(answer).unwrap();
        assert!(
            answer.contains("no answer within the policy's time limit of 2s"),
            "{answer}"
        );
        assert!(took < execution_timeout, "took {took:?}");
    }

    #[test]
    fn log_events_become_one_readable_line() {
        let event = br#"{"level":"info","message":"verifying","image":"r/app:1","line":3,"column":1,"file":"src/lib.rs"}"#;
        assert_eq!(
            policy_log_line(event),
            r#"policy info: verifying {"image":"r/app:1"}"#
        );
        assert_eq!(policy_log_line(b"not json"), "policy log: not json");
    }
}
