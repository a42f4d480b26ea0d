//! Prometheus metrics, served as text by the admin HTTP server (`/metrics`).
//!
//! One process-wide registry. The recording functions are cheap (an atomic add on a labelled
//! child) and never fail, so any module can call them: the RPC layer records requests and their
//! latency, the access handlers record decisions, the cache records hits and misses per tier
//! ([`cache_hit`], [`cache_miss`]), the error mapping records store errors. Pool gauges are read from
//! the store when scraped.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `guichet_rpc_requests_total` | counter | `rpc` (`guichet.v1.AccessService/CheckAccess`), `code` (`OK`, `INVALID_ARGUMENT`, …) |
//! | `guichet_rpc_duration_seconds` | histogram | `rpc`, `code` |
//! | `guichet_rpc_in_flight` | gauge | — |
//! | `guichet_decisions_total` | counter | `allowed` (`true`/`false`) |
//! | `guichet_cache_requests_total` | counter | `tier` (`local`, `shared`), `result` (`hit`, `miss`) |
//! | `guichet_store_errors_total` | counter | — |
//! | `guichet_redis_errors_total` | counter | — |
//! | `guichet_db_pool_connections` | gauge | — (open connections) |
//! | `guichet_db_pool_idle_connections` | gauge | — |
//! | `guichet_db_pool_max_connections` | gauge | — |

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

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
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

/// Latency buckets from 0.25 ms to ~8 s: checks are sub-millisecond, writes take milliseconds.
const DURATION_BUCKETS: &[f64] =
    &[0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[allow(clippy::expect_used)] // the names and labels are constants: a failure is a bug caught by the tests
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
    Metrics {
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
        pool_connections: gauge("guichet_db_pool_connections", "Database connections open"),
        pool_idle: gauge("guichet_db_pool_idle_connections", "Database connections open and idle"),
        pool_max: gauge("guichet_db_pool_max_connections", "Database pool size limit"),
        registry,
    }
}

/// The registry, with the fixed label sets created at zero so dashboards see them from the start.
static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = build();
    for tier in ["local", "shared"] {
        for result in ["hit", "miss"] {
            let _ = m.cache_requests.with_label_values(&[tier, result]);
        }
    }
    for allowed in ["true", "false"] {
        let _ = m.decisions.with_label_values(&[allowed]);
    }
    m
});

/// Records one answered RPC: `rpc` is `package.Service/Method`, `code` the gRPC code name.
pub fn rpc_finished(rpc: &str, code: &str, seconds: f64) {
    METRICS.rpc_requests.with_label_values(&[rpc, code]).inc();
    METRICS.rpc_duration.with_label_values(&[rpc, code]).observe(seconds);
}

/// One more RPC in flight; the returned guard ends it.
pub(crate) fn rpc_started() -> InFlight {
    METRICS.rpc_in_flight.inc();
    InFlight(())
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.rpc_in_flight.dec();
    }
}

/// Records one access decision.
pub fn decision(allowed: bool) {
    METRICS.decisions.with_label_values(&[if allowed { "true" } else { "false" }]).inc();
}

/// A decision found in the cache `tier` (`local` or `shared`).
pub fn cache_hit(tier: &str) {
    METRICS.cache_requests.with_label_values(&[tier, "hit"]).inc();
}

/// A decision looked up and not found in the cache `tier` (`local` or `shared`).
pub fn cache_miss(tier: &str) {
    METRICS.cache_requests.with_label_values(&[tier, "miss"]).inc();
}

/// A store call failed (unreachable, or an internal database error).
pub fn store_error() {
    METRICS.store_errors.inc();
}

/// A Redis call failed or timed out.
pub fn redis_error() {
    METRICS.redis_errors.inc();
}

/// Sets the database pool gauges (read at each scrape).
pub fn set_pool_usage(open: u32, idle: usize, max: u32) {
    METRICS.pool_connections.set(i64::from(open));
    METRICS.pool_idle.set(i64::try_from(idle).unwrap_or(i64::MAX));
    METRICS.pool_max.set(i64::from(max));
}

/// Every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf) {
        tracing::warn!(error = %e, "cannot encode the metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Only for tests that need one histogram handle.
#[cfg(test)]
fn duration_of(rpc: &str, code: &str) -> prometheus::Histogram {
    METRICS.rpc_duration.with_label_values(&[rpc, code])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_text_format() {
        rpc_finished("guichet.v1.Test/Unit", "OK", 0.002);
        rpc_finished("guichet.v1.Test/Unit", "OK", 0.004);
        rpc_finished("guichet.v1.Test/Unit", "NOT_FOUND", 0.001);
        cache_hit("local");
        cache_miss("shared");
        decision(true);
        let text = render();
        assert!(text.contains("guichet_rpc_requests_total{code=\"OK\",rpc=\"guichet.v1.Test/Unit\"} 2"), "{text}");
        assert!(text.contains("guichet_rpc_requests_total{code=\"NOT_FOUND\",rpc=\"guichet.v1.Test/Unit\"} 1"));
        assert!(text.contains("guichet_rpc_duration_seconds_count{code=\"OK\",rpc=\"guichet.v1.Test/Unit\"} 2"));
        assert!(text.contains("guichet_cache_requests_total{result=\"hit\",tier=\"local\"}"));
        assert!(text.contains("guichet_cache_requests_total{result=\"miss\",tier=\"shared\"}"));
        assert!(text.contains("# TYPE guichet_store_errors_total counter"));
        assert!(text.contains("# TYPE guichet_redis_errors_total counter"));
        assert_eq!(duration_of("guichet.v1.Test/Unit", "OK").get_sample_count(), 2);
        {
            let _a = rpc_started();
            assert!(render().contains("guichet_rpc_in_flight 1"));
        }
        assert!(render().contains("guichet_rpc_in_flight 0"));
    }
}
