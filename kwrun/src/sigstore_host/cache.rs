//! Remembers successful verifications for a short while, so a policy that
//! asks about the same image many times (one request per container) costs one
//! registry round trip. Failures are never remembered: a signature pushed a
//! moment later must be seen.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a successful verification is reused.
pub const TRUSTED_FOR: Duration = Duration::from_secs(60);

/// The source of "now", injected so tests can move time.
pub trait Clock: Send {
    fn now(&self) -> Instant;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Successful responses keyed by the whole request JSON.
pub struct VerificationCache {
    clock: Box<dyn Clock>,
    ttl: Duration,
    entries: HashMap<Vec<u8>, (Instant, Vec<u8>)>,
}

impl VerificationCache {
    pub fn new(clock: Box<dyn Clock>, ttl: Duration) -> Self {
        Self {
            clock,
            ttl,
            entries: HashMap::new(),
        }
    }

    pub fn get(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let now = self.clock.now();
        match self.entries.get(request) {
            Some((stored, response)) if now.duration_since(*stored) < self.ttl => {
                Some(response.clone())
            }
            Some(_) => {
                self.entries.remove(request);
                None
            }
            None => None,
        }
    }

    pub fn remember_success(&mut self, request: &[u8], response: &[u8]) {
        let now = self.clock.now();
        self.entries
            .insert(request.to_vec(), (now, response.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A clock that only moves when told to.
    #[derive(Clone)]
    struct FakeClock(Arc<Mutex<Instant>>);

    impl FakeClock {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap();
            *now += by;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn entries_expire_after_sixty_seconds() {
        let start = Instant::now();
        let clock = FakeClock(Arc::new(Mutex::new(start)));
        let mut cache = VerificationCache::new(Box::new(clock.clone()), TRUSTED_FOR);
        cache.remember_success(b"request", b"response");

        clock.advance(Duration::from_secs(59));
        assert_eq!(cache.get(b"request").as_deref(), Some(&b"response"[..]));
        assert_eq!(cache.get(b"other request"), None);

        clock.advance(Duration::from_secs(2)); // 61 s after it was stored
        assert_eq!(cache.get(b"request"), None);
    }
}
