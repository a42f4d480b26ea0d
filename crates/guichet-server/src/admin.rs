//! The admin HTTP server (`[admin] listen`, default `127.0.0.1:9090`), for Prometheus and the
//! kubelet:
//!
//! - `GET /metrics`: every metric in the Prometheus text format (see [`crate::metrics`]);
//! - `GET /livez`: 200 while the process serves; depends on neither the database nor Redis, so a
//!   store outage never gets pods restarted;
//! - `GET /readyz`: 200 when the store answers and its migrations are applied, 503 otherwise, and
//!   503 from the moment shutdown starts (so endpoints are removed while calls drain).

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

use crate::metrics;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct AdminState {
    store: Store,
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
    pub async fn bind(addr: SocketAddr, store: Store) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        Ok(Self { listener, local_addr, state: AdminState { store, stopping: Arc::new(AtomicBool::new(false)) } })
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
