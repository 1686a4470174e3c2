//! kwrun as a library: the `kwrun` command line (`main.rs`) and the policy benchmark
//! (`bin/policy-bench/`) share the waPC runtime and the host capabilities.

mod admission;
mod admission_response;
pub mod annotate;
mod capability_catalog;
mod certificate_trust;
pub mod cli;
mod docker_auth;
pub mod execution_timeout;
mod host_capabilities;
pub mod module_cache;
mod policy_metadata;
pub mod policy_runtime;
pub mod run;
mod sigstore_host;
mod sources;
mod trust_config;
mod wapc_abi;
mod wasm_custom_section;
