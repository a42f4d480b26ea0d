//! The expiry sweeper: every replica records, periodically, the expiries that passed — one audit
//! event and one change per expired membership or delegation, and the end (EXPIRED) of every access
//! request still pending at its expiry, written by exactly one replica
//! (`guichet_store::Store::record_expiries` decides with a conditional update), and streamed to
//! WatchEvents like every event.
//!
//! Decisions do not depend on it: a grant stops granting at its expiry because the decision
//! compares the expiry with the instant it evaluates at, and a cached answer is never used at or
//! after the earliest expiry it depends on (`crate::cache`). The sweeper only writes the record,
//! up to [`SWEEP_EVERY`] after the instant.

use std::time::Duration;

use super::App;

/// How often each replica looks for expiries to record.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl App {
    /// Records the expiries passed at the clock's now (see the module docs); returns how many.
    pub async fn sweep_expiries(&self) -> Result<usize, crate::error::ServerError> {
        let done = self.store.record_expiries(self.clock.now()).await?;
        if !done.memberships.is_empty() || !done.delegations.is_empty() || !done.access_requests.is_empty() {
            tracing::info!(
                memberships = done.memberships.len(),
                delegations = done.delegations.len(),
                access_requests = done.access_requests.len(),
                "recorded expired grants and access requests"
            );
        }
        Ok(done.memberships.len() + done.delegations.len() + done.access_requests.len())
    }

    /// Runs [`App::sweep_expiries`] every [`SWEEP_EVERY`] until `stop` turns true. A failed sweep
    /// (the store unreachable) is logged and tried again at the next tick.
    pub(crate) async fn run_expiry_sweeper(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            if let Err(e) = self.sweep_expiries().await {
                tracing::warn!(error = %e, "the expiry sweep failed; trying again");
            }
        }
    }
}
