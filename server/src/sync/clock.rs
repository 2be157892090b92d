//! The server's hybrid logical clock.

use std::sync::Mutex;

use sync_protocol::{Clock, Hlc};
use uuid::Uuid;

/// Each server process is its own clock node, so replicas behind a load balancer never hand out
/// equal readings.
pub struct ServerClock {
    clock: Mutex<Clock>,
}

impl Default for ServerClock {
    fn default() -> Self {
        Self {
            clock: Mutex::new(Clock::new(Uuid::new_v4())),
        }
    }
}

impl ServerClock {
    pub fn tick(&self, wall_ms: u64) -> Hlc {
        self.lock().tick(wall_ms)
    }

    pub fn observe(&self, remote: Hlc, wall_ms: u64) {
        self.lock().observe(remote, wall_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clock> {
        // The clock holds no invariant a panicking holder could break half-way.
        self.clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
