//! The decision caches: an in-process tier (`moka`) in front of a Redis tier shared by all
//! replicas, with **zero staleness**: once a write has returned, no replica answers from a decision
//! made before it.
//!
//! # The design
//!
//! - **A change log in the store.** Every write transaction records the *scopes* it touched in
//!   `guichet_changes`, at its revision, in the same transaction (see `guichet_store::changes`):
//!   `user:<id>` (the user's row and all of its memberships, roles and grants), `acct:<id>` (the
//!   account's row, its custom roles, the delegations into it), `res:<id>` (a resource), or `*`.
//!   The scopes are derived where every write records its audit event, so no write can forget
//!   them.
//! - **A cache entry** is the answer (a [`guichet_domain::Answer`]: the API's message is built
//!   from it at the gRPC edge), the revision `S` its facts were read at (in the same
//!   snapshot as the facts), and the scopes it depends on ([`deps`]): `user:<subject>`,
//!   `acct:<a>` for every account `a` of the chain and every account a delegation into the chain
//!   comes from, and `res:<resource>` when the check names one. Decisions about an unknown account
//!   are not cached.
//! - **The key** is every input of the decision: subject, account, permission, resource (the
//!   SpiceDB and OpenFGA cache-key advisories came from keys that left one out). The revisions live
//!   in the *validated value* rather than in the key: a key holding the revision would need the
//!   current per-scope revision before the lookup, which is exactly what the change map below
//!   answers, and it would leave one dead entry per write per key; with the revision in the value
//!   one key holds the latest decision, and validation decides whether it may be used.
//! - **The change map** of each replica holds `applied` (every change up to it is known), a
//!   `floor`, and for each scope changed in `(floor, applied]` the latest revision that changed it.
//!   It is bounded: past [`MAX_SCOPES`] scopes it raises the floor to `applied` and forgets them.
//! - **Validity**: an entry `(S, deps)` may answer iff `S >= floor` and no scope of `deps` (nor
//!   `*`) changed after `S` — then it is the decision at `applied` too, since none of its facts
//!   changed in `(S, applied]`.
//! - **The fence query** returns, in one statement and so one snapshot, the store's latest
//!   revision `L` and every change after `applied`; applying it makes `applied >= L`. One query
//!   serves every check waiting at that moment (they are coalesced).
//! - **The fence window `W`** (`cache.fence_window_ms`, default 10 ms). A replica remembers when its
//!   latest applied fence query *started*, `t_f`. A check arriving at `t < t_f + W` answers from
//!   the caches at once; any other check waits for a fence query that starts after it arrived.
//!   While checks keep coming, a background task starts the next fence query shortly before the
//!   window closes (its *lead*: twice the recent cost of a fence query plus the timer's slack,
//!   at most `W / 2`), so a busy replica rarely waits for the store on a cache hit and runs about
//!   one fence query per window. When the refresh comes too late the window has closed and checks
//!   wait for a query: slower, never staler. In exchange, **every write waits `W` after
//!   its commit before it returns** (a commit wait). With `W = 0` every check waits for a fence
//!   query of its own and writes return at once.
//!
//! # Why it is never stale
//!
//! Let a write W commit at revision `R` at time `t_c` and return before a check C arrives at a
//! replica at time `t`. First, C's replica knows every change up to `R`:
//! - if C waited for a fence query, that query started after C arrived, so after W committed;
//! - if C answered within the window, its replica's latest fence query started at
//!   `t_f > t - W`; W returned after `t_c + W` (the commit wait) and before `t`, so
//!   `t_f > t_c`: that query too started after W committed.
//!
//! Either way the query read a latest revision `L >= R`; writes are serialised by the revision row,
//! so every revision up to `L` is committed and its change rows are in the same snapshot, and the
//! replica's map now holds every scope W touched at `R` (or its floor is `>= R`). Any entry C could
//! use was evaluated at some `S`: if `S >= R` it already saw W; if `S < R` and its facts include
//! something W changed, W touched one of its scopes at `R > S` (or `floor > S`), so it is invalid.
//! Hence C never answers from a decision made before W. The window compares durations measured by
//! two processes' monotonic clocks (the writer's wait, the reader's age of its query), never their
//! wall clocks; it needs the same `W` on every replica (a replica with a larger window than the
//! writers' could answer from before a write). Writes go through the servers' RPCs, which all wait;
//! `guichet demo` seeds before any replica serves. Nothing here depends on Redis pub/sub: a lost
//! message only means the fence fetches the change itself. Redis entries are validated exactly like
//! in-process ones, so an entry another replica wrote before W is refused just the same. Change
//! rows are pruned only far behind the latest revision, and a replica that is further behind than
//! what is kept starts over (raises its floor).
//!
//! # Expiry: time changes answers without a write
//!
//! A membership or a delegation may carry `expires_at`; it grants strictly before that instant and
//! never at or after it. No write happens at the instant (the sweeper's `*.expired` event comes
//! later, and nothing may wait for it), so the argument above — "a cached answer is the answer at
//! `applied`, since no fact it read changed" — no longer covers it: the facts did not change, the
//! instant did. Hence the second condition of validity: every entry carries `valid_until`, the
//! decision's [`guichet_domain::Decision::valid_until`] — the earliest expiry after the instant of
//! its evaluation among the grants of the paths that make the answer (the live paths, and those
//! that would be live if they reached the resource). An entry is used at the instant `now` only if
//! `now < valid_until`, by both tiers alike (the Redis value stores the instant, layout `d4:`, and
//! its time to live is cut to it, a cleanup bound only). Why that is enough: the decision is a
//! function of the facts and the instant; with the facts unchanged (the argument above), it can
//! change with the instant only when some grant crosses its expiry. A path refused for another
//! reason stays refused when it expires (its listed outcome changes, not the answer: the caches
//! hold the answer, ExplainAccess never reads them); an expiry never adds a path, so a deny
//! cannot turn into an allow; and every path whose expiry could change the allowance, the level,
//! the reason or the granting path is a live or would-be-live one, whose expiry bounds
//! `valid_until`. So at any `now < valid_until` the entry is the decision at `now` too. Every
//! replica compares with its own clock: replicas whose clocks differ by `d` may disagree for `d`
//! around an expiry (the clocks are the servers', as for every timestamp guichet writes), and a
//! check decided at `now` and answered a moment later is answered as of `now`.
//!
//! # Why the scopes are enough
//!
//! The step "if its facts include something W changed, W touched one of its scopes" holds for
//! each fact a decision about `(subject s, account x, resource r)` reads (`guichet_store::facts`),
//! given which writes change it and what they record (`guichet_store::changes::scopes_of`):
//!
//! | fact read | changed only by | recorded | in the entry's deps because |
//! |---|---|---|---|
//! | the row of `s` (exists, status) | `user.*` on `s`, an acceptance creating or claiming `s` | `user:s` | always |
//! | the memberships of `s` (any account), their roles and resource grants | `membership.*` of a membership of `s` (created, roles, status, restriction, approved, rejected, deleted), an acceptance for `s` | `user:s` (the member, read from the event's snapshot; `acct:<account>` if none) | always |
//! | the rows of the chain of `x` (exists, parent, status, modules) | `account.*` on that account | `acct:a` | `a` is in the chain |
//! | the custom roles named by those memberships and by the delegations | `role.*` in the account defining them: an account of the chain or a delegation's source | `acct:a` | `a` is in the chain or a source |
//! | the delegations into the chain (and their role) | `delegation.*` into that account | `acct:<to>` | `to` is in the chain |
//! | the rows of the delegations' source accounts | `account.*` on them | `acct:<from>` | every source is a dep |
//! | the resource `r` (exists, account) and which memberships reach it | `resource.*` on `r` (a deletion removes its grants too); a grant change is a `membership.*` of `s` | `res:r`, `user:s` | `r` named; always |
//!
//! Invitations and contacts are read by no decision (an acceptance's membership and user come with
//! `user:<member>`). A write nothing can place records `*`. What a write does *not* record is what
//! keeps other decisions cached: a change to one member of a customer invalidates that member's
//! decisions only — not the customer's other members', nor the sibling customers' nor the
//! partner's — while a change to an account's status, modules, roles or delegations reaches the
//! decisions of the account and all its descendants (their chains hold it), and nothing outside.
//! The proof is a model test over random writes, `cache_matches_fresh_evaluation` in
//! `app::invalidation_tests`, which compares every cached answer with a fresh evaluation.
//!
//! During a rolling upgrade a replica of the previous build (decisions depending on whole trees,
//! Redis entries under `d:`) may run beside this one: every write with an account also records
//! `tree:<root>` for it, this build takes a `tree:` scope written without the narrow-scope marker
//! as `*`, and the two builds never read each other's Redis entries (`d4:` here, with the
//! instant an answer stops holding; `d3:` the same without it; `d2:` held the same scopes with the
//! answer as a protobuf message, `d:` whole trees).
//!
//! # Tiers, pub/sub and Redis failures
//!
//! Writers publish `(revision, scopes)` on `<prefix>changes` while they write; every replica marks
//! them in its map at once (a mark only ever invalidates more; it never advances `applied`, so a
//! message for a write that then rolls back is harmless). Every Redis call has a bounded timeout;
//! a failing or slow Redis makes the answer come from the store, logs a warning, raises the
//! `degraded` flag and counts in [`Stats::redis_errors`]; the health stays SERVING. The connection
//! manager reconnects and the subscriber resubscribes by themselves; what was missed meanwhile is
//! covered by the fence. No Redis URL: the in-process tier only.
//!
//! `fully_consistent` reads the store and bypasses both tiers (its answer then refreshes them);
//! `at_least_as_fresh` uses only entries evaluated at or after the token; every mode keeps the
//! fence.
//!
//! # When the store is down: fail fast, then degrade on purpose
//!
//! Every store call of the check path (the fence query, the facts of a miss, ExplainAccess, the
//! token check) goes through the store [`breaker`]: while the store is known to be unreachable it
//! fails at once with `UNAVAILABLE`, and a call already waiting (for a connection the pool cannot
//! open) is released when it opens, so no check waits for the pool's acquire timeout. The fence
//! runner's own query is dropped too, so that the first check after the store returns does not
//! queue behind it; the checks waiting for that query are released by its UNAVAILABLE (they do
//! not watch the breaker themselves: one watch per fence query, not one per waiting check).
//!
//! With `cache.serve_stale_when_store_down_ms = B > 0`, a check that cannot reach the store is
//! answered from a cache tier when (a) this replica confirmed what it knows less than `B` ago —
//! the *staleness*, measured from the start of its latest applied fence query, the moment after
//! which it may have missed a write; (b) the check is `minimize_latency`, or `at_least_as_fresh`
//! with a token at or below the revision it confirmed (`fully_consistent` never); (c) an entry
//! valid at that revision exists (validated exactly as above, pub/sub marks included). The answer
//! says `CONSISTENCY_GIVEN_STALE` and its staleness, counts in `guichet_stale_answers_total`, and
//! the first of each outage is logged. This is the one place where the zero-staleness promise is
//! relaxed, by the operator, for a bounded time, and every such answer says so: a write that
//! returned more than `B` before the check is never missing from an answer; a write made while
//! the store is down cannot return at all.
//!
//! One file on purpose: the design argument above and the code that must keep it true (the fence,
//! the key, the entry's dependencies, the breaker's use) are reviewed together; the tiers, the
//! change map and the breaker are in files of their own. A fifth of it is its unit tests.

pub mod breaker;
mod changes;
mod redis_tier;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use guichet_domain::{AccessRequest, Answer, Facts, Revision, Timestamp};
use guichet_store::Store;
use guichet_store::changes::{account_scope, resource_scope, user_scope};
use tokio::sync::{Notify, watch};

pub use changes::ChangeMap;

use crate::config::CacheConfig;
use crate::error::ServerError;

/// Past this many tracked scopes, the change map starts over from a higher floor.
pub const MAX_SCOPES: usize = 100_000;

/// At most this many change rows are fetched by one fence query.
const FETCH_LIMIT: u64 = 10_000;

/// A replica with no check for this long stops refreshing its fence in the background.
const IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// What the background refresh adds to the cost of a fence query when it decides how early to
/// start the next one: tokio's timer wakes up to a millisecond late, and the runtime may be busy.
const TIMER_SLACK_NANOS: u64 = 2_000_000;

/// A cached decision: the answer, the revision its facts were read at, the scopes they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The revision of the facts.
    pub revision: Revision,
    /// The scopes the facts were read from.
    pub deps: Vec<String>,
    /// The answer (its `revision` is `revision`, its tier [`CacheTier::None`](guichet_domain::CacheTier),
    /// as requested).
    pub answer: Answer,
    /// The answer holds strictly before this instant ([`guichet_domain::Decision::valid_until`]:
    /// the earliest expiry of a grant it depends on); `None`: no expiry bounds it.
    pub valid_until: Option<Timestamp>,
}

impl Entry {
    /// The entry for a decision over `facts` read at `revision`, valid strictly before
    /// `valid_until`; `None` when it must not be cached (the account does not exist: no tree to
    /// depend on).
    pub fn new(
        facts: &Facts,
        request: &AccessRequest,
        revision: Revision,
        answer: Answer,
        valid_until: Option<Timestamp>,
    ) -> Option<Self> {
        if facts.chain.is_empty() {
            return None;
        }
        Some(Self { revision, deps: deps(facts, request), answer, valid_until })
    }

    /// Whether the answer still holds at `now` (no grant it depends on has expired).
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }

    fn weight(&self) -> u32 {
        let path = self.answer.granted_by.as_ref().map_or(0, |p| 48 + path_len(p));
        let n = 96 + self.deps.iter().map(|d| 24 + d.len()).sum::<usize>() + path;
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// The bytes of a path's ids.
fn path_len(p: &guichet_domain::Path) -> usize {
    use guichet_domain::Path;
    match p {
        Path::Direct { membership, account, role } => {
            membership.as_str().len() + account.as_str().len() + role.as_str().len()
        }
        Path::Inherited { membership, ancestor, role } => {
            membership.as_str().len() + ancestor.as_str().len() + role.as_str().len()
        }
        Path::Delegated { delegation, from_account, membership, into, role } => {
            delegation.as_str().len()
                + from_account.as_str().len()
                + membership.as_str().len()
                + into.as_str().len()
                + role.as_str().len()
        }
    }
}

/// The scopes a decision over `facts` depends on: the subject (its row and every membership of
/// it), every account of the chain (row, custom roles, delegations into it), every account a
/// delegation into the chain comes from, and the resource asked about (see the module docs).
pub fn deps(facts: &Facts, request: &AccessRequest) -> Vec<String> {
    let mut deps = Vec::with_capacity(facts.chain.len() + facts.delegations.len() + 2);
    deps.push(user_scope(request.subject.as_str()));
    for a in &facts.chain {
        deps.push(account_scope(a.id.as_str()));
    }
    for d in &facts.delegations {
        let from = account_scope(d.from_account.id.as_str());
        if !deps.contains(&from) {
            deps.push(from);
        }
    }
    if let Some(r) = &request.resource {
        deps.push(resource_scope(r.as_str()));
    }
    deps
}

/// The cache key: every input of the decision, `subject␟account␟feature:level␟resource` (unit
/// separators; the resource empty when there is none). Replicas of different builds share the
/// Redis tier, so the layout is fixed. Built by hand: this runs on every check, and `format!`
/// spent about as much as the rest of the key lookup.
pub fn key(request: &AccessRequest) -> String {
    const SEP: char = '\u{1f}';
    let subject = request.subject.as_str();
    let account = request.account.as_str();
    let feature = request.permission.feature.as_str();
    let level = request.permission.level.as_str();
    let resource = request.resource.as_ref().map_or("", |r| r.as_str());
    let mut key =
        String::with_capacity(subject.len() + account.len() + feature.len() + level.len() + resource.len() + 4);
    for (part, end) in [(subject, SEP), (account, SEP), (feature, ':'), (level, SEP)] {
        key.push_str(part);
        key.push(end);
    }
    key.push_str(resource);
    key
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// This replica's memory.
    Local,
    /// Redis.
    Shared,
}

/// Counters of the caches.
#[derive(Debug, Default)]
pub struct Stats {
    /// Answers from the in-process tier.
    pub local_hits: AtomicU64,
    /// Answers from Redis.
    pub shared_hits: AtomicU64,
    /// Answers evaluated from the store.
    pub misses: AtomicU64,
    /// Redis calls that failed or timed out.
    pub redis_errors: AtomicU64,
    /// Fence queries run.
    pub fences: AtomicU64,
}

#[derive(Debug, Default)]
struct FenceState {
    pending: bool,
    started: u64,
}

/// The decision caches of one replica.
pub struct DecisionCache {
    store: Store,
    map: Mutex<ChangeMap>,
    fence_state: Mutex<FenceState>,
    fence_wake: Notify,
    fence_done: watch::Sender<(u64, Result<Revision, String>)>,
    local: Option<moka::future::Cache<String, Arc<Entry>>>,
    redis: Option<redis_tier::RedisTier>,
    stats: Stats,
    degraded: AtomicBool,
    /// The fence window (see the module docs).
    window: std::time::Duration,
    /// The origin of the two instants below.
    epoch: std::time::Instant,
    /// Nanoseconds after `epoch` until which the caches answer without a fence query: the start of
    /// the latest applied fence query plus the window (0: a fence is due).
    fresh_until: AtomicU64,
    /// Nanoseconds after `epoch` of the latest check.
    last_check: AtomicU64,
    /// The recent cost of a fence query in nanoseconds: the slowest of the latest ones, decaying
    /// by an eighth at each query.
    fence_cost: AtomicU64,
    /// Nanoseconds after `epoch` when the latest applied fence query started: the moment this
    /// replica last confirmed it knew every change.
    confirmed: AtomicU64,
    /// The store breaker (see [`breaker`]).
    breaker: Arc<breaker::Breaker>,
    /// `cache.serve_stale_when_store_down_ms`.
    serve_stale: std::time::Duration,
    /// The breaker's outage count when a stale answer was last logged (one log line per outage).
    stale_logged: AtomicU64,
}

impl std::fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache").field("redis", &self.redis.is_some()).finish_non_exhaustive()
    }
}

impl DecisionCache {
    /// Starts the caches over `store`: reads the current revision (the floor), connects to Redis
    /// lazily when a URL is given, and spawns the fence runner, the publisher and the subscriber.
    pub async fn start(store: Store, config: &CacheConfig, redis_url: Option<&str>) -> Result<Arc<Self>, ServerError> {
        let start = store.revision().await?;
        // Bounded by weight: an entry weighs its approximate bytes, and at least
        // max_bytes / capacity. The total weight stays under max_bytes, so the bytes are bounded,
        // and so is the number of entries (at most max_bytes / (max_bytes / capacity) = capacity).
        let local = (config.in_process_capacity > 0).then(|| {
            let bytes = config.in_process_max_bytes.max(64);
            let least = u32::try_from((bytes / config.in_process_capacity).max(64)).unwrap_or(u32::MAX);
            moka::future::Cache::builder()
                .max_capacity(bytes)
                .weigher(move |_k: &String, v: &Arc<Entry>| v.weight().max(least))
                .build()
        });
        let redis = match redis_url {
            Some(url) => Some(redis_tier::RedisTier::new(url, config)?),
            None => None,
        };
        let (fence_done, _) = watch::channel((0, Ok(start)));
        let cache = Arc::new(Self {
            store: store.clone(),
            map: Mutex::new(ChangeMap::new(start, MAX_SCOPES)),
            fence_state: Mutex::new(FenceState::default()),
            fence_wake: Notify::new(),
            fence_done,
            local,
            redis,
            stats: Stats::default(),
            degraded: AtomicBool::new(false),
            window: std::time::Duration::from_millis(config.fence_window_ms),
            epoch: std::time::Instant::now(),
            fresh_until: AtomicU64::new(0),
            last_check: AtomicU64::new(0),
            fence_cost: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            breaker: breaker::Breaker::start(store.clone()),
            serve_stale: std::time::Duration::from_millis(config.serve_stale_when_store_down_ms),
            stale_logged: AtomicU64::new(0),
        });
        tokio::spawn(Self::run_fence(Arc::downgrade(&cache)));
        if !cache.window.is_zero() {
            tokio::spawn(Self::refresh_fence(Arc::downgrade(&cache)));
        }
        if let Some(r) = &cache.redis
            && config.pubsub
        {
            let publisher = r.spawn_publisher(Arc::downgrade(&cache));
            store.set_change_listener(Arc::new(move |revision, scopes| {
                let _ = publisher.send((revision, scopes.to_vec()));
            }));
            r.spawn_subscriber(Arc::downgrade(&cache));
        }
        Ok(cache)
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether Redis failed on its latest call.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub(crate) fn redis_failed(&self, what: &str, error: &str) {
        self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
        crate::metrics::redis_error();
        if !self.degraded.swap(true, Ordering::Relaxed) {
            crate::metrics::set_redis_degraded(true);
            tracing::warn!(what, error, "redis is unavailable: answering from the store (degraded)");
        }
    }

    pub(crate) fn redis_ok(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            crate::metrics::set_redis_degraded(false);
            tracing::info!("redis is back: the shared decision cache is in use again");
        }
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, ChangeMap> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn mark(&self, revision: Revision, scopes: &[String]) {
        self.lock_map().mark(revision, scopes);
    }

    async fn run_fence(cache: std::sync::Weak<Self>) {
        loop {
            let Some(c) = cache.upgrade() else { return };
            // Wait for a check, but let the cache go when the application drops it.
            tokio::select! {
                () = c.fence_wake.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
            }
            drop(c);
            loop {
                let Some(c) = cache.upgrade() else { return };
                let id = {
                    let mut st = c.fence_state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if !st.pending {
                        break;
                    }
                    st.pending = false;
                    st.started += 1;
                    st.started
                };
                c.stats.fences.fetch_add(1, Ordering::Relaxed);
                crate::metrics::fence_query();
                let applied = c.lock_map().applied();
                // Taken before the query is sent: the query starts no earlier than this.
                let began = c.nanos();
                // Guarded: a query stuck waiting for a connection is dropped once the breaker
                // opens, so the runner is free again the moment the store returns.
                let query = async { c.store.changes_after(applied, FETCH_LIMIT).await.map_err(ServerError::from) };
                let result = match c.breaker.guard(query).await {
                    Ok(ch) => {
                        let mut map = c.lock_map();
                        map.apply(ch.latest, &ch.changes, ch.truncated);
                        c.fresh_until.fetch_max(began.saturating_add(c.window_nanos()), Ordering::AcqRel);
                        c.confirmed.fetch_max(began, Ordering::AcqRel);
                        let took = c.nanos().saturating_sub(began);
                        let _ = c
                            .fence_cost
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| Some(took.max(old - old / 8)));
                        Ok(map.applied())
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _previous = c.fence_done.send_replace((id, result));
            }
        }
    }

    /// While checks keep coming, starts the next fence query one lead before the window closes, so
    /// that they find it open; about one query per window.
    async fn refresh_fence(cache: std::sync::Weak<Self>) {
        let idle = u64::try_from(IDLE.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let Some(c) = cache.upgrade() else { return };
            let now = c.nanos();
            let due = c.fresh_until.load(Ordering::Acquire).saturating_sub(c.lead());
            if due > now {
                let wait = std::time::Duration::from_nanos((due - now).min(c.window_nanos()));
                drop(c);
                tokio::time::sleep(wait).await;
                continue;
            }
            // A query that starts now, or the one a check started; once it is applied the next one
            // is due a window later. No check yet or for a while, or a failing store: pause.
            let last = c.last_check.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < idle && c.wait_fence(true).await.is_ok() {
                continue;
            }
            let pause = c.window / 2;
            drop(c);
            tokio::time::sleep(pause).await;
        }
    }

    /// How long before the window closes the background refresh starts the next fence query.
    fn lead(&self) -> u64 {
        let cost = self.fence_cost.load(Ordering::Relaxed);
        cost.saturating_mul(2).saturating_add(TIMER_SLACK_NANOS).min(self.window_nanos() / 2)
    }

    fn window_nanos(&self) -> u64 {
        u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX)
    }

    fn nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The fence window.
    pub fn window(&self) -> std::time::Duration {
        self.window
    }

    /// The store breaker.
    pub fn breaker(&self) -> &breaker::Breaker {
        &self.breaker
    }

    /// `cache.serve_stale_when_store_down_ms` (zero: never).
    pub fn serve_stale_bound(&self) -> std::time::Duration {
        self.serve_stale
    }

    /// How long ago this replica last confirmed it knew every change (the start of its latest
    /// applied fence query, or of the cache itself).
    pub fn confirmed_age(&self) -> std::time::Duration {
        let at = self.confirmed.load(Ordering::Acquire);
        std::time::Duration::from_nanos(self.nanos().saturating_sub(at))
    }

    /// Counts `n` answers served stale, and logs the first of each outage.
    pub(crate) fn served_stale(&self, n: u64, staleness: std::time::Duration) {
        crate::metrics::stale_answers(n);
        let outage = self.breaker.outages();
        if self.stale_logged.swap(outage, Ordering::Relaxed) != outage {
            tracing::warn!(
                staleness_ms = staleness.as_millis(),
                bound_ms = self.serve_stale.as_millis(),
                "the store is unreachable: serving cached decisions marked stale (cache.serve_stale_when_store_down_ms)"
            );
        }
    }

    /// Whether a check arriving `at` nanoseconds after the epoch may answer without a fence query.
    fn open_at(&self, at: u64) -> bool {
        at < self.fresh_until.load(Ordering::Acquire)
    }

    /// Makes this replica know every change committed before the call: at once when the fence
    /// window is open, else by waiting for a fence query (see the module docs). Returns the
    /// revision up to which it knows them.
    pub async fn fresh(&self) -> Result<Revision, ServerError> {
        let now = self.nanos();
        self.last_check.store(now, Ordering::Relaxed);
        if self.open_at(now) {
            return Ok(self.lock_map().applied());
        }
        self.fence().await
    }

    /// The commit wait of a write: every write waits the fence window after its commit before it
    /// returns, so that the window of every replica has closed on the state before it.
    ///
    /// tokio's timer fires on whole milliseconds, late by up to one (it rounds the deadline up to
    /// its next tick, then wakes when its driver next runs): a plain `sleep(W)` took 11.1 ms on
    /// average for W = 10 ms. So the wait sleeps on the timer until a millisecond before the
    /// deadline, then the rest on a thread of the blocking pool, whose sleep ends within tens of
    /// microseconds of it; never less than `W` either way.
    pub async fn commit_wait(&self) {
        if self.window.is_zero() {
            return;
        }
        let deadline = std::time::Instant::now() + self.window;
        let tick = std::time::Duration::from_millis(1);
        if let Some(coarse) = self.window.checked_sub(tick).filter(|c| !c.is_zero()) {
            tokio::time::sleep(coarse).await;
        }
        let rest = deadline.saturating_duration_since(std::time::Instant::now());
        if !rest.is_zero() && tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await.is_err() {
            // The blocking pool is shutting down: wait on the timer instead.
            tokio::time::sleep(deadline.saturating_duration_since(std::time::Instant::now())).await;
        }
    }

    /// The revision up to which this replica knows every change.
    pub fn applied(&self) -> Revision {
        self.lock_map().applied()
    }

    /// Asks the fence runner for a query starting now; returns the id of the query to wait for.
    /// With `join`, a query already in flight (started before the call) will do.
    fn request_fence(&self, join: bool) -> u64 {
        let target = {
            let mut st = self.fence_state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if join && !st.pending && st.started > self.fence_done.borrow().0 {
                return st.started;
            }
            st.pending = true;
            st.started + 1
        };
        self.fence_wake.notify_one();
        target
    }

    /// Waits for a fence query that starts after the call: returns the revision up to which this
    /// replica then knows every change.
    pub async fn fence(&self) -> Result<Revision, ServerError> {
        self.wait_fence(false).await
    }

    async fn wait_fence(&self, join: bool) -> Result<Revision, ServerError> {
        let mut rx = self.fence_done.subscribe();
        let target = self.request_fence(join);
        let done = rx
            .wait_for(|(id, _)| *id >= target)
            .await
            .map_err(|_| ServerError::Unavailable("the cache fence stopped".to_owned()))?;
        match &done.1 {
            Ok(r) => Ok(*r),
            Err(e) => Err(ServerError::Unavailable(e.clone())),
        }
    }

    fn valid(&self, entry: &Entry, min: Option<Revision>, now: Timestamp) -> bool {
        entry.live_at(now)
            && min.is_none_or(|m| entry.revision >= m)
            && self.lock_map().is_valid(entry.revision, &entry.deps)
    }

    /// A valid entry for `key` at the instant `now`, from the in-process tier, else Redis. Call
    /// after [`Self::fence`].
    pub async fn lookup(&self, key: &str, min: Option<Revision>, now: Timestamp) -> Option<(Arc<Entry>, Tier)> {
        if let Some(local) = &self.local {
            if let Some(e) = local.get(key).await {
                if self.valid(&e, min, now) {
                    self.stats.local_hits.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::cache_hit("local");
                    return Some((e, Tier::Local));
                }
                if !self.valid(&e, None, now) {
                    local.invalidate(key).await;
                }
            }
            crate::metrics::cache_miss("local");
        }
        if let Some(redis) = &self.redis {
            if let Some(e) = redis.get(self, key).await
                && self.valid(&e, min, now)
            {
                let e = Arc::new(e);
                if let Some(local) = &self.local {
                    local.insert(key.to_owned(), e.clone()).await;
                }
                self.stats.shared_hits.fetch_add(1, Ordering::Relaxed);
                crate::metrics::cache_hit("shared");
                return Some((e, Tier::Shared));
            }
            crate::metrics::cache_miss("shared");
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Keeps a fresh decision, evaluated at `now`, in both tiers (Redis in the background). An
    /// answer that no longer holds at `now` is not kept.
    pub async fn insert(self: &Arc<Self>, key: String, entry: Entry, now: Timestamp) {
        if !entry.live_at(now) {
            return;
        }
        let entry = Arc::new(entry);
        if let Some(redis) = &self.redis {
            let cache = self.clone();
            let (k, e) = (key.clone(), entry.clone());
            let redis = redis.clone();
            tokio::spawn(async move { redis.set(&cache, &k, &e, now).await });
        }
        if let Some(local) = &self.local {
            local.insert(key, entry).await;
        }
    }
}

#[cfg(test)]
mod tests {

    use guichet_domain::{Catalog, Email, NewUser, Timestamp, UserId};
    use guichet_store::{Audit, StoreOptions};

    use super::*;

    /// The instant of the tests' lookups.
    const T0: Timestamp = Timestamp::from_millis(1_795_000_000_000);

    #[test]
    fn the_key_holds_every_input_of_the_decision_in_a_fixed_layout() {
        let request = |resource: Option<&str>| AccessRequest {
            subject: UserId::parse("u1566").unwrap(),
            account: guichet_domain::AccountId::parse("c1566").unwrap(),
            permission: guichet_domain::Permission::parse("billing:full").unwrap(),
            resource: resource.map(|r| guichet_domain::ResourceId::parse(r).unwrap()),
        };
        assert_eq!(key(&request(None)), "u1566\u{1f}c1566\u{1f}billing:full\u{1f}");
        assert_eq!(key(&request(Some("f7"))), "u1566\u{1f}c1566\u{1f}billing:full\u{1f}f7");
    }

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&StoreOptions::new(url), Arc::new(Catalog::builtin().unwrap())).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    async fn create_user(store: &Store, id: &str) -> Revision {
        let cmd = NewUser {
            id: Some(UserId::parse(id).unwrap()),
            email: Email::parse(&format!("{id}@exemple.fr")).unwrap(),
            given_name: id.to_owned(),
            family_name: String::new(),
            phone: None,
            idp_subject: None,
        };
        store.create_user(&cmd, &Audit::system(Timestamp::from_millis(0))).await.unwrap().1
    }

    fn answer(revision: Revision, granted_by: Option<guichet_domain::Path>) -> Answer {
        Answer {
            allowed: true,
            required: guichet_domain::Level::View,
            effective: guichet_domain::Level::Full,
            reason: guichet_domain::Reason::Allowed,
            granted_by,
            revision,
            tier: guichet_domain::CacheTier::None,
            freshness: guichet_domain::Freshness::AsRequested,
        }
    }

    fn entry(revision: Revision, deps: &[&str]) -> Entry {
        Entry {
            revision,
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            answer: answer(revision, None),
            valid_until: None,
        }
    }

    #[tokio::test]
    async fn the_in_process_tier_keeps_as_many_entries_as_its_capacity_and_no_more() {
        let (store, _dir) = store().await;
        let config = CacheConfig { in_process_capacity: 2_000, ..CacheConfig::default() };
        let cache = DecisionCache::start(store, &config, None).await.unwrap();
        let local = cache.local.clone().unwrap();
        let big = |i: u32| {
            let role = format!("account_manager_of_boulangerie_martin_{i:06}");
            let path = guichet_domain::Path::Direct {
                membership: guichet_domain::MembershipId::parse(&format!("membership-{i:06}")).unwrap(),
                account: guichet_domain::AccountId::parse(&format!("account-{i:06}")).unwrap(),
                role: guichet_domain::RoleName::parse(&role).unwrap(),
            };
            Entry {
                revision: Revision::ZERO,
                deps: vec![format!("tree:account-{i:06}"), format!("user:user-{i:06}")],
                answer: answer(Revision::ZERO, Some(path)),
                valid_until: None,
            }
        };
        for i in 0..2_000 {
            cache.insert(format!("k{i}"), big(i), T0).await;
        }
        local.run_pending_tasks().await;
        assert_eq!(local.entry_count(), 2_000, "every entry within the capacity is kept, whatever its size");
        for i in 2_000..4_000 {
            cache.insert(format!("k{i}"), big(i), T0).await;
        }
        local.run_pending_tasks().await;
        assert!(local.entry_count() <= 2_000, "{} entries over a capacity of 2000", local.entry_count());
        assert!(local.weighted_size() <= config.in_process_max_bytes);
    }

    #[tokio::test]
    async fn checks_arriving_together_share_one_fence_query() {
        let (store, _dir) = store().await;
        let cache = DecisionCache::start(store, &CacheConfig::default(), None).await.unwrap();
        let results = futures::future::join_all((0..50).map(|_| cache.fence())).await;
        assert!(results.iter().all(Result::is_ok));
        let fences = cache.stats().fences.load(Ordering::Relaxed);
        assert!((1..=2).contains(&fences), "{fences} fence queries for 50 checks");
        // A check arriving later waits for a query of its own.
        cache.fence().await.unwrap();
        assert!(cache.stats().fences.load(Ordering::Relaxed) > fences);
    }

    #[tokio::test]
    async fn within_the_fence_window_checks_need_no_query_and_writes_wait_it_out() {
        let (store, _dir) = store().await;
        let config = CacheConfig { fence_window_ms: 200, ..CacheConfig::default() };
        let cache = DecisionCache::start(store, &config, None).await.unwrap();
        // Nothing known yet: the first check waits for a fence query.
        cache.fresh().await.unwrap();
        let fences = cache.stats().fences.load(Ordering::Relaxed);
        assert_eq!(fences, 1);
        for _ in 0..100 {
            cache.fresh().await.unwrap();
        }
        assert_eq!(cache.stats().fences.load(Ordering::Relaxed), fences, "checks within the window asked the store");
        // The window opens from the start of the query, and closes one window after it.
        let before = cache.nanos();
        cache.fence().await.unwrap();
        let after = cache.nanos();
        let window = u64::try_from(cache.window().as_nanos()).unwrap();
        assert!(cache.open_at(before));
        assert!(!cache.open_at(after + window));
        let started = std::time::Instant::now();
        cache.commit_wait().await;
        assert!(started.elapsed() >= cache.window());
    }

    /// The commit wait ends on the timer and then on a blocking thread: whatever the window, and
    /// however late either wakes, it never returns before the window has passed.
    #[tokio::test]
    async fn the_commit_wait_never_ends_before_the_window() {
        for ms in [1, 2, 3, 7, 10] {
            let (store, _dir) = store().await;
            let config = CacheConfig { fence_window_ms: ms, ..CacheConfig::default() };
            let cache = DecisionCache::start(store, &config, None).await.unwrap();
            for _ in 0..20 {
                let started = std::time::Instant::now();
                cache.commit_wait().await;
                let waited = started.elapsed();
                assert!(waited >= cache.window(), "waited {waited:?} for a window of {ms} ms");
            }
        }
    }

    #[tokio::test]
    async fn a_busy_replica_refreshes_its_fence_about_once_a_window() {
        let (store, _dir) = store().await;
        let config = CacheConfig { fence_window_ms: 100, ..CacheConfig::default() };
        let cache = DecisionCache::start(store, &config, None).await.unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(1_000) {
            cache.fresh().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let elapsed = started.elapsed().as_millis();
        let fences = u128::from(cache.stats().fences.load(Ordering::Relaxed));
        // The refresh starts a query shortly before each window closes (a refresh every half
        // window would make twice as many); a late one only makes fewer, and checks then ask.
        assert!(fences >= 2, "{fences} fence queries in {elapsed} ms of checks");
        assert!(fences * 70 <= elapsed + 200, "{fences} fence queries in {elapsed} ms: more than one a window");
        assert!(cache.lead() < cache.window_nanos() / 2, "the lead is the cost of a query, not half the window");
    }

    #[tokio::test]
    async fn without_a_window_every_check_waits_for_a_query_of_its_own() {
        let (store, _dir) = store().await;
        let config = CacheConfig { fence_window_ms: 0, ..CacheConfig::default() };
        let cache = DecisionCache::start(store, &config, None).await.unwrap();
        for i in 1..=5 {
            cache.fresh().await.unwrap();
            assert_eq!(cache.stats().fences.load(Ordering::Relaxed), i);
        }
        assert!(!cache.open_at(cache.nanos()));
    }

    #[tokio::test]
    async fn after_a_write_the_fence_refuses_older_entries_of_its_scopes_only() {
        let (store, _dir) = store().await;
        let cache = DecisionCache::start(store.clone(), &CacheConfig::default(), None).await.unwrap();
        let r0 = store.revision().await.unwrap();
        cache.insert("k-u".to_owned(), entry(r0, &["tree:p", "user:u"]), T0).await;
        cache.insert("k-v".to_owned(), entry(r0, &["tree:p", "user:v"]), T0).await;
        cache.fence().await.unwrap();
        assert_eq!(cache.lookup("k-u", None, T0).await.map(|(_, t)| t), Some(Tier::Local));
        // No pub/sub here: only the fence learns of the write.
        let r1 = create_user(&store, "u").await;
        let applied = cache.fence().await.unwrap();
        assert!(applied >= r1);
        assert!(cache.lookup("k-u", None, T0).await.is_none(), "a decision made before the write was served");
        assert_eq!(cache.lookup("k-v", None, T0).await.map(|(_, t)| t), Some(Tier::Local));
        // at_least_as_fresh: an entry older than the token is not used.
        assert!(cache.lookup("k-v", Some(r1), T0).await.is_none());
    }

    #[tokio::test]
    async fn an_entry_is_never_used_at_or_after_the_earliest_expiry_it_depends_on() {
        let (store, _dir) = store().await;
        let cache = DecisionCache::start(store.clone(), &CacheConfig::default(), None).await.unwrap();
        let r0 = store.revision().await.unwrap();
        let until = Timestamp::from_millis(T0.as_millis() + 60_000);
        let timed = Entry { valid_until: Some(until), ..entry(r0, &["user:u"]) };
        cache.insert("k".to_owned(), timed.clone(), T0).await;
        cache.fence().await.unwrap();
        assert!(cache.lookup("k", None, T0).await.is_some());
        assert!(cache.lookup("k", None, Timestamp::from_millis(until.as_millis() - 1)).await.is_some());
        assert!(cache.lookup("k", None, until).await.is_none(), "an answer outlived a grant's expiry");
        assert!(cache.lookup("k", None, T0).await.is_none(), "the expired entry was dropped");
        // An answer that no longer holds is not kept at all.
        cache.insert("k2".to_owned(), timed, until).await;
        assert!(cache.lookup("k2", None, T0).await.is_none());
    }
}
