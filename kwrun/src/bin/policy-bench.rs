//! `make bench`: this policy against the established verify-image-signatures policy, side by
//! side in one process, in the regime Kubewarden hosts run: policy-server gives every request a
//! fresh instance, so each measured request instantiates the module (compiled once), runs its
//! waPC initialisation and `validate`, which reads the settings again. The reused-instance time
//! (one instance answering request after request, which no Kubewarden host does) is printed
//! beside it. Both modules answer the same requests
//! with the same settings through a model host that answers every host call instantly, so only
//! guest work is measured. For keyless rules the model host serves real `.sig` manifests (real
//! P-256 certificates, signatures and Rekor bundle bodies, made here with OpenSSL), as a
//! registry would. Calls alternate between the two policies, so drift in the machine's speed
//! hits both alike.
//!
//! Usage: policy-bench OURS.wasm THEIRS.wasm

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kwrun::module_cache::ModuleCache;
use kwrun::policy_runtime::{Deadline, HostCallHandler, PolicyInstance, PolicyModule};
use serde_json::{json, Value};

/// The key every rule trusts: any well-formed key does, the fake host never checks it.
const PUBLIC_KEY: &str = include_str!("../../../test_data/pem/p256.pub.pem");
const CRONJOB_REQUEST: &str =
    include_str!("../../../test_data/requests/cronjob_every_image_field.json");

/// The digest every verification answers with.
const VERIFIED_DIGEST: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// How long each case is measured per policy, after warming up.
const MEASURE_FOR: Duration = Duration::from_millis(1500);
const WARM_UP_CALLS: usize = 20;
/// The execution timeout of each guest run; far above anything measured here.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Answers `oci/v2/verify` and `crypto/v1/is_certificate_trusted` with "trusted" at once,
/// serves the `.sig` manifests it holds (any other reference is "manifest unknown", as a
/// registry says it), and counts the calls; anything else is an error, so a policy taking
/// another path shows up as a rejection, not as a fast number.
struct InstantHost {
    calls: Arc<AtomicUsize>,
    manifests: Arc<BTreeMap<String, Vec<u8>>>,
}

impl HostCallHandler for InstantHost {
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
        _deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v2/verify") => {
                Ok(json!({"is_trusted": true, "digest": VERIFIED_DIGEST})
                    .to_string()
                    .into_bytes())
            }
            ("kubewarden", "crypto", "v1/is_certificate_trusted") => {
                Ok(br#"{"trusted":true,"reason":""}"#.to_vec())
            }
            ("kubewarden", "oci", "v1/oci_manifest") => {
                let reference: String =
                    serde_json::from_slice(payload).map_err(|e| e.to_string())?;
                self.manifests
                    .get(&reference)
                    .cloned()
                    .ok_or_else(|| "OCI API errors: [OCI API error: manifest unknown]".to_string())
            }
            _ => Err(format!(
                "the benchmark host serves only oci/v2/verify, not {namespace}/{operation}"
            )),
        }
    }
}

struct Policy {
    name: &'static str,
    module: PolicyModule,
    /// One instance answering every request: the figure printed beside the fresh one.
    reused: PolicyInstance,
    calls: Arc<AtomicUsize>,
    manifests: Arc<BTreeMap<String, Vec<u8>>>,
    size: usize,
    load_time: Duration,
}

impl Policy {
    fn load(
        name: &'static str,
        path: &str,
        manifests: &Arc<BTreeMap<String, Vec<u8>>>,
    ) -> Result<Self> {
        let wasm = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let module = PolicyModule::compile_cached(&wasm, &ModuleCache::disabled())
            .with_context(|| format!("cannot load {path}"))?;
        let load_time = started.elapsed();
        let reused = module.instantiate(Self::host(&calls, manifests), EXECUTION_TIMEOUT)?;
        Ok(Policy {
            name,
            module,
            reused,
            calls,
            manifests: Arc::clone(manifests),
            size: wasm.len(),
            load_time,
        })
    }

    fn host(
        calls: &Arc<AtomicUsize>,
        manifests: &Arc<BTreeMap<String, Vec<u8>>>,
    ) -> Box<dyn HostCallHandler> {
        Box::new(InstantHost {
            calls: Arc::clone(calls),
            manifests: Arc::clone(manifests),
        })
    }

    /// One request as policy-server answers it: a fresh instance, initialised, then `validate`.
    fn validate_fresh(&mut self, case: &Case) -> Result<Sample> {
        self.calls.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let mut instance = self
            .module
            .instantiate(Self::host(&self.calls, &self.manifests), EXECUTION_TIMEOUT)?;
        let response = instance.call("validate", &case.payload);
        let elapsed = started.elapsed();
        self.sample(case, response, elapsed)
    }

    /// One `validate` on the reused instance.
    fn validate_reused(&mut self, case: &Case) -> Result<Sample> {
        self.calls.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let response = self.reused.call("validate", &case.payload);
        let elapsed = started.elapsed();
        self.sample(case, response, elapsed)
    }

    fn sample(
        &self,
        case: &Case,
        response: Result<Vec<u8>, kwrun::policy_runtime::GuestCallError>,
        elapsed: Duration,
    ) -> Result<Sample> {
        let response = response.with_context(|| format!("{}: {}", self.name, case.name))?;
        let response: Value = serde_json::from_slice(&response)?;
        Ok(Sample {
            elapsed,
            calls: self.calls.load(Ordering::Relaxed),
            accepted: response["accepted"] == json!(true),
        })
    }
}

struct Sample {
    elapsed: Duration,
    calls: usize,
    /// Every request is meant to be accepted; a rejection is printed beside the time, so a
    /// policy taking a short cut to "no" never passes for a fast one.
    accepted: bool,
}

struct Case {
    name: String,
    payload: Vec<u8>,
}

impl Case {
    fn new(name: &str, request: Value) -> Self {
        let settings = json!({
            "signatures": [{"image": "*", "pubKeys": [PUBLIC_KEY]}],
            "modifyImagesWithDigest": true,
        });
        Self::with_settings(name, request, settings)
    }

    fn with_settings(name: &str, request: Value, settings: Value) -> Self {
        let payload = json!({"request": request, "settings": settings}).to_string();
        Case {
            name: name.to_string(),
            payload: payload.into_bytes(),
        }
    }
}

fn container(index: usize, image: &str) -> Value {
    json!({"name": format!("c{index}"), "image": image})
}

fn admission_request(group: &str, kind: &str, object: Value) -> Value {
    let version = "v1";
    json!({
        "uid": "bench",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "namespace": "bench",
        "operation": "CREATE",
        "userInfo": {"username": "bench"},
        "object": object,
    })
}

fn pod(containers: Vec<Value>) -> Value {
    admission_request(
        "",
        "Pod",
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bench", "namespace": "bench"},
            "spec": {"containers": containers},
        }),
    )
}

/// The keyless signer of the keyless cases.
const KEYLESS_ISSUER: &str = "https://oidc.bench.test";
const KEYLESS_SUBJECT: &str = "alice@bench.test";

fn keyless_settings() -> Value {
    json!({
        "signatures": [{"image": "*", "keyless": [{"issuer": KEYLESS_ISSUER, "subject": KEYLESS_SUBJECT}]}],
        "modifyImagesWithDigest": true,
    })
}

fn keyless_cases() -> Vec<Case> {
    let image = |repository: &str| container(0, &format!("ghcr.io/acme/{repository}:1.0"));
    vec![
        Case::with_settings(
            "Pod, 1 container, keyless",
            pod(vec![image("keyless")]),
            keyless_settings(),
        ),
        Case::with_settings(
            "Pod, 1 container, keyless, `.sig` of 1,000 genuine layers",
            pod(vec![image("keyless-1000-genuine")]),
            keyless_settings(),
        ),
        Case::with_settings(
            "Pod, 1 container, keyless, `.sig` of 999 forged layers then a genuine one",
            pod(vec![image("keyless-1000-forged")]),
            keyless_settings(),
        ),
    ]
}

/// The `.sig` manifests of the keyless cases, by reference: one genuine layer; 1,000 genuine
/// layers (one signer signing again and again); and 999 layers an attacker pushed (the genuine
/// certificate copied, each payload different, a garbage signature, a bundle copied from the
/// genuine one) before the genuine layer.
fn keyless_manifests() -> Result<BTreeMap<String, Vec<u8>>> {
    let signer = model_pki::Signer::new(KEYLESS_ISSUER, KEYLESS_SUBJECT)?;
    let genuine = signer.layer(VERIFIED_DIGEST, 0)?;
    let mut attack: Vec<Value> = (1..1000)
        .map(|i| {
            let mut forged = signer.layer(VERIFIED_DIGEST, i)?;
            forged["annotations"]["dev.sigstore.cosign/bundle"] =
                genuine["annotations"]["dev.sigstore.cosign/bundle"].clone();
            forged["annotations"]["dev.cosignproject.cosign/signature"] = json!("Z2FyYmFnZQ==");
            Ok(forged)
        })
        .collect::<Result<_>>()?;
    attack.push(genuine.clone());
    let genuine_many: Vec<Value> = (0..1000)
        .map(|i| signer.layer(VERIFIED_DIGEST, i))
        .collect::<Result<_>>()?;
    let sig = |repository: &str| {
        format!(
            "ghcr.io/acme/{repository}:{}.sig",
            VERIFIED_DIGEST.replace(':', "-")
        )
    };
    Ok(BTreeMap::from([
        (sig("keyless"), model_pki::manifest(vec![genuine])),
        (
            sig("keyless-1000-genuine"),
            model_pki::manifest(genuine_many),
        ),
        (sig("keyless-1000-forged"), model_pki::manifest(attack)),
    ]))
}

/// Real keyless signatures, as cosign writes them in a `.sig` manifest.
mod model_pki {
    use anyhow::Result;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Extension, X509Name, X509};
    use serde_json::{json, Value};

    pub struct Signer {
        key: PKey<Private>,
        certificate_pem: String,
    }

    impl Signer {
        /// A P-256 key and a Fulcio-style certificate (email SAN, issuer extension).
        pub fn new(issuer: &str, email: &str) -> Result<Self> {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
            let mut builder = X509::builder()?;
            builder.set_version(2)?;
            let name = X509Name::builder()?.build();
            builder.set_subject_name(&name)?;
            builder.set_issuer_name(&name)?;
            builder.set_pubkey(&key)?;
            let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
            builder.set_not_before(&from)?;
            builder.set_not_after(&until)?;
            let san = SubjectAlternativeName::new()
                .email(email)
                .build(&builder.x509v3_context(None, None))?;
            builder.append_extension(san)?;
            let oid = Asn1Object::from_str("1.3.6.1.4.1.57264.1.1")?;
            let value = Asn1OctetString::new_from_bytes(issuer.as_bytes())?;
            builder.append_extension(X509Extension::new_from_der(&oid, false, &value)?)?;
            builder.sign(&key, MessageDigest::sha256())?;
            let certificate_pem = String::from_utf8(builder.build().to_pem()?)?;
            Ok(Signer {
                key,
                certificate_pem,
            })
        }

        /// A signed, logged layer over a payload naming `digest` (`nonce` varies the payload).
        pub fn layer(&self, digest: &str, nonce: usize) -> Result<Value> {
            let payload = json!({
                "critical": {"identity": {"docker-reference": "ghcr.io/acme/app"},
                    "image": {"docker-manifest-digest": digest},
                    "type": "cosign container image signature"},
                "optional": {"nonce": nonce.to_string()},
            })
            .to_string();
            let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
            let signature = signer.sign_oneshot_to_vec(payload.as_bytes())?;
            let payload_sha256 = hex::encode(openssl::sha::sha256(payload.as_bytes()));
            let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": payload_sha256}},
                "signature": {"content": BASE64.encode(&signature),
                    "publicKey": {"content": BASE64.encode(&self.certificate_pem)}}}});
            let bundle = json!({"SignedEntryTimestamp": BASE64.encode([0u8; 71]),
                "Payload": {"body": BASE64.encode(body.to_string()), "integratedTime": 1_767_225_600,
                    "logIndex": nonce, "logID": "0".repeat(64)}});
            Ok(json!({
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "size": payload.len(),
                "digest": format!("sha256:{payload_sha256}"),
                "annotations": {
                    "dev.cosignproject.cosign/signature": BASE64.encode(&signature),
                    "dev.sigstore.cosign/certificate": self.certificate_pem,
                    "dev.sigstore.cosign/bundle": bundle.to_string(),
                },
            }))
        }
    }

    pub fn manifest(layers: Vec<Value>) -> Vec<u8> {
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers": layers})
        .to_string()
        .into_bytes()
    }
}

fn cases() -> Result<Vec<Case>> {
    let one_image = |i| container(i, "ghcr.io/acme/app:1.0");
    let distinct = |i| container(i, &format!("ghcr.io/acme/app-{i}:1.0"));
    // A Pod of about 1 MiB: one container whose environment carries the bulk, as large
    // generated configuration does.
    let big_env: Vec<Value> = (0..1024)
        .map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(1000)}))
        .collect();
    let mut big = one_image(0);
    big["env"] = Value::Array(big_env);
    let deployment = admission_request(
        "apps",
        "Deployment",
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench", "namespace": "bench"},
            "spec": {"template": {"spec": {"containers": (0..20).map(distinct).collect::<Vec<_>>()}}},
        }),
    );
    let cronjob: Value =
        serde_json::from_str(CRONJOB_REQUEST).context("test_data CronJob request")?;
    Ok([
        Case::new("Pod, 1 container", pod(vec![one_image(0)])),
        Case::new(
            "Pod, 100 containers, one image",
            pod((0..100).map(one_image).collect()),
        ),
        Case::new(
            "Pod, 100 distinct images",
            pod((0..100).map(distinct).collect()),
        ),
        Case::new("Deployment, 20 images", deployment),
        Case::new("CronJob (test_data)", cronjob),
        Case::new("Pod, 1 MiB object", pod(vec![big])),
        Case::new(
            "Pod, 10,000 containers, one image",
            pod((0..10_000).map(one_image).collect()),
        ),
    ]
    .into_iter()
    .chain(keyless_cases())
    .collect())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn micros(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ours, theirs] = args.as_slice() else {
        bail!("usage: policy-bench OURS.wasm THEIRS.wasm");
    };
    let manifests = Arc::new(keyless_manifests()?);
    let mut ours = Policy::load("this policy", ours, &manifests)?;
    let mut theirs = Policy::load("established", theirs, &manifests)?;

    println!("| request | this policy | established | ratio | reused instance: this / established | host calls (this/established) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for case in cases()? {
        for _ in 0..WARM_UP_CALLS {
            ours.validate_fresh(&case)?;
            theirs.validate_fresh(&case)?;
            ours.validate_reused(&case)?;
            theirs.validate_reused(&case)?;
        }
        let mut fresh = (Vec::new(), Vec::new());
        let mut reused = (Vec::new(), Vec::new());
        let (mut ours_last, mut theirs_last) = (None, None);
        let started = Instant::now();
        while started.elapsed() < MEASURE_FOR * 2 || fresh.0.len() < 10 {
            let sample = ours.validate_fresh(&case)?;
            fresh.0.push(sample.elapsed);
            ours_last = Some(sample);
            let sample = theirs.validate_fresh(&case)?;
            fresh.1.push(sample.elapsed);
            theirs_last = Some(sample);
            reused.0.push(ours.validate_reused(&case)?.elapsed);
            reused.1.push(theirs.validate_reused(&case)?.elapsed);
        }
        let (Some(ours_last), Some(theirs_last)) = (ours_last, theirs_last) else {
            bail!("{}: no samples", case.name);
        };
        let verdict = |sample: &Sample| if sample.accepted { "" } else { " (rejected)" };
        let (ours_median, theirs_median) = (median(fresh.0), median(fresh.1));
        println!(
            "| {} | {}{} | {}{} | {:.2} | {} / {} | {}/{} |",
            case.name,
            micros(ours_median),
            verdict(&ours_last),
            micros(theirs_median),
            verdict(&theirs_last),
            ours_median.as_secs_f64() / theirs_median.as_secs_f64(),
            micros(median(reused.0)),
            micros(median(reused.1)),
            ours_last.calls,
            theirs_last.calls,
        );
    }
    println!();
    println!("| module | size | compile |");
    println!("| --- | --- | --- |");
    for policy in [&ours, &theirs] {
        println!(
            "| {} | {} bytes ({} KiB) | {:.0} ms |",
            policy.name,
            policy.size,
            policy.size / 1024,
            policy.load_time.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
