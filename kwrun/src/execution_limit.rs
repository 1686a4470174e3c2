//! The wall-clock time limit on one evaluation, so neither a policy stuck in a
//! loop nor a registry that never answers can hang kwrun (Kubewarden's
//! policy-server does the same with its policy timeout).
//!
//! Epoch interruption, not fuel: fuel keeps a counter updated on every
//! basic block (wasmtime measures up to 2-3x slower code) and counts wasm
//! work, not time, so it would neither bound a slow host call nor map to a
//! "seconds" flag. Epoch checks only read a rarely-changing counter at loop
//! headers and function entries; a background thread advances it on a fixed
//! tick while a call runs.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtime::{Engine, Trap};

/// The default limit: one budget for the whole evaluation, wasm and host
/// calls alike (each registry step gets what is left, see [`Deadline`]). Looser
/// than policy-server's 2 s because kwrun verifies against real registries
/// without policy-server's warm caches.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the epoch advances: the limit's granularity.
const TICK: Duration = Duration::from_millis(10);

/// The epoch deadline, in ticks from now, for `limit` (at least one tick).
pub fn deadline_ticks(limit: Duration) -> u64 {
    let ticks = limit.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// When the guest call in progress must be over. Host calls get what is left of it, so one
/// evaluation has one budget however it is spent: in wasm, or waiting for a registry.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    limit: Duration,
}

/// How long one host operation may take, and whether the evaluation's budget (rather than the
/// operation's own cap) set that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTime {
    pub limit: Duration,
    pub set_by_budget: bool,
}

impl Deadline {
    pub fn after(limit: Duration) -> Self {
        Deadline {
            end: Instant::now() + limit,
            limit,
        }
    }

    /// The time a host operation may take: what is left of the budget, less a reserve in
    /// which the guest turns the host's error into its answer, and at most `cap`.
    pub fn for_host(&self, cap: Duration) -> HostTime {
        let reserve = (self.limit / 10).min(GUEST_RESERVE);
        let left = self
            .end
            .saturating_duration_since(Instant::now())
            .saturating_sub(reserve);
        HostTime {
            limit: left.min(cap),
            set_by_budget: left < cap,
        }
    }

    /// Why a host operation bounded by [`Deadline::for_host`] gave up.
    pub fn exceeded(&self, time: HostTime, what: &str) -> String {
        if time.set_by_budget {
            format!(
                "{what}: no answer within the policy's time limit of {:?} \
                 (--execution-timeout); not verified",
                self.limit
            )
        } else {
            format!("{what}: timed out after {:?}", time.limit)
        }
    }
}

/// The most a host call keeps back from the budget for the guest's own work after it.
const GUEST_RESERVE: Duration = Duration::from_millis(200);

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
    fn host_calls_get_what_is_left_of_the_budget_less_a_reserve() {
        let deadline = Deadline::after(Duration::from_secs(10));
        let time = deadline.for_host(Duration::from_secs(30));
        assert!(time.set_by_budget);
        assert!(time.limit <= Duration::from_millis(9800), "{time:?}");
        assert!(time.limit > Duration::from_millis(9000), "{time:?}");
        let capped = deadline.for_host(Duration::from_secs(2));
        assert_eq!(
            capped,
            HostTime {
                limit: Duration::from_secs(2),
                set_by_budget: false
            }
        );
        let spent = Deadline::after(Duration::ZERO).for_host(Duration::from_secs(30));
        assert_eq!(spent.limit, Duration::ZERO);
        assert!(deadline
            .exceeded(time, "fetching signatures")
            .contains("time limit of 10s"));
    }

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::from_secs(10)), 1000);
        assert_eq!(deadline_ticks(Duration::from_millis(15)), 2);
        assert_eq!(deadline_ticks(Duration::from_nanos(1)), 1);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }
}
