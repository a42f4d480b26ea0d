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
