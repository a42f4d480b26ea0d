//! Prometheus metrics, served as text by the admin HTTP server (`/metrics`).
//!
//! One registry per process, or per runtime for servers built with
//! [`ServerBuilder::own_metrics`](crate::ServerBuilder::own_metrics) (the in-process test servers,
//! many of which share one test process): a [`RuntimeMetrics`] guard gives the runtime it is taken
//! on a registry of its own, which every recording and [`render`] made on that runtime then use;
//! the servers of one runtime share it, as those of one process share the process's. The recording functions are cheap (an atomic add on a labelled
//! child) and never fail, so any module can call them: the RPC layer records requests and their
//! latency, the access handlers record decisions, the cache records hits and misses per tier
//! ([`cache_hit`], [`cache_miss`]), the error mapping records store errors. Pool gauges are read from
//! the store when scraped.
//!
//! Label values are bounded by the API, never by what clients send: the `rpc` label is the name of
//! an RPC guichet serves (its own, health's and reflection's, read from the descriptor sets that
//! reflection serves, see [`rpc_label`]) or `unknown` for any other path, refused or not, so that
//! calls to made-up paths cannot add series.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `guichet_rpc_requests_total` | counter | `rpc` (`guichet.v1.AccessService/CheckAccess`, or `unknown`), `code` (`OK`, `INVALID_ARGUMENT`, …) |
//! | `guichet_rpc_duration_seconds` | histogram | `rpc`, `code` |
//! | `guichet_rpc_in_flight` | gauge | — |
//! | `guichet_decisions_total` | counter | `allowed` (`true`/`false`) |
//! | `guichet_cache_requests_total` | counter | `tier` (`local`, `shared`), `result` (`hit`, `miss`) |
//! | `guichet_store_errors_total` | counter | — |
//! | `guichet_redis_errors_total` | counter | — |
//! | `guichet_cache_fence_queries_total` | counter | — (reads of the change log, [`crate::cache`]) |
//! | `guichet_store_breaker_open` | gauge | — (1 while the store is unreachable, see [`crate::cache::breaker`]) |
//! | `guichet_stale_answers_total` | counter | — (decisions served stale while the store was unreachable, `cache.serve_stale_when_store_down_ms`) |
//! | `guichet_db_pool_connections` | gauge | — (open connections) |
//! | `guichet_db_pool_idle_connections` | gauge | — |
//! | `guichet_db_pool_max_connections` | gauge | — |
//! | `guichet_store_up` | gauge | — (1 when the store answered a query at the latest scrape, else 0) |
//! | `guichet_redis_degraded` | gauge | — (1 while Redis calls fail and answers come from the store) |
//! | `guichet_watch_streams` | gauge | — (open WatchEvents change streams) |
//! | `guichet_authzen_requests_total` | counter | `endpoint` (`evaluation`, `evaluations`, `search_subject`, `search_resource`, `search_action`, `configuration`, `unknown`), `status` (the HTTP status: `200`, `400`, …, `other`) |
//! | `guichet_authzen_request_duration_seconds` | histogram | `endpoint`, `status` |
//! | `guichet_write_phase_seconds` | histogram | `phase`: `acquire` (a connection from the writer pool and `BEGIN`), `lock_wait` (the revision bump, waiting for the write holding the lock; with the read of the membership for a membership write on PostgreSQL), `locked` (from the bump to the connection's return, after the commit), `transaction` (from the request for a connection to its return), each per transaction (role changes made together are one), `commit_wait` (the wait after the commit for the fence window, [`crate::cache`], per write) |
//!
//! `deploy/grafana/guichet.json` (a dashboard) and `deploy/prometheus/guichet-rules.yml`
//! (recording and alerting rules) query these names only: a test of `guichet-tests` fails when one
//! of their queries names a metric that a running server does not export.
//!
//! AuthZEN decisions count in `guichet_decisions_total` like CheckAccess's, and their cache
//! look-ups in `guichet_cache_requests_total` (they are the same look-ups).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use prost::Message as _;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Metrics {
    registry: Registry,
    rpc_requests: IntCounterVec,
    rpc_duration: HistogramVec,
    rpc_in_flight: IntGauge,
    decisions: IntCounterVec,
    cache_requests: IntCounterVec,
    store_errors: IntCounter,
    redis_errors: IntCounter,
    fence_queries: IntCounter,
    breaker_open: IntGauge,
    stale_answers: IntCounter,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    store_up: IntGauge,
    redis_degraded: IntGauge,
    watch_streams: IntGauge,
    authzen_requests: IntCounterVec,
    authzen_duration: HistogramVec,
    write_phases: HistogramVec,
}

/// Latency buckets from 0.25 ms to ~8 s: checks are sub-millisecond, writes take milliseconds.
const DURATION_BUCKETS: &[f64] =
    &[0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[expect(clippy::expect_used, reason = "the names and labels are constants: a failure is a bug caught by the tests")]
fn build() -> Metrics {
    let registry = Registry::new();
    let counter_vec = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
        registry.register(Box::new(c.clone())).expect("unique metric");
        c
    };
    let counter = |name: &str, help: &str| {
        let c = IntCounter::new(name, help).expect("valid metric");
        registry.register(Box::new(c.clone())).expect("unique metric");
        c
    };
    let gauge = |name: &str, help: &str| {
        let g = IntGauge::new(name, help).expect("valid metric");
        registry.register(Box::new(g.clone())).expect("unique metric");
        g
    };
    let rpc_duration = HistogramVec::new(
        HistogramOpts::new("guichet_rpc_duration_seconds", "Time to answer a gRPC call, by RPC and status code")
            .buckets(DURATION_BUCKETS.to_vec()),
        &["rpc", "code"],
    )
    .expect("valid metric");
    registry.register(Box::new(rpc_duration.clone())).expect("unique metric");
    let authzen_duration = HistogramVec::new(
        HistogramOpts::new(
            "guichet_authzen_request_duration_seconds",
            "Time to answer an AuthZEN HTTP request, by endpoint and HTTP status",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["endpoint", "status"],
    )
    .expect("valid metric");
    registry.register(Box::new(authzen_duration.clone())).expect("unique metric");
    let write_phases = HistogramVec::new(
        HistogramOpts::new(
            "guichet_write_phase_seconds",
            "Time a write spent in each phase: acquire, lock_wait, locked, transaction, commit_wait",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["phase"],
    )
    .expect("valid metric");
    registry.register(Box::new(write_phases.clone())).expect("unique metric");
    Metrics {
        write_phases,
        authzen_requests: counter_vec(
            "guichet_authzen_requests_total",
            "AuthZEN HTTP requests answered, by endpoint and HTTP status",
            &["endpoint", "status"],
        ),
        authzen_duration,
        rpc_requests: counter_vec(
            "guichet_rpc_requests_total",
            "gRPC calls answered, by RPC and status code",
            &["rpc", "code"],
        ),
        rpc_duration,
        rpc_in_flight: gauge("guichet_rpc_in_flight", "gRPC calls being handled"),
        decisions: counter_vec("guichet_decisions_total", "Access decisions returned, by outcome", &["allowed"]),
        cache_requests: counter_vec(
            "guichet_cache_requests_total",
            "Decision cache look-ups, by tier and result",
            &["tier", "result"],
        ),
        store_errors: counter("guichet_store_errors_total", "Store calls that failed (unreachable or internal)"),
        redis_errors: counter("guichet_redis_errors_total", "Redis calls that failed or timed out"),
        fence_queries: counter(
            "guichet_cache_fence_queries_total",
            "Fence queries run: reads of the store's change log that keep the decision caches fresh",
        ),
        breaker_open: gauge(
            "guichet_store_breaker_open",
            "1 while the store is unreachable and checks answer without waiting for it",
        ),
        stale_answers: counter(
            "guichet_stale_answers_total",
            "Decisions served from a cache tier, marked stale, while the store was unreachable",
        ),
        pool_connections: gauge("guichet_db_pool_connections", "Database connections open"),
        pool_idle: gauge("guichet_db_pool_idle_connections", "Database connections open and idle"),
        pool_max: gauge("guichet_db_pool_max_connections", "Database pool size limit"),
        store_up: gauge("guichet_store_up", "1 when the store answered a query at the latest scrape, else 0"),
        redis_degraded: gauge(
            "guichet_redis_degraded",
            "1 while Redis calls fail and decisions are answered from the store (degraded), else 0",
        ),
        watch_streams: gauge("guichet_watch_streams", "Open WatchEvents change streams"),
        registry,
    }
}

/// A registry, with the fixed label sets created at zero so dashboards see them from the start,
/// and room for the children the check path records, looked up at its first record.
fn registry() -> (Metrics, OnceLock<Hot>) {
    let m = build();
    for tier in ["local", "shared"] {
        for result in ["hit", "miss"] {
            let _ = m.cache_requests.with_label_values(&[tier, result]);
        }
    }
    for allowed in ["true", "false"] {
        let _ = m.decisions.with_label_values(&[allowed]);
    }
    for phase in guichet_store::WritePhase::ALL.map(guichet_store::WritePhase::label).into_iter().chain([COMMIT_WAIT]) {
        let _ = m.write_phases.with_label_values(&[phase]);
    }
    (m, OnceLock::new())
}

/// `(requests, duration)` of one RPC and code.
type RpcChildren = (IntCounter, Histogram);

/// The `phase` of the wait of a write after its commit (the store's phases are
/// [`guichet_store::WritePhase`]).
const COMMIT_WAIT: &str = "commit_wait";

/// Records a phase of a write the store measured (installed as the store's observer, see
/// [`guichet_store::Store::set_observer`]).
pub fn write_timing(timing: guichet_store::WriteTiming) {
    with(|m| m.write_phases.with_label_values(&[timing.phase.label()]).observe(timing.seconds));
}

/// A write waited `seconds` after its commit, for the fence window.
pub fn commit_wait(seconds: f64) {
    with(|m| m.write_phases.with_label_values(&[COMMIT_WAIT]).observe(seconds));
}

/// The labelled children the check path records on every call, looked up once: a label lookup
/// hashes the values and takes a lock, which a call answered from the cache should not pay four
/// times.
struct Hot {
    /// `(requests, duration)` of CheckAccess and CheckAccessBatch answered OK.
    check_ok: RpcChildren,
    batch_ok: RpcChildren,
    /// Decisions, denied then allowed.
    decisions: [IntCounter; 2],
    /// `(hit, miss)` of the local and the shared tier.
    local: (IntCounter, IntCounter),
    shared: (IntCounter, IntCounter),
}

const CHECK_ACCESS: &str = "guichet.v1.AccessService/CheckAccess";
const CHECK_ACCESS_BATCH: &str = "guichet.v1.AccessService/CheckAccessBatch";

impl Hot {
    fn of(m: &Metrics) -> Self {
        let rpc = |name: &str| {
            (m.rpc_requests.with_label_values(&[name, "OK"]), m.rpc_duration.with_label_values(&[name, "OK"]))
        };
        let tier = |name: &str| {
            (m.cache_requests.with_label_values(&[name, "hit"]), m.cache_requests.with_label_values(&[name, "miss"]))
        };
        Self {
            check_ok: rpc(CHECK_ACCESS),
            batch_ok: rpc(CHECK_ACCESS_BATCH),
            decisions: [m.decisions.with_label_values(&["false"]), m.decisions.with_label_values(&["true"])],
            local: tier("local"),
            shared: tier("shared"),
        }
    }

    fn tier(&self, tier: &str) -> Option<&(IntCounter, IntCounter)> {
        match tier {
            "local" => Some(&self.local),
            "shared" => Some(&self.shared),
            _ => None,
        }
    }
}

/// A registry and its check path's children.
type Shared = Arc<(Metrics, OnceLock<Hot>)>;

/// The process's registry.
static PROCESS: LazyLock<Shared> = LazyLock::new(|| Arc::new(registry()));

/// The registries of runtimes that hold a [`RuntimeMetrics`], with how many guards each has.
static BY_RUNTIME: LazyLock<RwLock<HashMap<tokio::runtime::Id, (Shared, usize)>>> = LazyLock::new(RwLock::default);

/// How many runtimes have a registry of their own: while none does (the binary), recording reads
/// the process's registry without looking the runtime up.
static RUNTIMES: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on the registry of the current runtime, or the process's.
fn current<R>(f: impl FnOnce(&(Metrics, OnceLock<Hot>)) -> R) -> R {
    if RUNTIMES.load(Ordering::Acquire) > 0
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        let own = BY_RUNTIME.read().unwrap_or_else(PoisonError::into_inner).get(&handle.id()).map(|(m, _)| m.clone());
        if let Some(own) = own {
            return f(&own);
        }
    }
    f(&PROCESS)
}

/// Runs `f` on the current registry's metrics (see [`current`]).
fn with<R>(f: impl FnOnce(&Metrics) -> R) -> R {
    current(|(m, _)| f(m))
}

/// [`with`], with the registry's check path children, looked up at the first record so that
/// their series appear once something is recorded on them.
fn with_hot<R>(f: impl FnOnce(&Metrics, &Hot) -> R) -> R {
    current(|(m, hot)| f(m, hot.get_or_init(|| Hot::of(m))))
}

/// Gives the current runtime a registry of its own for as long as a guard of it lives: see the
/// module docs. Outside a runtime it does nothing.
#[derive(Debug)]
pub struct RuntimeMetrics(Option<tokio::runtime::Id>);

impl RuntimeMetrics {
    /// The current runtime's registry (a new one if it has none yet).
    pub fn enter() -> Self {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return Self(None) };
        let id = handle.id();
        let mut runtimes = BY_RUNTIME.write().unwrap_or_else(PoisonError::into_inner);
        let entry = runtimes.entry(id).or_insert_with(|| {
            RUNTIMES.fetch_add(1, Ordering::AcqRel);
            (Arc::new(registry()), 0)
        });
        entry.1 += 1;
        Self(Some(id))
    }
}

impl Drop for RuntimeMetrics {
    fn drop(&mut self) {
        let Some(id) = self.0 else { return };
        let mut runtimes = BY_RUNTIME.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = runtimes.get_mut(&id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                runtimes.remove(&id);
                RUNTIMES.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// The `rpc` label of every call to a path guichet does not serve.
pub const UNKNOWN_RPC: &str = "unknown";

/// Every RPC guichet serves, as `package.Service/Method`: the API's, the health service's and both
/// reflection services', from the descriptor sets that reflection serves.
static SERVED_RPCS: LazyLock<HashSet<String>> = LazyLock::new(|| served_rpcs(&crate::services::reflection::SERVED));

/// The methods of the services of encoded `FileDescriptorSet`s, as `package.Service/Method`.
fn served_rpcs(sets: &[&[u8]]) -> HashSet<String> {
    let mut rpcs = HashSet::new();
    for encoded in sets {
        let set = match prost_types::FileDescriptorSet::decode(*encoded) {
            Ok(set) => set,
            Err(e) => {
                // Built into the binary, and decoded by the tests: never expected.
                tracing::error!(error = %e, "cannot decode a file descriptor set: its RPCs are counted as unknown");
                continue;
            }
        };
        for file in &set.file {
            for service in &file.service {
                let service_name = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                rpcs.extend(service.method.iter().map(|m| format!("{service_name}/{}", m.name())));
            }
        }
    }
    rpcs
}

/// The `rpc` label of a call to `rpc` (`package.Service/Method`, with or without the leading `/`):
/// the name itself when guichet serves that RPC, [`UNKNOWN_RPC`] otherwise.
pub fn rpc_label(rpc: &str) -> &'static str {
    let rpc = rpc.strip_prefix('/').unwrap_or(rpc);
    SERVED_RPCS.get(rpc).map_or(UNKNOWN_RPC, String::as_str)
}

/// Records one answered RPC: `rpc` is `package.Service/Method` (recorded under [`rpc_label`]),
/// `code` the gRPC code name.
pub fn rpc_finished(rpc: &str, code: &str, seconds: f64) {
    let hot: Option<fn(&Hot) -> &RpcChildren> = match (rpc, code) {
        (CHECK_ACCESS, "OK") => Some(|hot| &hot.check_ok),
        (CHECK_ACCESS_BATCH, "OK") => Some(|hot| &hot.batch_ok),
        _ => None,
    };
    match hot {
        Some(children) => with_hot(|_, hot| {
            let (requests, duration) = children(hot);
            requests.inc();
            duration.observe(seconds);
        }),
        None => with(|m| {
            let rpc = rpc_label(rpc);
            m.rpc_requests.with_label_values(&[rpc, code]).inc();
            m.rpc_duration.with_label_values(&[rpc, code]).observe(seconds);
        }),
    }
}

/// One more RPC in flight; the returned guard ends it.
pub(crate) fn rpc_started() -> InFlight {
    let gauge = with(|m| m.rpc_in_flight.clone());
    gauge.inc();
    InFlight(gauge)
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Records one access decision.
pub fn decision(allowed: bool) {
    with_hot(|_, hot| hot.decisions[usize::from(allowed)].inc());
}

/// A decision found in the cache `tier` (`local` or `shared`).
pub fn cache_hit(name: &str) {
    with_hot(|m, hot| match hot.tier(name) {
        Some((hit, _)) => hit.inc(),
        None => m.cache_requests.with_label_values(&[name, "hit"]).inc(),
    });
}

/// A decision looked up and not found in the cache `tier` (`local` or `shared`).
pub fn cache_miss(name: &str) {
    with_hot(|m, hot| match hot.tier(name) {
        Some((_, miss)) => miss.inc(),
        None => m.cache_requests.with_label_values(&[name, "miss"]).inc(),
    });
}

/// A store call failed (unreachable, or an internal database error).
pub fn store_error() {
    with(|m| m.store_errors.inc());
}

/// A Redis call failed or timed out.
pub fn redis_error() {
    with(|m| m.redis_errors.inc());
}

/// A fence query was sent to the store (see [`crate::cache`]).
pub fn fence_query() {
    with(|m| m.fence_queries.inc());
}

/// The `status` label of an HTTP status: the codes the AuthZEN server answers with, else `other`.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        415 => "415",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Records one answered AuthZEN request: `endpoint` is one of a fixed set (see the module docs).
pub fn authzen_finished(endpoint: &'static str, status: u16, seconds: f64) {
    let status = status_label(status);
    with(|m| {
        m.authzen_requests.with_label_values(&[endpoint, status]).inc();
        m.authzen_duration.with_label_values(&[endpoint, status]).observe(seconds);
    });
}

/// The store breaker opened (`true`) or closed.
pub fn breaker_open(open: bool) {
    with(|m| m.breaker_open.set(i64::from(open)));
}

/// `n` decisions were served stale.
pub fn stale_answers(n: u64) {
    with(|m| m.stale_answers.inc_by(n));
}

/// Sets the database pool gauges (read at each scrape).
pub fn set_pool_usage(open: u32, idle: usize, max: u32) {
    with(|m| {
        m.pool_connections.set(i64::from(open));
        m.pool_idle.set(i64::try_from(idle).unwrap_or(i64::MAX));
        m.pool_max.set(i64::from(max));
    });
}

/// Sets `guichet_store_up` (read at each scrape).
pub fn set_store_up(up: bool) {
    with(|m| m.store_up.set(i64::from(up)));
}

/// Sets `guichet_redis_degraded`.
pub fn set_redis_degraded(degraded: bool) {
    with(|m| m.redis_degraded.set(i64::from(degraded)));
}

/// One more open change stream; the returned guard closes it.
pub(crate) fn watch_opened() -> WatchStream {
    let gauge = with(|m| m.watch_streams.clone());
    gauge.inc();
    WatchStream(gauge)
}

/// Decrements the open change streams gauge when dropped.
#[derive(Debug)]
pub(crate) struct WatchStream(IntGauge);

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut buf = Vec::new();
    if let Err(e) = with(|m| TextEncoder::new().encode(&m.registry.gather(), &mut buf)) {
        tracing::warn!(error = %e, "cannot encode the metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Only for tests that need one histogram handle.
#[cfg(test)]
fn duration_of(rpc: &str, code: &str) -> prometheus::Histogram {
    PROCESS.0.rpc_duration.with_label_values(&[rpc, code])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RPC no other test of this process records.
    const LIST_EVENTS: &str = "guichet.v1.EventService/ListEvents";

    #[test]
    fn recorded_values_appear_in_the_text_format() {
        rpc_finished(LIST_EVENTS, "OK", 0.002);
        rpc_finished(&format!("/{LIST_EVENTS}"), "OK", 0.004);
        rpc_finished(LIST_EVENTS, "NOT_FOUND", 0.001);
        cache_hit("local");
        cache_miss("shared");
        decision(true);
        let text = render();
        assert!(text.contains(&format!("guichet_rpc_requests_total{{code=\"OK\",rpc=\"{LIST_EVENTS}\"}} 2")), "{text}");
        assert!(text.contains(&format!("guichet_rpc_requests_total{{code=\"NOT_FOUND\",rpc=\"{LIST_EVENTS}\"}} 1")));
        assert!(text.contains(&format!("guichet_rpc_duration_seconds_count{{code=\"OK\",rpc=\"{LIST_EVENTS}\"}} 2")));
        assert!(text.contains("guichet_cache_requests_total{result=\"hit\",tier=\"local\"}"));
        assert!(text.contains("guichet_cache_requests_total{result=\"miss\",tier=\"shared\"}"));
        assert!(text.contains("# TYPE guichet_store_errors_total counter"));
        assert!(text.contains("# TYPE guichet_redis_errors_total counter"));
        for phase in ["acquire", "lock_wait", "locked", "transaction", "commit_wait"] {
            assert!(text.contains(&format!("guichet_write_phase_seconds_count{{phase=\"{phase}\"}}")), "{phase}");
        }
        let locked = PROCESS.0.write_phases.with_label_values(&["locked"]);
        let (held, waited) = (locked.get_sample_count(), PROCESS.0.write_phases.with_label_values(&["commit_wait"]));
        let waits = waited.get_sample_count();
        write_timing(guichet_store::WriteTiming { phase: guichet_store::WritePhase::Locked, seconds: 0.004 });
        commit_wait(0.01);
        assert_eq!((locked.get_sample_count(), waited.get_sample_count()), (held + 1, waits + 1));
        let fences = PROCESS.0.fence_queries.get();
        fence_query();
        assert_eq!(PROCESS.0.fence_queries.get(), fences + 1);
        assert!(render().contains("# TYPE guichet_cache_fence_queries_total counter"));
        assert_eq!(duration_of(LIST_EVENTS, "OK").get_sample_count(), 2);
        {
            let _a = rpc_started();
            assert!(render().contains("guichet_rpc_in_flight 1"));
        }
        assert!(render().contains("guichet_rpc_in_flight 0"));
    }

    /// The check path's pre-resolved children are the labelled ones a scrape shows. Other tests of
    /// this process may record meanwhile, so the counts are compared by how much each one grew.
    #[test]
    fn the_check_path_records_under_its_labels() {
        let requests = |rpc: &str, code: &str| PROCESS.0.rpc_requests.with_label_values(&[rpc, code]).get();
        let decided = |allowed: &str| PROCESS.0.decisions.with_label_values(&[allowed]).get();
        let cache = |tier: &str, result: &str| PROCESS.0.cache_requests.with_label_values(&[tier, result]).get();
        let before = (
            requests(CHECK_ACCESS, "OK"),
            requests(CHECK_ACCESS_BATCH, "OK"),
            requests(CHECK_ACCESS, "UNAVAILABLE"),
            decided("false"),
            decided("true"),
            cache("local", "hit"),
            cache("shared", "miss"),
        );
        let n = 10_000;
        for _ in 0..n {
            rpc_finished(CHECK_ACCESS, "OK", 0.000_1);
            decision(false);
            cache_hit("local");
        }
        for _ in 0..2 * n {
            rpc_finished(CHECK_ACCESS_BATCH, "OK", 0.000_1);
            cache_miss("shared");
        }
        rpc_finished(CHECK_ACCESS, "UNAVAILABLE", 0.01);
        assert!(requests(CHECK_ACCESS, "OK") - before.0 >= n);
        assert!(requests(CHECK_ACCESS_BATCH, "OK") - before.1 >= 2 * n);
        assert!(requests(CHECK_ACCESS_BATCH, "OK") - before.1 < 3 * n, "a CheckAccess counted as a batch");
        assert_eq!(requests(CHECK_ACCESS, "UNAVAILABLE") - before.2, 1);
        assert!(decided("false") - before.3 >= n);
        assert!(decided("true") - before.4 < n, "a denial counted as allowed");
        assert!(cache("local", "hit") - before.5 >= n);
        assert!(cache("shared", "miss") - before.6 >= 2 * n);
        assert!(duration_of(CHECK_ACCESS, "OK").get_sample_count() >= n);
    }

    #[test]
    fn only_served_rpcs_are_labels_and_every_other_path_is_unknown() {
        for served in [
            CHECK_ACCESS,
            "guichet.v1.AccountService/GetAccount",
            "/guichet.v1.RoleService/ListCatalog",
            "grpc.health.v1.Health/Check",
            "grpc.health.v1.Health/Watch",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert_eq!(rpc_label(served), served.trim_start_matches('/'));
        }
        for made_up in [
            "x.Y/Random123",
            "/guichet.v1.AccountService/Random123",
            "guichet.v1.AccessService",
            "guichet.v1.AccessService/",
            "/guichet.v1.AccessService/CheckAccess/",
            "guichet.v1.accessservice/checkaccess",
            "",
            "/",
        ] {
            assert_eq!(rpc_label(made_up), UNKNOWN_RPC, "{made_up}");
        }
        // Every RPC of the API, and nothing beside them, health and reflection.
        let api = served_rpcs(&[crate::services::reflection::API]);
        assert!(api.len() > 50 && api.iter().all(|r| r.starts_with("guichet.v1.")), "{api:?}");
        assert!(api.is_subset(&SERVED_RPCS));
        let others: HashSet<&str> = SERVED_RPCS.difference(&api).map(String::as_str).collect();
        let mut others: Vec<&str> = others.into_iter().collect();
        others.sort_unstable();
        assert_eq!(
            others,
            [
                "grpc.health.v1.Health/Check",
                "grpc.health.v1.Health/Watch",
                "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            ]
        );

        let unknown = || PROCESS.0.rpc_requests.with_label_values(&[UNKNOWN_RPC, "UNIMPLEMENTED"]).get();
        let before = unknown();
        for i in 0..100 {
            rpc_finished(&format!("/x.Y/Random{i}"), "UNIMPLEMENTED", 0.000_1);
        }
        assert_eq!(unknown() - before, 100);
        assert!(!render().contains("Random"));
    }
}
