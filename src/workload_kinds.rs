//! The Kubernetes kinds that carry a pod spec, and where: the one table the request's image
//! extraction, the settings (a custom resource may not name one of these) and metadata.yml's
//! registered resources all read.

/// A kind the policy checks: the API resources it arrives as and where its pod spec is.
#[derive(Debug)]
pub struct WorkloadKind {
    pub kind: &'static str,
    pub api_group: &'static str,
    /// Every resource (and subresource) the policy must be registered for.
    pub resources: &'static [&'static str],
    /// The path from the object root to the pod spec.
    pub pod_spec: &'static [&'static str],
}

const TEMPLATE_SPEC: &[&str] = &["spec", "template", "spec"];

const fn workload(
    kind: &'static str,
    api_group: &'static str,
    resources: &'static [&'static str],
    pod_spec: &'static [&'static str],
) -> WorkloadKind {
    WorkloadKind {
        kind,
        api_group,
        resources,
        pod_spec,
    }
}

/// Every kind that carries a pod spec; metadata.yml registers exactly these resources.
pub const WORKLOAD_KINDS: [WorkloadKind; 8] = [
    // `pods/ephemeralcontainers` (kubectl debug) arrives as kind Pod with the whole Pod.
    workload("Pod", "", &["pods", "pods/ephemeralcontainers"], &["spec"]),
    workload("Deployment", "apps", &["deployments"], TEMPLATE_SPEC),
    workload("ReplicaSet", "apps", &["replicasets"], TEMPLATE_SPEC),
    workload("StatefulSet", "apps", &["statefulsets"], TEMPLATE_SPEC),
    workload("DaemonSet", "apps", &["daemonsets"], TEMPLATE_SPEC),
    workload(
        "ReplicationController",
        "",
        &["replicationcontrollers"],
        TEMPLATE_SPEC,
    ),
    workload("Job", "batch", &["jobs"], TEMPLATE_SPEC),
    workload(
        "CronJob",
        "batch",
        &["cronjobs"],
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
];

/// The path from the object root to the pod spec, per kind; `None` for kinds without one.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    WORKLOAD_KINDS
        .iter()
        .find(|workload| workload.kind == kind)
        .map(|workload| workload.pod_spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Service")]
    #[case("ConfigMap")]
    #[case("Namespace")]
    #[case("pod")]
    fn other_kinds_carry_no_pod_spec(#[case] kind: &str) {
        assert_eq!(pod_spec_path(kind), None);
    }
}
