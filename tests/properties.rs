//! Properties of the whole admission path over generated workloads:
//! - image extraction is complete: for typed objects of every supported kind, built with the
//!   Kubernetes API types (`k8s-openapi`), the policy finds exactly the images the typed spec
//!   lists, in document order;
//! - an admitted object equals the request except for pinned image strings, and every pinned
//!   digest is the one the host returned for that image;
//! - normalising an image reference is idempotent.

use std::cell::RefCell;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec, StatefulSet,
    StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EphemeralContainer, ImageVolumeSource, Pod, PodSpec,
    PodTemplateSpec, ReplicationController, ReplicationControllerSpec, Volume,
};
use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use proptest::prelude::*;
use serde_json::{json, Value};
use verify_image_signatures::{
    admit, image_fields, pod_spec_path, Decision, ImageRef, Settings, SigstoreHost,
    VerificationRequest, WORKLOAD_KINDS,
};

const KEY: &str = include_str!("../test_data/pem/p256.pub.pem");

/// Image references as people write them: short Docker Hub names, registries with ports,
/// tags, digests, and strings that are not references at all.
fn image() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[a-z]{1,8}(:[a-z0-9.]{1,6})?",
        "(docker\\.io/|index\\.docker\\.io/)?(library/)?[a-z]{1,6}(:[0-9]{1,3})?",
        "(ghcr\\.io|quay\\.io|localhost:5000|registry\\.example\\.com:443|[a-z]{1,6}:443)/[a-z]{1,5}(/[a-z]{1,5})?(:v[0-9])?(@sha256:[0-9a-f]{64})?",
        "[A-Za-z0-9:/@._-]{0,24}",
    ]
}

/// The image lists of one pod spec; `None` is a container or volume without an image.
#[derive(Debug, Clone)]
struct SpecImages {
    containers: Vec<Option<String>>,
    init_containers: Vec<Option<String>>,
    ephemeral_containers: Vec<Option<String>>,
    image_volumes: Vec<Option<String>>,
    other_volumes: usize,
}

/// References that pass when the host trusts them: no digest the host would contradict.
fn pinnable_image() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[a-z]{1,8}(:[a-z0-9][a-z0-9.]{0,5})?",
        "(docker\\.io/|ghcr\\.io/|localhost:5000/)?[a-z]{1,5}(/[a-z]{1,5})?(:v[0-9])?",
    ]
}

fn spec_images(image: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = SpecImages> {
    let list =
        |max| proptest::collection::vec(proptest::option::weighted(0.9, image.clone()), 0..max);
    (list(5), list(3), list(3), list(3), 0..3usize).prop_map(
        |(containers, init_containers, ephemeral_containers, image_volumes, other_volumes)| {
            SpecImages {
                containers,
                init_containers,
                ephemeral_containers,
                image_volumes,
                other_volumes,
            }
        },
    )
}

impl SpecImages {
    fn pod_spec(&self) -> PodSpec {
        let container = |(i, image): (usize, &Option<String>)| Container {
            name: format!("c{i}"),
            image: image.clone(),
            ..Container::default()
        };
        let mut volumes: Vec<Volume> = (0..self.other_volumes)
            .map(|i| Volume {
                name: format!("scratch{i}"),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            })
            .collect();
        volumes.extend(
            self.image_volumes
                .iter()
                .enumerate()
                .map(|(i, reference)| Volume {
                    name: format!("model{i}"),
                    image: Some(ImageVolumeSource {
                        reference: reference.clone(),
                        ..ImageVolumeSource::default()
                    }),
                    ..Volume::default()
                }),
        );
        PodSpec {
            containers: self.containers.iter().enumerate().map(container).collect(),
            init_containers: Some(
                self.init_containers
                    .iter()
                    .enumerate()
                    .map(container)
                    .collect(),
            ),
            ephemeral_containers: Some(
                self.ephemeral_containers
                    .iter()
                    .enumerate()
                    .map(|(i, image)| EphemeralContainer {
                        name: format!("e{i}"),
                        image: image.clone(),
                        ..EphemeralContainer::default()
                    })
                    .collect(),
            ),
            volumes: Some(volumes),
            ..PodSpec::default()
        }
    }

    /// What the typed API lists, in document order: containers, init containers, ephemeral
    /// containers, then image volumes.
    fn listed(&self) -> Vec<String> {
        let spec = self.pod_spec();
        let mut images: Vec<Option<String>> =
            spec.containers.iter().map(|c| c.image.clone()).collect();
        images.extend(
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| c.image.clone()),
        );
        images.extend(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.image.clone()),
        );
        images.extend(
            spec.volumes
                .iter()
                .flatten()
                .filter_map(|v| v.image.as_ref())
                .map(|image| image.reference.clone()),
        );
        images.into_iter().flatten().collect()
    }
}

/// A typed object of `kind` carrying `spec`, as the API server would send it. Every kind the
/// policy supports must be built here, so a new kind cannot go untested.
fn typed_object(kind: &str, spec: PodSpec) -> Value {
    let template = PodTemplateSpec {
        spec: Some(spec.clone()),
        ..PodTemplateSpec::default()
    };
    let value = match kind {
        "Pod" => serde_json::to_value(Pod {
            spec: Some(spec),
            ..Pod::default()
        }),
        "Deployment" => serde_json::to_value(Deployment {
            spec: Some(DeploymentSpec {
                template,
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }),
        "ReplicaSet" => serde_json::to_value(ReplicaSet {
            spec: Some(ReplicaSetSpec {
                template: Some(template),
                ..ReplicaSetSpec::default()
            }),
            ..ReplicaSet::default()
        }),
        "StatefulSet" => serde_json::to_value(StatefulSet {
            spec: Some(StatefulSetSpec {
                template,
                ..StatefulSetSpec::default()
            }),
            ..StatefulSet::default()
        }),
        "DaemonSet" => serde_json::to_value(DaemonSet {
            spec: Some(DaemonSetSpec {
                template,
                ..DaemonSetSpec::default()
            }),
            ..DaemonSet::default()
        }),
        "ReplicationController" => serde_json::to_value(ReplicationController {
            spec: Some(ReplicationControllerSpec {
                template: Some(template),
                ..ReplicationControllerSpec::default()
            }),
            ..ReplicationController::default()
        }),
        "Job" => serde_json::to_value(Job {
            spec: Some(JobSpec {
                template,
                ..JobSpec::default()
            }),
            ..Job::default()
        }),
        "CronJob" => serde_json::to_value(CronJob {
            spec: Some(CronJobSpec {
                job_template: JobTemplateSpec {
                    spec: Some(JobSpec {
                        template,
                        ..JobSpec::default()
                    }),
                    ..JobTemplateSpec::default()
                },
                schedule: "0 3 * * *".to_string(),
                ..CronJobSpec::default()
            }),
            ..CronJob::default()
        }),
        other => panic!("no typed builder for supported kind {other}: add one here"),
    };
    value.expect("typed objects serialise")
}

fn kinds() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(WORKLOAD_KINDS.iter().map(|w| w.kind).collect::<Vec<_>>())
}

/// Trusts every image, answering a digest of its own per normalised image and remembering it.
#[derive(Default)]
struct RecordingHost {
    answered: RefCell<BTreeMap<String, String>>,
}

impl SigstoreHost for RecordingHost {
    fn verify(&self, request: &VerificationRequest<'_>) -> Result<String, String> {
        let mut answered = self.answered.borrow_mut();
        let next = answered.len();
        Ok(answered
            .entry(request.image.to_string())
            .or_insert_with(|| format!("sha256:{next:064x}"))
            .clone())
    }
    fn certificate_trusted(&self, _: &str, _: &[String], _: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    fn oci_manifest(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Every string leaf with its JSON pointer.
fn leaves(value: &Value, pointer: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{pointer}/{k}"), out)),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{pointer}/{i}"), out)),
        leaf => {
            out.insert(pointer, leaf.clone());
        }
    }
}

fn request(kind: &str, object: Value) -> KubernetesAdmissionRequest {
    serde_json::from_value(json!({
        "uid": "property",
        "kind": {"group": "", "version": "v1", "kind": kind},
        "operation": "CREATE",
        "object": object,
    }))
    .expect("a well-formed admission request")
}

proptest! {
    // Failures print their minimal input; nothing is written next to the sources.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn extraction_finds_exactly_the_images_the_typed_api_lists(
        kind in kinds(),
        images in spec_images(image()),
    ) {
        let object = typed_object(kind, images.pod_spec());
        let spec_path = pod_spec_path(kind).expect("a supported kind");
        let found: Vec<String> = image_fields(&object, spec_path)
            .iter()
            .map(|field| field.value.as_str().expect("typed images are strings").to_string())
            .collect();
        prop_assert_eq!(found, images.listed());
    }

    #[test]
    fn admission_changes_nothing_but_pins_to_the_digests_the_host_returned(
        kind in kinds(),
        images in spec_images(pinnable_image()),
    ) {
        let settings = Settings::parse(&json!({
            "signatures": [{"image": "*", "pubKeys": [KEY]}],
            "skipImages": ["docker.io/library/busybox:*"],
        }))
        .expect("valid settings");
        let request = request(kind, typed_object(kind, images.pod_spec()));
        let host = RecordingHost::default();
        let admitted = match admit(&request, &settings, &host).decision {
            Decision::Mutate(object) => object,
            // Nothing to pin: only skipped images, or none.
            Decision::Accept => return Ok(()),
            Decision::Reject(message) => {
                return Err(TestCaseError::fail(format!("trusted images rejected: {message}")))
            }
        };
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        leaves(&request.object, String::new(), &mut before);
        leaves(&admitted, String::new(), &mut after);
        prop_assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
        let answered = host.answered.borrow();
        for (pointer, old) in &before {
            let new = &after[pointer];
            if old == new {
                continue;
            }
            let old = old.as_str().expect("only strings change");
            let image = ImageRef::parse(old).expect("only valid references are pinned");
            let digest = &answered[&image.pulled()];
            let pinned = image.pinned_to(digest);
            prop_assert_eq!(new.as_str(), Some(pinned.as_str()), "at {}", pointer);
        }
    }

    #[test]
    fn normalising_is_idempotent(written in image()) {
        if let Ok(image) = ImageRef::parse(&written) {
            let normalised = ImageRef::parse(&image.pulled()).expect("normalised parses");
            prop_assert_eq!(normalised.pulled(), image.pulled());
            let canonical = ImageRef::parse(&image.coverage_reference()).expect("canonical parses");
            prop_assert_eq!(canonical.coverage_reference(), image.coverage_reference());
        }
    }
}
