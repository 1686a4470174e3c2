//! The execution timeout (`--execution-timeout`): the wall-clock time each run of policy code
//! may take, and the deadline derived from it that bounds the host calls it makes, so neither a
//! policy stuck in a loop nor a registry that never answers can hang kwrun (Kubewarden's
//! policy-server does the same with its policy timeout).
//!
//! Words: a *timeout* is a duration something may take (the execution timeout, a registry
//! step's timeout); a *deadline* is the instant a timeout ends at ([`Deadline`], and
//! wasmtime's epoch deadline).
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

/// The default execution timeout: one deadline for the whole evaluation, wasm and host
/// calls alike (each registry call gets what is left, see [`Deadline`]). Looser
/// than policy-server's 2 s because kwrun verifies against real registries
/// without policy-server's warm caches.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the epoch advances: the timeout's granularity.
const TICK: Duration = Duration::from_millis(10);

/// The epoch deadline, in ticks from now, for `timeout` (at least one tick).
pub fn epoch_deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// When the guest call in progress must be over. Host calls get what is left before it, so
/// one evaluation has one deadline however its time is spent: in wasm, or waiting for a
/// registry.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    /// The execution timeout this deadline ends, for messages.
    timeout: Duration,
}

/// How long one host operation may take, and whether the deadline (rather than the
/// operation's own timeout) set that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTimeout {
    pub duration: Duration,
    pub set_by_deadline: bool,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline {
            end: Instant::now() + timeout,
            timeout,
        }
    }

    /// The time a host operation may take: what is left before the deadline, less a reserve
    /// in which the guest turns the host's error into its answer, and at most the operation's
    /// own timeout.
    pub fn host_timeout(&self, own_timeout: Duration) -> HostTimeout {
        let reserve = (self.timeout / 10).min(GUEST_RESERVE);
        let left = self
            .end
            .saturating_duration_since(Instant::now())
            .saturating_sub(reserve);
        HostTimeout {
            duration: left.min(own_timeout),
            set_by_deadline: left < own_timeout,
        }
    }

    /// Why a host operation bounded by [`Deadline::host_timeout`] gave up.
    pub fn exceeded(&self, timeout: HostTimeout, what: &str) -> String {
        if timeout.set_by_deadline {
            format!(
                "{what}: no answer within the policy's time limit of {:?} \
                 (--execution-timeout); not verified",
                self.timeout
            )
        } else {
            format!("{what}: timed out after {:?}", timeout.duration)
        }
    }
}

/// The most a host call keeps back from the time before the deadline for the guest's own
/// work after it.
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
            .context("cannot start the policy timeout thread")?;
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
    fn host_calls_get_what_is_left_before_the_deadline_less_a_reserve() {
        let deadline = Deadline::after(Duration::from_secs(10));
        let timeout = deadline.host_timeout(Duration::from_secs(30));
        assert!(timeout.set_by_deadline);
        assert!(
            timeout.duration <= Duration::from_millis(9800),
            "{timeout:?}"
        );
        assert!(
            timeout.duration > Duration::from_millis(9000),
            "{timeout:?}"
        );
        let own = deadline.host_timeout(Duration::from_secs(2));
        assert_eq!(
            own,
            HostTimeout {
                duration: Duration::from_secs(2),
                set_by_deadline: false
            }
        );
        let spent = Deadline::after(Duration::ZERO).host_timeout(Duration::from_secs(30));
        assert_eq!(spent.duration, Duration::ZERO);
        assert!(deadline
            .exceeded(timeout, "fetching signatures")
            .contains("time limit of 10s"));
    }

    #[test]
    fn epoch_deadlines_round_up_to_whole_ticks() {
        assert_eq!(epoch_deadline_ticks(Duration::from_secs(10)), 1000);
        assert_eq!(epoch_deadline_ticks(Duration::from_millis(15)), 2);
        assert_eq!(epoch_deadline_ticks(Duration::from_nanos(1)), 1);
        assert_eq!(epoch_deadline_ticks(Duration::ZERO), 1);
    }
}
