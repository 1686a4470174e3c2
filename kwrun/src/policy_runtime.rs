//! The lifecycle of a waPC guest (a Kubewarden policy compiled to wasm32-wasip1) under
//! wasmtime: a module compiled and linked once (WASI preview 1 and the waPC imports of
//! `wapc_abi`), instances made from it and initialised, and guest functions called
//! by name within the execution timeout.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use wasmtime::{Config, Engine, Linker, Module, Store, TypedFunc};
use wasmtime_wasi::WasiCtxBuilder;

pub use crate::execution_timeout::Deadline;
use crate::execution_timeout::{epoch_deadline_ticks, is_timeout, EpochTicker};
use crate::module_cache::ModuleCache;
pub use crate::wapc_abi::HostCallHandler;
use crate::wapc_abi::{link_wapc_imports, GuestState};

/// Why a guest function did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum GuestCallError {
    /// The guest returned an error through `__guest_error`.
    #[error("policy returned an error from {operation}: {message}")]
    Guest { operation: String, message: String },
    /// The guest ran past its execution timeout (wall clock, host calls included).
    #[error(
        "policy exceeded its time limit of {timeout:?} during {operation} \
         (see --execution-timeout)"
    )]
    Timeout {
        operation: String,
        timeout: Duration,
    },
    /// The guest trapped or the runtime failed.
    #[error("policy execution of {operation} failed: {source:#}")]
    Runtime {
        operation: String,
        source: anyhow::Error,
    },
}

/// An instantiated and initialised policy, ready for `call`.
pub struct PolicyInstance {
    store: Store<GuestState>,
    guest_call: TypedFunc<(i32, i32), i32>,
    execution_timeout: Duration,
    /// The module's epoch clock, kept running while any instance of it lives.
    _ticker: Arc<EpochTicker>,
}

/// A compiled and linked policy module, from which instances are made: once per `kwrun run`,
/// or once per request as policy-server does (`make bench` measures that regime).
pub struct PolicyModule {
    engine: Engine,
    module: Module,
    linker: Linker<GuestState>,
    /// Advances the epoch for as long as the module or an instance lives: one thread per
    /// module rather than per call or instance (a thread start costs more than a small
    /// policy's whole `validate`).
    ticker: Arc<EpochTicker>,
}

/// Initialisation exports, in the order waPC hosts call them. `_initialize`
/// is the WASI reactor constructor (Rust cdylibs export it); `_start` is what
/// TinyGo guests export; `wapc_init` registers the guest's functions.
const INIT_EXPORTS: [&str; 3] = ["_initialize", "_start", "wapc_init"];

impl PolicyModule {
    /// Compiles `wasm` (or takes it from `cache`) and links the WASI and waPC imports.
    pub fn compile_cached(wasm: &[u8], cache: &ModuleCache) -> Result<Self> {
        if !wasm.starts_with(b"\0asm") {
            return Err(anyhow!(
                "not a WebAssembly module (no \\0asm header): build the policy with `make policy.wasm`"
            ));
        }
        let engine = Engine::new(Config::new().epoch_interruption(true))
            .map_err(anyhow::Error::from)
            .context("cannot create the wasm engine")?;
        let module = cache.module(&engine, wasm)?;
        let mut linker: Linker<GuestState> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut GuestState| &mut s.wasi)
            .map_err(anyhow::Error::from)
            .context("cannot link WASI")?;
        link_wapc_imports(&mut linker)?;
        let ticker = Arc::new(EpochTicker::start(&engine)?);
        Ok(Self {
            engine,
            module,
            linker,
            ticker,
        })
    }

    /// A fresh instance, with its waPC initialisation run. Every run of guest code (the
    /// initialisation as a whole, then each `call`) is stopped after `execution_timeout`.
    pub fn instantiate(
        &self,
        handler: Box<dyn HostCallHandler>,
        execution_timeout: Duration,
    ) -> Result<PolicyInstance> {
        // The policy's own stdout would corrupt kwrun's single JSON line, so
        // both of its streams go to kwrun's stderr.
        let wasi = WasiCtxBuilder::new()
            .stdout(std::io::stderr())
            .stderr(std::io::stderr())
            .build_p1();
        let state = GuestState::new(wasi, handler, Deadline::after(execution_timeout));
        let mut store = Store::new(&self.engine, state);
        // Instantiation may run a wasm start function, so it is timed too.
        store.set_epoch_deadline(epoch_deadline_ticks(execution_timeout));
        let instance = self
            .linker
            .instantiate(&mut store, &self.module)
            .map_err(|err| {
                if is_timeout(&err) {
                    anyhow::Error::from(GuestCallError::Timeout {
                        operation: "instantiation".to_string(),
                        timeout: execution_timeout,
                    })
                } else {
                    anyhow::Error::from(err).context("cannot instantiate the policy module")
                }
            })?;
        PolicyInstance::initialise(store, instance, execution_timeout, Arc::clone(&self.ticker))
    }
}

impl PolicyInstance {
    /// Compiles and instantiates `wasm`, then runs its waPC initialisation.
    /// Every run of guest code (the initialisation as a whole, then each
    /// `call`) is stopped after `execution_timeout`.
    pub fn load(
        wasm: &[u8],
        handler: Box<dyn HostCallHandler>,
        execution_timeout: Duration,
    ) -> Result<Self> {
        Self::load_cached(wasm, handler, execution_timeout, &ModuleCache::disabled())
    }

    /// [`PolicyInstance::load`], taking the compiled module from `cache` when it has it.
    pub fn load_cached(
        wasm: &[u8],
        handler: Box<dyn HostCallHandler>,
        execution_timeout: Duration,
        cache: &ModuleCache,
    ) -> Result<Self> {
        PolicyModule::compile_cached(wasm, cache)?.instantiate(handler, execution_timeout)
    }

    /// Runs the waPC initialisation exports of a new instance.
    fn initialise(
        mut store: Store<GuestState>,
        instance: wasmtime::Instance,
        execution_timeout: Duration,
        ticker: Arc<EpochTicker>,
    ) -> Result<Self> {
        for name in INIT_EXPORTS {
            let Some(func) = instance.get_func(&mut store, name) else {
                continue;
            };
            let func = func
                .typed::<(), ()>(&store)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("export {name} has an unexpected signature"))?;
            if let Err(err) = func.call(&mut store, ()) {
                // TinyGo's `_start` ends with proc_exit(0): a clean exit.
                if matches!(err.downcast_ref::<wasmtime_wasi::I32Exit>(), Some(e) if e.0 == 0) {
                    continue;
                }
                if is_timeout(&err) {
                    return Err(GuestCallError::Timeout {
                        operation: format!("policy initialisation ({name})"),
                        timeout: execution_timeout,
                    }
                    .into());
                }
                return Err(anyhow::Error::from(err))
                    .with_context(|| format!("policy initialisation ({name}) failed"));
            }
        }

        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .map_err(anyhow::Error::from)
            .context("the module is not a waPC guest: no __guest_call export")?;
        Ok(Self {
            store,
            guest_call,
            execution_timeout,
            _ticker: ticker,
        })
    }

    /// Calls the guest function `operation` with `payload` and returns its
    /// response bytes; a call running past the execution timeout is a `Timeout`.
    pub fn call(&mut self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, GuestCallError> {
        let runtime_error = |source: anyhow::Error| GuestCallError::Runtime {
            operation: operation.to_string(),
            source,
        };
        let op_len = i32::try_from(operation.len()).map_err(|e| runtime_error(e.into()))?;
        let msg_len = i32::try_from(payload.len()).map_err(|e| runtime_error(e.into()))?;
        self.store.data_mut().begin_call(
            operation,
            payload,
            Deadline::after(self.execution_timeout),
        );
        // The epoch deadline is relative to the engine's current epoch, so each
        // call gets the whole execution timeout.
        self.store
            .set_epoch_deadline(epoch_deadline_ticks(self.execution_timeout));
        let status = self.guest_call.call(&mut self.store, (op_len, msg_len));
        let status = status.map_err(|e| {
            if is_timeout(&e) {
                GuestCallError::Timeout {
                    operation: operation.to_string(),
                    timeout: self.execution_timeout,
                }
            } else {
                runtime_error(e.into())
            }
        })?;

        let state = self.store.data_mut();
        if let Some(message) = state.guest_error.take() {
            return Err(GuestCallError::Guest {
                operation: operation.to_string(),
                message,
            });
        }
        match (status, state.guest_response.take()) {
            (1, Some(response)) => Ok(response),
            (1, None) => Err(runtime_error(anyhow!(
                "guest reported success but set no response"
            ))),
            (status, _) => Err(GuestCallError::Guest {
                operation: operation.to_string(),
                message: format!("guest call failed with status {status} and no error message"),
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A waPC guest that forwards each call to the host as
    /// `kubewarden/oci/<operation>` and answers with the host's response (or
    /// host error text). Operations starting with `e` answer with a guest
    /// error carrying the payload; `t` traps.
    const FORWARDING_GUEST: &str = r#"
    (module
      (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
      (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
      (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
      (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
      (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
      (import "wapc" "__host_response" (func $host_response (param i32)))
      (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
      (import "wapc" "__host_error" (func $host_error (param i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "kubewardenoci")
      (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
        (call $guest_request (i32.const 100) (i32.const 1000))
        (if (i32.eq (i32.load8_u (i32.const 100)) (i32.const 101))
          (then
            (call $guest_error (i32.const 1000) (local.get $msg_len))
            (return (i32.const 0))))
        (if (i32.eq (i32.load8_u (i32.const 100)) (i32.const 116)) (then unreachable))
        (if (call $host_call (i32.const 0) (i32.const 10) (i32.const 10) (i32.const 3)
                             (i32.const 100) (local.get $op_len) (i32.const 1000) (local.get $msg_len))
          (then
            (call $host_response (i32.const 5000))
            (call $guest_response (i32.const 5000) (call $host_response_len)))
          (else
            (call $host_error (i32.const 5000))
            (call $guest_response (i32.const 5000) (call $host_error_len))))
        (i32.const 1)))
    "#;

    struct EchoHost;

    impl HostCallHandler for EchoHost {
        fn host_call(
            &mut self,
            binding: &str,
            namespace: &str,
            operation: &str,
            payload: &[u8],
            _: Deadline,
        ) -> std::result::Result<Vec<u8>, String> {
            if operation == "fail" {
                return Err("host says no".to_string());
            }
            Ok(format!(
                "{binding}/{namespace}/{operation}:{}",
                String::from_utf8_lossy(payload)
            )
            .into_bytes())
        }
    }

    /// Short enough for fast tests, long enough for the guests that do end.
    const TEST_TIMEOUT: Duration = Duration::from_millis(200);

    /// [`FORWARDING_GUEST`], compiled.
    pub(crate) fn forwarding_guest() -> Vec<u8> {
        wat::parse_str(FORWARDING_GUEST).unwrap()
    }

    fn guest() -> PolicyInstance {
        let wasm = forwarding_guest();
        PolicyInstance::load(&wasm, Box::new(EchoHost), TEST_TIMEOUT).unwrap()
    }

    /// A waPC guest whose every call, and optionally `wapc_init`, spins
    /// forever.
    pub(crate) fn looping_guest(loop_in_init: bool) -> Vec<u8> {
        let init = if loop_in_init {
            r#"(func (export "wapc_init") (loop $l (br $l)))"#
        } else {
            ""
        };
        wat::parse_str(format!(
            r#"(module
              (memory (export "memory") 1)
              {init}
              (func (export "__guest_call") (param i32 i32) (result i32)
                (loop $l (br $l))
                (i32.const 1)))"#
        ))
        .unwrap()
    }

    #[test]
    fn host_calls_round_trip_through_the_guest() {
        let mut policy = guest();
        assert_eq!(
            policy.call("validate", b"{}").unwrap(),
            b"kubewarden/oci/validate:{}"
        );
        // Host errors reach the guest as error text.
        assert_eq!(policy.call("fail", b"x").unwrap(), b"host says no");
        // The instance stays usable after calls.
        assert_eq!(policy.call("again", b"").unwrap(), b"kubewarden/oci/again:");
    }

    #[test]
    fn guest_errors_and_traps_are_errors() {
        let mut policy = guest();
        match policy.call("error", b"bad settings") {
            Err(GuestCallError::Guest { message, .. }) => assert_eq!(message, "bad settings"),
            other => panic!("expected a guest error, got {other:?}"),
        }
        assert!(matches!(
            policy.call("trap", b""),
            Err(GuestCallError::Runtime { .. })
        ));
    }

    #[test]
    fn a_looping_call_is_stopped_at_the_execution_timeout() {
        let mut policy =
            PolicyInstance::load(&looping_guest(false), Box::new(EchoHost), TEST_TIMEOUT).unwrap();
        match policy.call("validate", b"{}") {
            Err(err @ GuestCallError::Timeout { .. }) => {
                let message = err.to_string();
                assert!(message.contains("exceeded its time limit"), "{message}");
                assert!(message.contains("during validate"), "{message}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // Each call gets a fresh deadline, and times out again.
        assert!(matches!(
            policy.call("validate_settings", b"{}"),
            Err(GuestCallError::Timeout { operation, .. }) if operation == "validate_settings"
        ));
    }

    #[test]
    fn a_looping_initialisation_is_stopped_at_the_execution_timeout() {
        let err = PolicyInstance::load(&looping_guest(true), Box::new(EchoHost), TEST_TIMEOUT)
            .err()
            .unwrap();
        assert!(
            matches!(
                err.downcast_ref::<GuestCallError>(),
                Some(GuestCallError::Timeout { operation, .. }) if operation.contains("wapc_init")
            ),
            "{err:#}"
        );
    }

    #[test]
    fn modules_that_are_not_wapc_guests_are_refused() {
        let wasm = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
        let err = PolicyInstance::load(&wasm, Box::new(EchoHost), TEST_TIMEOUT)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("__guest_call"), "{err:#}");
        assert!(PolicyInstance::load(b"not wasm", Box::new(EchoHost), TEST_TIMEOUT).is_err());
    }
}
