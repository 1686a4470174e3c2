//! The waPC ABI between kwrun and a guest: the `wapc` imports a guest calls, reading and
//! writing its linear memory, and the per-instance state those imports share.
//!
//! The waPC protocol is small (a handful of imports in the `wapc` module and one
//! `__guest_call` export), so it is spoken here directly instead of through
//! `wasmtime-provider`, which forces wasmtime's cache, GC, profiling and component features
//! on every build.

use anyhow::Result;
use wasmtime::{format_err, Caller, Extern, Linker, Memory};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::execution_timeout::Deadline;

/// Serves the guest's `__host_call`s (Kubewarden host capabilities).
pub trait HostCallHandler: Send {
    /// Answers one call by `deadline` (the end of the guest call making it); an `Err`
    /// message is handed to the guest as the host error, which the Kubewarden SDK surfaces to
    /// the policy.
    fn host_call(
        &mut self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
        deadline: Deadline,
    ) -> std::result::Result<Vec<u8>, String>;
}

/// The import module every waPC import lives in.
const WAPC: &str = "wapc";

/// Everything the host imports need between the guest's calls into them.
pub(crate) struct GuestState {
    pub(crate) wasi: WasiP1Ctx,
    handler: Box<dyn HostCallHandler>,
    /// Operation name and payload of the guest call in progress.
    request: (Vec<u8>, Vec<u8>),
    pub(crate) guest_response: Option<Vec<u8>>,
    pub(crate) guest_error: Option<String>,
    host_response: Vec<u8>,
    host_error: String,
    /// The end of the guest call in progress.
    deadline: Deadline,
}

impl GuestState {
    pub(crate) fn new(
        wasi: WasiP1Ctx,
        handler: Box<dyn HostCallHandler>,
        deadline: Deadline,
    ) -> Self {
        GuestState {
            wasi,
            handler,
            request: (Vec::new(), Vec::new()),
            guest_response: None,
            guest_error: None,
            host_response: Vec::new(),
            host_error: String::new(),
            deadline,
        }
    }

    /// Readies the state for a guest call of `operation` with `payload`, to end by `deadline`.
    pub(crate) fn begin_call(&mut self, operation: &str, payload: &[u8], deadline: Deadline) {
        self.request = (operation.as_bytes().to_vec(), payload.to_vec());
        self.guest_response = None;
        self.guest_error = None;
        self.deadline = deadline;
    }
}

fn guest_memory(caller: &mut Caller<'_, GuestState>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(format_err!("the guest exports no linear memory")),
    }
}

/// Copies `len` bytes at `ptr` out of guest memory, refusing out-of-bounds
/// ranges instead of panicking.
fn read_guest(
    caller: &mut Caller<'_, GuestState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let start = usize::try_from(ptr).map_err(|_| format_err!("negative guest pointer {ptr}"))?;
    let len = usize::try_from(len).map_err(|_| format_err!("negative guest length {len}"))?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| format_err!("guest range {start}+{len} overflows"))?;
    memory
        .data(&caller)
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("guest range {start}..{end} is outside its memory"))
}

fn write_guest(
    caller: &mut Caller<'_, GuestState>,
    ptr: i32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let memory = guest_memory(caller)?;
    let start = usize::try_from(ptr).map_err(|_| format_err!("negative guest pointer {ptr}"))?;
    memory.write(caller, start, bytes).map_err(|e| {
        format_err!(
            "cannot write {} bytes at guest address {start}: {e}",
            bytes.len()
        )
    })
}

fn utf8(bytes: Vec<u8>, what: &str) -> wasmtime::Result<String> {
    String::from_utf8(bytes).map_err(|_| format_err!("{what} is not UTF-8"))
}

/// Links every waPC import a guest may call.
pub(crate) fn link_wapc_imports(linker: &mut Linker<GuestState>) -> Result<()> {
    linker
        .func_wrap(
            WAPC,
            "__guest_request",
            |mut caller: Caller<'_, GuestState>, op_ptr: i32, ptr: i32| -> wasmtime::Result<()> {
                let (op, msg) = caller.data().request.clone();
                write_guest(&mut caller, op_ptr, &op)?;
                write_guest(&mut caller, ptr, &msg)
            },
        )
        .map_err(anyhow::Error::from)?;
    link_guest_bytes(linker, "__guest_response", |state, bytes| {
        state.guest_response = Some(bytes);
    })?;
    link_guest_bytes(linker, "__guest_error", |state, bytes| {
        state.guest_error = Some(String::from_utf8_lossy(&bytes).into_owned());
    })?;
    link_guest_bytes(linker, "__console_log", |_, bytes| {
        eprintln!("{}", String::from_utf8_lossy(&bytes));
    })?;
    linker
        .func_wrap(
            WAPC,
            "__host_call",
            |mut caller: Caller<'_, GuestState>,
             bd_ptr: i32,
             bd_len: i32,
             ns_ptr: i32,
             ns_len: i32,
             op_ptr: i32,
             op_len: i32,
             ptr: i32,
             len: i32|
             -> wasmtime::Result<i32> {
                let binding = utf8(
                    read_guest(&mut caller, bd_ptr, bd_len)?,
                    "host call binding",
                )?;
                let namespace = utf8(
                    read_guest(&mut caller, ns_ptr, ns_len)?,
                    "host call namespace",
                )?;
                let operation = utf8(
                    read_guest(&mut caller, op_ptr, op_len)?,
                    "host call operation",
                )?;
                let payload = read_guest(&mut caller, ptr, len)?;
                let state = caller.data_mut();
                state.host_response.clear();
                state.host_error.clear();
                match state.handler.host_call(
                    &binding,
                    &namespace,
                    &operation,
                    &payload,
                    state.deadline,
                ) {
                    Ok(response) => {
                        state.host_response = response;
                        Ok(1)
                    }
                    Err(message) => {
                        state.host_error = message;
                        Ok(0)
                    }
                }
            },
        )
        .map_err(anyhow::Error::from)?;
    link_host_bytes(linker, "__host_response", "host response", |state| {
        &state.host_response
    })?;
    link_host_bytes(linker, "__host_error", "host error", |state| {
        state.host_error.as_bytes()
    })?;
    Ok(())
}

/// Links `name(ptr, len)`, by which the guest hands the host the bytes at `ptr`; `take` keeps
/// them.
fn link_guest_bytes(
    linker: &mut Linker<GuestState>,
    name: &str,
    take: fn(&mut GuestState, Vec<u8>),
) -> Result<()> {
    linker
        .func_wrap(
            WAPC,
            name,
            move |mut caller: Caller<'_, GuestState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
                let bytes = read_guest(&mut caller, ptr, len)?;
                take(caller.data_mut(), bytes);
                Ok(())
            },
        )
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Links the pair by which the guest fetches bytes the host holds for it (named `what` in
/// errors): `{name}_len()` for their length, then `{name}(ptr)` to copy them to `ptr`.
fn link_host_bytes(
    linker: &mut Linker<GuestState>,
    name: &str,
    what: &'static str,
    bytes: fn(&GuestState) -> &[u8],
) -> Result<()> {
    linker
        .func_wrap(
            WAPC,
            &format!("{name}_len"),
            move |caller: Caller<'_, GuestState>| -> wasmtime::Result<i32> {
                i32::try_from(bytes(caller.data()).len())
                    .map_err(|_| format_err!("{what} too large"))
            },
        )
        .map_err(anyhow::Error::from)?;
    linker
        .func_wrap(
            WAPC,
            name,
            move |mut caller: Caller<'_, GuestState>, ptr: i32| -> wasmtime::Result<()> {
                let held = bytes(caller.data()).to_vec();
                write_guest(&mut caller, ptr, &held)
            },
        )
        .map_err(anyhow::Error::from)?;
    Ok(())
}
