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

mod cases;
mod instant_host;
mod model_pki;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kwrun::module_cache::ModuleCache;
use kwrun::policy_runtime::{HostCallHandler, PolicyInstance, PolicyModule};
use serde_json::{json, Value};

use cases::{keyless_manifests, Case};
use instant_host::InstantHost;

/// How long each case is measured per policy, after warming up.
const MEASURE_FOR: Duration = Duration::from_millis(1500);
const WARM_UP_CALLS: usize = 20;
/// The execution timeout of each guest run; far above anything measured here.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(60);

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
    for case in cases::cases()? {
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
