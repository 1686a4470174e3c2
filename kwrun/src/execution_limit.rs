//! The wall-clock time limit on policy code, so a policy stuck in a loop
//! cannot hang kwrun (Kubewarden's policy-server does the same with its
//! policy timeout).
//!
//! Epoch interruption, not fuel: fuel keeps a counter updated on every
//! basic block (wasmtime measures up to 2-3x slower code) and counts wasm
//! work, not time, so it would neither bound a slow host call nor map to a
//! "seconds" flag. Epoch checks only read a rarely-changing counter at loop
//! headers and function entries; a background thread advances it on a fixed
//! tick while a call runs.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Engine, Trap};

/// The default limit. The clock runs through host calls too, and a
/// registry step alone may take up to 30 s, so this is far looser than
/// policy-server's 2 s: it is there to stop runaway loops, not to police
/// slow registries.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the epoch advances: the limit's granularity.
const TICK: Duration = Duration::from_millis(10);

/// The epoch deadline, in ticks from now, for `limit` (at least one tick).
pub fn deadline_ticks(limit: Duration) -> u64 {
    let ticks = limit.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Whether a wasm call failed because the epoch deadline passed.
pub fn is_timeout(error: &wasmtime::Error) -> bool {
    matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt))
}

/// Advances `engine`'s epoch every tick until dropped, so no thread outlives
/// the instance it times (each call sets its own deadline from the current epoch).
pub struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("kwrun-epoch".to_string())
            .spawn(move || {
                // Ends when the sender is dropped (Disconnected).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })
            .context("cannot start the policy time-limit thread")?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only loops and increments: it cannot panic.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::from_secs(10)), 1000);
        assert_eq!(deadline_ticks(Duration::from_millis(15)), 2);
        assert_eq!(deadline_ticks(Duration::from_nanos(1)), 1);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }
}
