//! The store breaker: while the store cannot be reached, checks learn it at once instead of each
//! waiting the pool's acquire timeout.
//!
//! - **Closed** (the store answers): store calls of the check path run as usual, but each one is
//!   raced against the breaker opening ([`Breaker::guard`]), so a call stuck waiting for a
//!   connection is released the moment the outage is known.
//! - **Open** (the store is unreachable): guarded calls fail at once with `UNAVAILABLE`, and the
//!   caller may serve a cached decision marked stale (see `serve_stale_when_store_down_ms` in
//!   [`crate::cache`]).
//! - **The probe** decides, and nothing else: a background task runs `SELECT 1` on a connection of
//!   the store's own ([`Store::probe`], bounded by [`guichet_store::PROBE_TIMEOUT`]), every
//!   [`PROBE_EVERY`] while closed, at once when a guarded call fails with `UNAVAILABLE`, and every
//!   [`PROBE_EVERY_OPEN`] while open. A failed probe opens the breaker; a successful one closes it.
//!   A busy pool never opens it (the probe does not use the pool), and one broken connection
//!   among healthy ones does not either (the probe then succeeds).
//! - **A busy replica is not an outage.** The probe shares the replica's runtime with the checks:
//!   on a saturated replica its turns come late and it can miss its deadline while the store
//!   answers every other call. A failed probe therefore opens the breaker only when no guarded
//!   call succeeded while it ran (the fence's query runs every fence window, so a replica under
//!   load always has one); otherwise the probe runs again soon. Measured by `make bench`'s
//!   `store-down`: on an overloaded debug server the breaker opened with PostgreSQL up before this
//!   rule.
//!
//! Opening and closing are logged once each, with how long the outage lasted; every failed probe
//! counts in `guichet_store_errors_total`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use guichet_store::Store;
use tokio::sync::{Notify, watch};

use crate::error::ServerError;

/// How often the probe runs while the store answers.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// How often the probe runs while the store is unreachable.
pub const PROBE_EVERY_OPEN: Duration = Duration::from_millis(100);

/// The message of a call refused by an open breaker.
const OPEN: &str = "the store is unreachable (breaker open)";

/// The breaker of one replica's store (see the module docs).
#[derive(Debug)]
pub struct Breaker {
    open: watch::Sender<bool>,
    wake: Notify,
    epoch: Instant,
    /// Nanoseconds after `epoch` when the breaker opened (meaningful while open).
    opened_at: AtomicU64,
    /// Outages seen (times the breaker opened).
    outages: AtomicU64,
    /// Nanoseconds after `epoch` when a guarded call last succeeded.
    answered_at: AtomicU64,
}

impl Breaker {
    /// A closed breaker whose probe task watches `store` until the breaker is dropped.
    pub fn start(store: Store) -> Arc<Self> {
        Self::start_with(move || {
            let store = store.clone();
            async move { store.probe().await.map_err(|e| e.to_string()) }
        })
    }

    /// A closed breaker whose probe task runs `probe` (a reachability check of the store) until
    /// the breaker is dropped.
    fn start_with<P, F>(probe: P) -> Arc<Self>
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let breaker = Arc::new(Self {
            open: watch::channel(false).0,
            wake: Notify::new(),
            epoch: Instant::now(),
            opened_at: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            answered_at: AtomicU64::new(0),
        });
        tokio::spawn(Self::run_probe(Arc::downgrade(&breaker), probe));
        breaker
    }

    /// Whether the store is known to be unreachable.
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// How long the breaker has been open; `None` while closed.
    pub fn open_for(&self) -> Option<Duration> {
        self.is_open().then(|| {
            let at = self.opened_at.load(Ordering::Acquire);
            self.epoch.elapsed().saturating_sub(Duration::from_nanos(at))
        })
    }

    /// How many times the breaker opened since the start.
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// The outage the store is in: `Some(n)` while the breaker is open, the `n`th time.
    pub fn outage(&self) -> Option<u64> {
        self.is_open().then(|| self.outages())
    }

    /// Asks for a probe now (a store call failed).
    pub fn suspect(&self) {
        self.wake.notify_one();
    }

    /// Resolves once the breaker is open.
    pub async fn opened(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }

    /// Runs a store call of the check path: `UNAVAILABLE` at once while the breaker is open, or as
    /// soon as it opens while the call waits; a call that fails with `UNAVAILABLE` asks for a
    /// probe.
    ///
    /// A call that completes on its first poll never waited for the store (a cache hit inside the
    /// fence window): it is answered as it is, without watching the breaker and without counting
    /// as the store's answer. Only a call that waited — that went to the store — races the breaker
    /// and, when it succeeds, tells the probe the store answered.
    pub async fn guard<T>(&self, call: impl Future<Output = Result<T, ServerError>>) -> Result<T, ServerError> {
        if self.is_open() {
            return Err(ServerError::Unavailable(OPEN.to_owned()));
        }
        let mut call = std::pin::pin!(call);
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(r) = first {
            if matches!(r, Err(ServerError::Unavailable(_))) {
                self.suspect();
            }
            return r;
        }
        tokio::select! {
            biased;
            r = call => {
                match &r {
                    Ok(_) => {
                        self.answered_at.fetch_max(self.now(), Ordering::Relaxed);
                    }
                    Err(ServerError::Unavailable(_)) => self.suspect(),
                    Err(_) => {}
                }
                r
            }
            () = self.opened() => Err(ServerError::Unavailable(OPEN.to_owned())),
        }
    }

    /// Nanoseconds since `epoch`.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether a guarded call succeeded at or after `since` (nanoseconds after `epoch`).
    fn answered_since(&self, since: u64) -> bool {
        self.answered_at.load(Ordering::Relaxed) >= since
    }

    fn set(&self, open: bool, error: Option<&str>) {
        let was = self.open.send_replace(open);
        if open && !was {
            let at = self.now();
            self.opened_at.store(at, Ordering::Release);
            self.outages.fetch_add(1, Ordering::Relaxed);
            crate::metrics::breaker_open(true);
            tracing::error!(
                error = error.unwrap_or(""),
                "the store is unreachable: the breaker is open, checks answer at once (UNAVAILABLE, or a cached \
                 decision marked stale within cache.serve_stale_when_store_down_ms)"
            );
        } else if !open && was {
            let at = self.opened_at.load(Ordering::Acquire);
            let lasted = self.epoch.elapsed().saturating_sub(Duration::from_nanos(at));
            crate::metrics::breaker_open(false);
            tracing::warn!(outage_ms = lasted.as_millis(), "the store answers again: the breaker is closed");
        }
    }

    async fn run_probe<P, F>(breaker: std::sync::Weak<Self>, probe: P)
    where
        P: Fn() -> F,
        F: Future<Output = Result<(), String>>,
    {
        loop {
            let Some(b) = breaker.upgrade() else { return };
            let started = b.now();
            let result = match tokio::time::timeout(guichet_store::PROBE_TIMEOUT * 2, probe()).await {
                Ok(r) => r,
                Err(_) => Err("the database did not answer the probe in time".to_owned()),
            };
            let result = match result {
                // The store answered the replica's other calls meanwhile: the probe was late, the
                // store is up (see the module docs). Closed it stays; the next round comes soon.
                Err(e) if !b.is_open() && b.answered_since(started) => {
                    tracing::debug!(error = e, "the probe failed while the store answered other calls: not an outage");
                    Err(e)
                }
                Ok(()) => {
                    b.set(false, None);
                    Ok(())
                }
                Err(e) => {
                    crate::metrics::store_error();
                    b.set(true, Some(&e));
                    Err(e)
                }
            };
            let pause = if result.is_ok() { PROBE_EVERY } else { PROBE_EVERY_OPEN };
            // The next round, or sooner on a suspicion; the breaker is released between rounds so
            // that the task ends with it.
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = b.wake.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::{OnceLock, Weak};

    use super::*;

    /// What the test's probe does: fail while `down`; before failing, let another call through the
    /// breaker succeed while `busy` (a late probe on a replica whose store answers); count rounds.
    #[derive(Default)]
    struct Probe {
        down: AtomicBool,
        busy: AtomicBool,
        /// The other call completes at once, as a cache hit does (it never went to the store).
        at_once: AtomicBool,
        rounds: AtomicUsize,
        breaker: OnceLock<Weak<Breaker>>,
    }

    fn breaker(probe: &Arc<Probe>) -> Arc<Breaker> {
        let p = probe.clone();
        let b = Breaker::start_with(move || {
            let p = p.clone();
            async move {
                let breaker = p.breaker.get().and_then(Weak::upgrade);
                if p.busy.load(Ordering::SeqCst)
                    && let Some(b) = breaker
                {
                    // A call that waits, as one that goes to the store does (or not).
                    let at_once = p.at_once.load(Ordering::SeqCst);
                    b.guard(async move {
                        if !at_once {
                            tokio::task::yield_now().await;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                }
                p.rounds.fetch_add(1, Ordering::SeqCst);
                if p.down.load(Ordering::SeqCst) { Err("probe failed".to_owned()) } else { Ok(()) }
            }
        });
        probe.breaker.set(Arc::downgrade(&b)).expect("set once");
        b
    }

    /// Waits (at most a minute: a failure, never a figure) until `done`.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_failed_probe_opens_only_when_no_call_was_answered_meanwhile() {
        let probe = Arc::new(Probe::default());
        probe.down.store(true, Ordering::SeqCst);
        probe.busy.store(true, Ordering::SeqCst);
        let b = breaker(&probe);
        // Every probe fails, but the store answers another call during each: closed it stays.
        until("three probe rounds", || probe.rounds.load(Ordering::SeqCst) >= 3).await;
        assert!(!b.is_open());
        assert_eq!(b.outages(), 0);
        // Nothing answers any more: the next failed probe opens it, and guarded calls fail at once.
        probe.busy.store(false, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(60), b.opened()).await.expect("opened");
        assert!(matches!(b.guard(async { Ok(()) }).await, Err(ServerError::Unavailable(_))));
        // The probe succeeds again: closed, after one outage.
        probe.down.store(false, Ordering::SeqCst);
        until("closed again", || !b.is_open()).await;
        assert_eq!(b.outages(), 1);
    }

    #[tokio::test]
    async fn calls_answered_without_the_store_do_not_keep_it_closed() {
        let probe = Arc::new(Probe::default());
        probe.down.store(true, Ordering::SeqCst);
        probe.busy.store(true, Ordering::SeqCst);
        probe.at_once.store(true, Ordering::SeqCst);
        let b = breaker(&probe);
        tokio::time::timeout(Duration::from_secs(60), b.opened()).await.expect("opened");
        assert_eq!(b.outages(), 1);
    }
}
