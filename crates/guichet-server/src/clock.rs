//! The one place that reads the wall clock. Everything else takes `now` as a parameter.

use std::fmt;
use std::sync::Arc;

use guichet_domain::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "the one clock adapter that reads the wall clock")]
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(chrono::Utc::now().timestamp_millis())
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// A clock moved by a fixed offset, for tests that need time to pass (the `test_clock_offset_ms`
/// setting): invitation expiry is tested end to end by restarting the server in the future.
#[derive(Debug, Clone)]
pub struct OffsetClock {
    inner: SharedClock,
    offset_ms: i64,
}

impl OffsetClock {
    /// `inner` moved by `offset_ms` milliseconds.
    pub fn new(inner: SharedClock, offset_ms: i64) -> Self {
        Self { inner, offset_ms }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.inner.now().as_millis().saturating_add(self.offset_ms))
    }
}
