//! Request time: one admission decision, in the order the modules run. Extract finds the
//! object's image fields; plan parses each and works out the verifications its rules need,
//! deduplicated; verify asks the host, and checks what the host does not; judge gives each field
//! its verdict; pin rewrites verified images to their digests; report accepts, mutates, or
//! rejects listing every failure. One [`judge::JudgedField`] per image field carries plan,
//! verdict and warnings from judge to report.

pub(crate) mod extract;
mod judge;
mod messages;
mod pin;
mod plan;
mod report;
mod signature_manifest;
mod verify;

use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;

use crate::deploy::settings::Settings;
use crate::host::SigstoreHost;
use judge::judge_fields;
use messages::describe_object;
use plan::AdmissionPlan;
pub use report::{Admission, Decision};

pub fn admit(
    request: &KubernetesAdmissionRequest,
    settings: &Settings,
    host: &dyn SigstoreHost,
) -> Admission {
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") {
        return Admission::plain(Decision::Accept);
    }
    let kind = request.kind.kind.as_str();
    let fields =
        match extract::image_fields_of(&request.kind.group, kind, &request.object, settings) {
            Ok(Some(fields)) => fields,
            Ok(None) => return Admission::plain(Decision::Accept),
            Err(reason) => {
                let who = describe_object(kind, &request.object, &request.namespace);
                return Admission::plain(Decision::Reject(format!("{who}: {reason}")));
            }
        };
    let plan = AdmissionPlan::new(&fields, settings);
    let outcomes = plan.verifications.run(settings, host);
    let judged = judge_fields(plan.fields, &outcomes, settings);
    if let Some(rejection) = report::rejected(request, &judged) {
        return Admission::plain(Decision::Reject(rejection));
    }
    let pinned = pin::pinned_object(request, settings, &judged);
    report::accepted(settings, &judged, pinned)
}

#[cfg(test)]
mod tests;
