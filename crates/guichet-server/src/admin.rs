//! The admin HTTP server (`[admin] listen`, default `127.0.0.1:9090`), for Prometheus and the
//! kubelet:
//!
//! - `GET /metrics`: every metric in the Prometheus text format (see [`crate::metrics`]);
//! - `GET /livez`: 200 while the process serves; depends on neither the database nor Redis, so a
//!   store outage never gets pods restarted;
//! - `GET /readyz`: 200 when the store answers and its migrations are applied, 503 otherwise, and
//!   503 from the moment shutdown starts (so endpoints are removed while calls drain). While the
//!   store breaker is open (see [`crate::cache::breaker`]) it answers at once, without asking the
//!   store, that the store is unreachable: 503 — unless the operator allowed stale answers
//!   (`cache.serve_stale_when_store_down_ms`) and this replica is still within that bound, then
//!   200 with a body that says the store is down and answers are served stale (a replica that can
//!   answer stays in the Service, as the operator chose; past the bound it leaves it). The gRPC
//!   health service stays SERVING through an outage: checks are answered, with UNAVAILABLE or a
//!   stale decision.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use guichet_store::Store;
use tokio::net::TcpListener;

use crate::cache::DecisionCache;
use crate::metrics;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct AdminState {
    store: Store,
    cache: Option<Arc<DecisionCache>>,
    stopping: Arc<AtomicBool>,
}

/// The bound admin server.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AdminState,
}

impl AdminServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, store: Store, cache: Option<Arc<DecisionCache>>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let state = AdminState { store, cache, stopping: Arc::new(AtomicBool::new(false)) };
        Ok(Self { listener, local_addr, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A flag that makes `/readyz` answer 503 once set (at the start of shutdown).
    pub fn stopping_flag(&self) -> Arc<AtomicBool> {
        self.state.stopping.clone()
    }

    /// Serves until the task is dropped or aborted.
    pub async fn serve(self) {
        let app = Router::new()
            .route("/metrics", get(metrics_text))
            .route("/livez", get(livez))
            .route("/readyz", get(readyz))
            .with_state(self.state);
        if let Err(e) = axum::serve(self.listener, app).await {
            tracing::error!(error = %e, "admin HTTP server stopped");
        }
    }
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    let (open, idle, max) = state.store.pool_usage();
    metrics::set_pool_usage(open, idle, max);
    let up = matches!(tokio::time::timeout(READY_TIMEOUT, state.store.revision()).await, Ok(Ok(_)));
    metrics::set_store_up(up);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render())
}

async fn livez() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    if state.stopping.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".to_owned());
    }
    if let Some(cache) = &state.cache
        && let Some(down) = cache.breaker().open_for()
    {
        let (bound, age) = (cache.serve_stale_bound(), cache.confirmed_age());
        let down_ms = down.as_millis();
        return if !bound.is_zero() && age <= bound {
            let left = bound.saturating_sub(age).as_millis();
            (
                StatusCode::OK,
                format!(
                    "store unreachable for {down_ms} ms: serving cached decisions marked stale for {left} ms more \
                     (cache.serve_stale_when_store_down_ms)\n"
                ),
            )
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, format!("store unreachable for {down_ms} ms (breaker open)\n"))
        };
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store.is_migrated()).await {
        Ok(Ok(true)) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Ok(false)) => (StatusCode::SERVICE_UNAVAILABLE, "database migrations are pending\n".to_owned()),
        Ok(Err(e)) => {
            metrics::store_error();
            (StatusCode::SERVICE_UNAVAILABLE, format!("store unreachable: {e}\n"))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store did not answer in time\n".to_owned()),
    }
}
