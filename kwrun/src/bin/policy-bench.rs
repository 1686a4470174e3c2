//! `make bench`: this policy against the established verify-image-signatures policy, side by
//! side in one process. Both modules are loaded once into wasmtime, exactly as a policy server
//! keeps an instance for many requests, and answer the same requests with the same settings
//! through a host that answers every verification instantly, so only guest work is measured.
//! Calls alternate between the two policies, so drift in the machine's speed hits both alike.
//!
//! Usage: policy-bench OURS.wasm THEIRS.wasm

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kwrun::policy_runtime::{Deadline, HostCallHandler, PolicyInstance};
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

/// Answers `oci/v2/verify` with "trusted" at once and counts the calls; anything else is an
/// error, so a policy taking another path shows up as a rejection, not as a fast number.
struct InstantHost {
    calls: Arc<AtomicUsize>,
}

impl HostCallHandler for InstantHost {
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        _payload: &[u8],
        _deadline: Deadline,
    ) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match (binding, namespace, operation) {
            ("kubewarden", "oci", "v2/verify") => {
                Ok(json!({"is_trusted": true, "digest": VERIFIED_DIGEST})
                    .to_string()
                    .into_bytes())
            }
            _ => Err(format!(
                "the benchmark host serves only oci/v2/verify, not {namespace}/{operation}"
            )),
        }
    }
}

struct Policy {
    name: &'static str,
    instance: PolicyInstance,
    calls: Arc<AtomicUsize>,
    size: usize,
    load_time: Duration,
}

impl Policy {
    fn load(name: &'static str, path: &str) -> Result<Self> {
        let wasm = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let instance = PolicyInstance::load(
            &wasm,
            Box::new(InstantHost {
                calls: Arc::clone(&calls),
            }),
            Duration::from_secs(60),
        )
        .with_context(|| format!("cannot load {path}"))?;
        Ok(Policy {
            name,
            instance,
            calls,
            size: wasm.len(),
            load_time: started.elapsed(),
        })
    }

    /// One `validate`: its duration and host calls; fails unless the request was accepted.
    fn validate(&mut self, case: &Case) -> Result<(Duration, usize)> {
        self.calls.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let response = self.instance.call("validate", &case.payload);
        let elapsed = started.elapsed();
        let response = response.with_context(|| format!("{}: {}", self.name, case.name))?;
        let response: Value = serde_json::from_slice(&response)?;
        if response["accepted"] != json!(true) {
            bail!(
                "{} rejected the {} request: {}",
                self.name,
                case.name,
                response["message"]
            );
        }
        Ok((elapsed, self.calls.load(Ordering::Relaxed)))
    }
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
    Ok(vec![
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
    ])
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
    let mut ours = Policy::load("this policy", ours)?;
    let mut theirs = Policy::load("established", theirs)?;

    println!("| request | this policy | established | ratio | host calls (this/established) |");
    println!("| --- | --- | --- | --- | --- |");
    for case in cases()? {
        for _ in 0..WARM_UP_CALLS {
            ours.validate(&case)?;
            theirs.validate(&case)?;
        }
        let (mut ours_times, mut theirs_times) = (Vec::new(), Vec::new());
        let (mut ours_calls, mut theirs_calls) = (0, 0);
        let started = Instant::now();
        while started.elapsed() < MEASURE_FOR * 2 || ours_times.len() < 10 {
            let (time, calls) = ours.validate(&case)?;
            ours_times.push(time);
            ours_calls = calls;
            let (time, calls) = theirs.validate(&case)?;
            theirs_times.push(time);
            theirs_calls = calls;
        }
        let (ours_median, theirs_median) = (median(ours_times), median(theirs_times));
        println!(
            "| {} | {} | {} | {:.2} | {ours_calls}/{theirs_calls} |",
            case.name,
            micros(ours_median),
            micros(theirs_median),
            ours_median.as_secs_f64() / theirs_median.as_secs_f64(),
        );
    }
    println!();
    println!("| module | size | load (compile + instantiate) |");
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
