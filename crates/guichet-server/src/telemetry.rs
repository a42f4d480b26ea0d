//! Logs, traces and the per-RPC layer.
//!
//! [`init`] installs the global subscriber: a `fmt` layer (human by default, JSON when
//! `log.format = "json"`, filtered by `RUST_LOG` or `log.filter`) and a `tracing-opentelemetry`
//! layer that turns guichet's spans into OpenTelemetry spans. When an OTLP endpoint is configured
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, then
//! `telemetry.otlp_endpoint`) the spans are batched to it over gRPC; without one they get trace ids
//! (for the logs and audit events) and are dropped. The SDK reads `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` and the `OTEL_BSP_*` batch settings;
//! `OTEL_SERVICE_NAME` wins over `telemetry.service_name`. The returned [`TelemetryGuard`] flushes
//! the exporter when dropped, for at most [`FLUSH_TIMEOUT`].
//!
//! [`RpcLayer`] wraps the tonic server: for each call it continues the caller's W3C trace
//! (`traceparent`/`tracestate` metadata), opens one server span named after the RPC
//! (`guichet.v1.AccessService/CheckAccess`) with the `rpc.*` semantic attributes and the gRPC status
//! code, records the request count and latency metrics, and writes exactly one log line with the
//! RPC, the code, the duration and the trace id: at info, except for answered checks.
//!
//! **The check path is lean.** `CheckAccess` and `CheckAccessBatch` are called on every request of
//! every internal service, tens of thousands of times a second: an answered check logs its line at
//! debug (`log.check_calls = true` puts it back at info), and gets an RPC span (and the auth layer's
//! `caller` span) only when spans are exported, since without an exporter nobody would see them.
//! Failed checks log at info like every other call, and the metrics count every call. The access handlers add the decision
//! (allowed, cache tier, revision) through [`Decided`]. No request or response body, header value
//! or token is ever recorded: only the RPC name, codes, counts, decisions and revisions.
//!
//! **Every UNAVAILABLE is a warning** with the RPC and its cause (what the store or the cache
//! said, recorded where the error becomes a status, [`unavailable_cause`]; the client only reads
//! "retry later"). While the store breaker is open — an outage, when every check would answer
//! UNAVAILABLE thousands of times a second — it is logged once per RPC and outage (with the outage
//! number, and how many the previous outage left unlogged); outside an outage, every one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use guichet_domain::{Answer, Revision};

use crate::config::{Config, LogFormat};
use crate::metrics;

/// How long the exporter may take to send the last spans at exit.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether check-path calls get an RPC span: set by [`init`] when spans are exported.
static TRACE_CHECKS: AtomicBool = AtomicBool::new(false);

/// Whether an answered check logs its line at info rather than debug (`log.check_calls`).
static LOG_CHECKS: AtomicBool = AtomicBool::new(false);

/// The RPCs of the check path (see the module docs).
fn is_check_path(rpc: &str) -> bool {
    matches!(rpc, "guichet.v1.AccessService/CheckAccess" | "guichet.v1.AccessService/CheckAccessBatch")
}

/// Whether a call of `rpc` (`/package.Service/Method` or `package.Service/Method`) gets spans: every
/// call does, except those of the check path when spans are not exported (see the module docs).
pub(crate) fn spans_for(rpc: &str) -> bool {
    !is_check_path(rpc.trim_start_matches('/')) || TRACE_CHECKS.load(Ordering::Relaxed)
}

/// Whether spans are exported (the check path, AuthZEN evaluations included, gets spans only then).
pub(crate) fn exporting_spans() -> bool {
    TRACE_CHECKS.load(Ordering::Relaxed)
}

/// Whether an answered check logs its line at info (`log.check_calls`).
pub(crate) fn log_check_calls() -> bool {
    LOG_CHECKS.load(Ordering::Relaxed)
}

/// The level of the log line of a call of ours: debug for an answered check (unless
/// `log.check_calls`), info for everything else.
fn line_level(check: bool, code: i32, log_checks: bool) -> tracing::Level {
    if check && code == 0 && !log_checks { tracing::Level::DEBUG } else { tracing::Level::INFO }
}

/// Flushes and shuts the trace exporter down when dropped, for at most [`FLUSH_TIMEOUT`].
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    exporting: bool,
}

impl TelemetryGuard {
    /// Whether spans are exported to an OTLP collector.
    pub fn exporting(&self) -> bool {
        self.exporting
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        if !self.exporting {
            return;
        }
        // `shutdown` blocks its thread while the exporter (driven by the Tokio runtime) sends the
        // last batch: run it on a thread of its own and never wait longer than the timeout.
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("otel-flush".into()).spawn(move || {
            let _ = tx.send(provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        });
        if spawned.is_err() {
            return;
        }
        match rx.recv_timeout(FLUSH_TIMEOUT + Duration::from_secs(1)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("guichet: flushing traces: {e}"),
            Err(_) => eprintln!("guichet: flushing traces timed out after {FLUSH_TIMEOUT:?}"),
        }
    }
}

/// The collector endpoint: the standard variables first, then the configuration.
fn otlp_endpoint(config: &Config) -> Option<String> {
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .or_else(|| config.telemetry.otlp_endpoint.clone())
}

/// `OTEL_SERVICE_NAME`, else a `service.name` in `OTEL_RESOURCE_ATTRIBUTES` (kept by the SDK),
/// else the configured name.
fn service_name(config: &Config) -> Option<String> {
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME")
        && !name.trim().is_empty()
    {
        return Some(name);
    }
    let in_attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES")
        .is_ok_and(|a| a.split(',').any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == "service.name")));
    (!in_attributes).then(|| config.telemetry.service_name.clone())
}

fn provider(config: &Config) -> (SdkTracerProvider, Option<String>) {
    let mut resource = Resource::builder();
    if let Some(name) = service_name(config) {
        resource = resource.with_service_name(name);
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    let Some(endpoint) = otlp_endpoint(config) else {
        return (builder.build(), None);
    };
    use opentelemetry_otlp::WithExportConfig;
    match opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build() {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), Some(endpoint)),
        Err(e) => {
            eprintln!("guichet: cannot build the OTLP exporter for {endpoint}: {e}; traces are not exported");
            (builder.build(), None)
        }
    }
}

/// Installs the global subscriber (logs to stderr, spans to OpenTelemetry) and the W3C trace-context
/// propagator. `RUST_LOG` wins over `log.filter`. Must run inside a Tokio runtime (the OTLP exporter
/// needs one). Calling it twice is harmless: the second call keeps the first subscriber.
pub fn init(config: &Config) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let (provider, endpoint) = provider(config);
    let tracer = provider.tracer("guichet");

    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let fmt = match config.log.format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // Spans for OpenTelemetry are chosen independently of the log filter: a quiet log does not
    // silence the traces.
    let spans = Targets::new()
        .with_target("guichet::rpc", LevelFilter::INFO)
        .with_target("guichet::authzen", LevelFilter::INFO)
        .with_target("guichet_server", LevelFilter::INFO)
        .with_target("guichet_store", LevelFilter::INFO);
    let otel = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans);
    let installed = tracing_subscriber::registry().with(fmt.with_filter(log_filter)).with(otel).try_init().is_ok();
    if let Some(endpoint) = &endpoint
        && installed
    {
        tracing::info!(%endpoint, "exporting traces over OTLP");
    }
    let exporting = endpoint.is_some() && installed;
    TRACE_CHECKS.store(exporting, Ordering::Relaxed);
    LOG_CHECKS.store(config.log.check_calls, Ordering::Relaxed);
    TelemetryGuard { provider: Some(provider), exporting }
}

/// The trace id of the current span, when it belongs to a trace.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// What an access RPC decided, attached by the handler to its response (extensions) so the RPC
/// span carries it.
#[derive(Debug, Clone, Default)]
pub struct Decided {
    /// The decision of a single check.
    pub allowed: Option<bool>,
    /// For a batch: how many were allowed and denied.
    pub counts: Option<(usize, usize)>,
    /// Where the decision came from (`none`, `local`, `shared`).
    pub cache_tier: &'static str,
    /// The revision it was evaluated at (written into the span as its token, only when recorded).
    pub revision: Option<Revision>,
}

impl Decided {
    /// Writes the decision into the span of the request that made it.
    pub(crate) fn record(&self, span: &tracing::Span) {
        if let Some(a) = self.allowed {
            span.record("decision.allowed", a);
        }
        if let Some((a, d)) = self.counts {
            span.record("decision.allowed_count", a);
            span.record("decision.denied_count", d);
        }
        span.record("cache.tier", self.cache_tier);
        if let Some(r) = self.revision {
            span.record("revision", tracing::field::display(r));
        }
    }
}

/// Counts a check's decision; what the RPC span is to carry of it.
pub(crate) fn check_answered(answer: &Answer) -> Decided {
    metrics::decision(answer.allowed);
    Decided {
        allowed: Some(answer.allowed),
        counts: None,
        cache_tier: answer.tier.as_str(),
        revision: Some(answer.revision),
    }
}

/// Counts the decisions of a batch answered at `revision`; what the RPC span is to carry of them.
pub(crate) fn batch_answered(answers: &[Answer], revision: Revision) -> Decided {
    let allowed = answers.iter().filter(|a| a.allowed).count();
    for a in answers {
        metrics::decision(a.allowed);
    }
    Decided {
        allowed: None,
        counts: Some((allowed, answers.len() - allowed)),
        cache_tier: answers.first().map_or("none", |a| a.tier.as_str()),
        revision: Some(revision),
    }
}

/// The canonical name of a gRPC status code (`OK`, `INVALID_ARGUMENT`, …).
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// The codes that make a server span an error (OpenTelemetry's gRPC conventions).
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

tokio::task_local! {
    /// The cause of the UNAVAILABLE the current call answers (see [`unavailable_cause`]).
    static UNAVAILABLE_CAUSE: std::cell::RefCell<Option<String>>;
}

/// Records `cause` as the reason of the UNAVAILABLE the current call answers, for [`RpcLayer`] to
/// log with the RPC. False outside a call's handling (a status sent inside a stream): the caller
/// logs it then.
pub fn unavailable_cause(cause: &str) -> bool {
    UNAVAILABLE_CAUSE.try_with(|c| *c.borrow_mut() = Some(cause.to_owned())).is_ok()
}

/// Which store outage this replica is in: `Some(n)` while its breaker is open, the `n`th time.
pub type Outage = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// The warnings of UNAVAILABLE answers: every one, but once per RPC and outage during an outage.
#[derive(Default)]
pub(crate) struct UnavailableLog {
    outage: Option<Outage>,
    /// Per RPC: the outage of its last warning, and the answers of that outage not logged.
    logged: Mutex<HashMap<String, (u64, u64)>>,
}

impl std::fmt::Debug for UnavailableLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnavailableLog").field("outage", &self.outage.is_some()).finish_non_exhaustive()
    }
}

impl UnavailableLog {
    /// The log of a replica whose outages `outage` tells (every answer logged without one).
    pub(crate) fn new(outage: Option<Outage>) -> Self {
        Self { outage, logged: Mutex::default() }
    }

    /// Logs an UNAVAILABLE answer of `rpc` (a gRPC method or an AuthZEN route) caused by `cause`.
    pub(crate) fn answered(&self, rpc: &str, cause: &str) {
        let Some(outage) = self.outage.as_ref().and_then(|o| o()) else {
            tracing::warn!(target: "guichet::rpc", rpc, cause, "answered UNAVAILABLE");
            return;
        };
        let unlogged = {
            let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match logged.get_mut(rpc) {
                Some((seen, unlogged)) if *seen == outage => {
                    *unlogged += 1;
                    return;
                }
                Some(entry) => std::mem::replace(entry, (outage, 0)).1,
                None => {
                    logged.insert(rpc.to_owned(), (outage, 0));
                    0
                }
            }
        };
        tracing::warn!(
            target: "guichet::rpc",
            rpc,
            cause,
            outage,
            unlogged_in_previous_outage = unlogged,
            "answered UNAVAILABLE (the store is down: logged once per RPC and outage)"
        );
    }
}

/// The tower layer around the tonic server that traces, measures and logs every call.
#[derive(Debug, Clone, Default)]
pub struct RpcLayer {
    before_call: Option<crate::BeforeCall>,
    unavailable: Arc<UnavailableLog>,
}

impl RpcLayer {
    /// The layer; `before_call` (given only by tests, through [`crate::ServerBuilder`]) is awaited
    /// by every guichet RPC once it counts as in flight, before it is handled; `outage` says which
    /// store outage the replica is in (none without a breaker).
    pub fn new(before_call: Option<crate::BeforeCall>, outage: Option<Outage>) -> Self {
        Self { before_call, unavailable: Arc::new(UnavailableLog::new(outage)) }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner, before_call: self.before_call.clone(), unavailable: self.unavailable.clone() }
    }
}

/// See [`RpcLayer`].
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    before_call: Option<crate::BeforeCall>,
    unavailable: Arc<UnavailableLog>,
}

/// Records the end of a call once, including when the call is dropped (deadline or cancellation).
struct Finish {
    rpc: String,
    ours: bool,
    /// A call of the check path.
    check: bool,
    start: Instant,
    span: tracing::Span,
    done: bool,
}

impl Finish {
    fn finish(&mut self, code: i32) {
        self.done = true;
        let elapsed = self.start.elapsed();
        let name = code_name(code);
        metrics::rpc_finished(&self.rpc, name, elapsed.as_secs_f64());
        self.span.record("rpc.grpc.status_code", code);
        if is_server_error(code) {
            self.span.record("otel.status_code", "error");
        }
        let info =
            self.ours && line_level(self.check, code, LOG_CHECKS.load(Ordering::Relaxed)) == tracing::Level::INFO;
        let enabled = if info {
            tracing::enabled!(target: "guichet::rpc", tracing::Level::INFO)
        } else {
            tracing::enabled!(target: "guichet::rpc", tracing::Level::DEBUG)
        };
        if !enabled {
            return;
        }
        let trace_id = if self.span.is_none() {
            String::new()
        } else {
            let context = self.span.context();
            let span = context.span();
            let sc = span.span_context();
            if sc.is_valid() { sc.trace_id().to_string() } else { String::new() }
        };
        let duration_ms = elapsed.as_secs_f64() * 1_000.0;
        if info {
            tracing::info!(target: "guichet::rpc", parent: None, rpc = %self.rpc, code = name, duration_ms, trace_id = %trace_id, "rpc");
        } else {
            tracing::debug!(target: "guichet::rpc", parent: None, rpc = %self.rpc, code = name, duration_ms, trace_id = %trace_id, "rpc");
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.done {
            // Dropped before an answer: the deadline passed (tonic answers CANCELLED) or the client left.
            self.finish(1);
        }
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for RpcService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rpc = request.uri().path().trim_start_matches('/').to_owned();
        let (service, method) = rpc.split_once('/').unwrap_or((rpc.as_str(), ""));
        let ours = service.starts_with("guichet.");
        macro_rules! rpc_span {
            ($level:expr) => {
                tracing::span!(
                    target: "guichet::rpc",
                    $level,
                    "rpc",
                    otel.name = %rpc,
                    otel.kind = "server",
                    otel.status_code = Empty,
                    rpc.system = "grpc",
                    rpc.service = %service,
                    rpc.method = %method,
                    rpc.grpc.status_code = Empty,
                    decision.allowed = Empty,
                    decision.allowed_count = Empty,
                    decision.denied_count = Empty,
                    cache.tier = Empty,
                    revision = Empty,
                    guichet.caller = Empty,
                )
            };
        }
        let check = ours && is_check_path(&rpc);
        let span = if check && !spans_for(&rpc) {
            tracing::Span::none()
        } else if ours {
            rpc_span!(tracing::Level::INFO)
        } else {
            rpc_span!(tracing::Level::DEBUG)
        };
        if !span.is_none() {
            let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
            if parent.span().span_context().is_valid() {
                let _ = span.set_parent(parent);
            }
        }
        let before = if ours { self.before_call.as_ref().map(|hook| hook.call(&rpc)) } else { None };
        let mut finish = Finish { rpc, ours, check, start: Instant::now(), span: span.clone(), done: false };
        let unavailable = self.unavailable.clone();
        Box::pin(
            async move {
                let _in_flight = metrics::rpc_started();
                if let Some(before) = before {
                    before.await;
                }
                // The call's future in the scope as it is (no async block around it, whose
                // state every call would copy); the cause is read back from the scope after it.
                let mut scoped =
                    std::pin::pin!(UNAVAILABLE_CAUSE.scope(std::cell::RefCell::new(None), inner.call(request)));
                let result = scoped.as_mut().await;
                let cause = scoped.as_mut().take_value().and_then(std::cell::RefCell::into_inner);
                let code = match &result {
                    Ok(response) => {
                        if let Some(d) = response.extensions().get::<Decided>() {
                            d.record(&finish.span);
                        }
                        // Errors travel in the headers (trailers-only answer); a successful unary
                        // answer carries OK in its trailers.
                        response
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i32>().ok())
                            .unwrap_or(0)
                    }
                    Err(_) => 2,
                };
                finish.finish(code);
                if code == 14 && finish.ours {
                    let message = result.as_ref().ok().and_then(|r| r.headers().get("grpc-message"));
                    let cause =
                        cause.unwrap_or_else(|| message.and_then(|m| m.to_str().ok()).unwrap_or("not said").to_owned());
                    unavailable.answered(&finish.rpc, &cause);
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answered_checks_log_at_debug_unless_asked() {
        assert_eq!(line_level(true, 0, false), tracing::Level::DEBUG);
        assert_eq!(line_level(true, 0, true), tracing::Level::INFO);
        assert_eq!(line_level(true, 14, false), tracing::Level::INFO, "a failed check is at info");
        assert_eq!(line_level(false, 0, false), tracing::Level::INFO);
        assert!(is_check_path("guichet.v1.AccessService/CheckAccess"));
        assert!(is_check_path("guichet.v1.AccessService/CheckAccessBatch"));
        assert!(!is_check_path("guichet.v1.AccessService/ExplainAccess"));
    }

    #[test]
    fn the_check_path_has_spans_only_when_they_are_exported() {
        let check = "/guichet.v1.AccessService/CheckAccess";
        let batch = "guichet.v1.AccessService/CheckAccessBatch";
        let write = "/guichet.v1.MembershipService/SetMembershipRoles";
        let exporting = TRACE_CHECKS.load(Ordering::Relaxed);
        TRACE_CHECKS.store(false, Ordering::Relaxed);
        assert!(!spans_for(check) && !spans_for(batch), "no exporter: the check path makes no span");
        assert!(spans_for(write), "every other call keeps its spans");
        TRACE_CHECKS.store(true, Ordering::Relaxed);
        assert!(spans_for(check) && spans_for(batch) && spans_for(write));
        TRACE_CHECKS.store(exporting, Ordering::Relaxed);
    }

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(3), "INVALID_ARGUMENT");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
        assert!(is_server_error(14));
        assert!(!is_server_error(5));
    }
}
