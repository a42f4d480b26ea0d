//! guichet's server: the tonic services, the application layer that authorises actors and calls
//! the store and the decision, configuration, telemetry, and the `guichet` binary's commands.
//!
//! It owns everything that touches the network and the process: ports, signals, logs. It holds no
//! access rule (those are in `guichet-domain`) and no SQL (that is in `guichet-store`). Handlers
//! are thin: convert the request (the `convert` module of the API crate), call one [`app::App`]
//! method, convert the answer back. Protobuf stops there: the application, the caches, telemetry
//! and the AuthZEN edge work on domain types (a test holds every file outside `services/` to it).
//! Every error reaches the client through the one `From<ServerError> for Status`, a request body
//! that is not protobuf included (`INVALID_ARGUMENT` on `body`, where tonic's codec would answer
//! `INTERNAL`).
//! CheckAccess and CheckAccessBatch go through the decision caches of [`cache`], whose docs hold
//! the design and the argument for why they are never stale.
//!
//! [`Server::build`] validates, connects, migrates and binds (port 0 picks a free port, see
//! [`Server::local_addr`]); [`Server::builder`] does the same with what a test injects (a clock it
//! moves, a hook every call awaits), never through the configuration; [`Server::run_until_stopped`] serves until the shutdown future resolves,
//! then reports NOT_SERVING on the health service and drains in-flight calls within the grace period.
//!
//! Lifecycle on SIGTERM/SIGINT: the health service reports NOT_SERVING and `/readyz` 503 at once;
//! the listening socket is closed (new connections are refused) and every connection gets an HTTP/2
//! GOAWAY (no new calls on it); in-flight calls have `shutdown_grace_ms` to finish; then the
//! process flushes its traces (the telemetry guard) and exits 0. The admin HTTP server
//! ([`admin`]) serves `/metrics`, `/livez` and `/readyz` beside the gRPC port, and the AuthZEN
//! HTTP server ([`authzen`]) the OpenID AuthZEN Authorization API 1.0 on a port of its own; it
//! stops accepting with the gRPC port and gets the same grace for its open requests.

pub mod admin;
pub mod app;
pub mod auth;
pub mod authzen;
pub mod cache;
pub mod clock;
pub mod config;
mod connections;
pub mod demo;
#[cfg(test)]
mod edge_tests;
pub mod error;
pub mod metrics;
mod paging;
mod services;
pub mod telemetry;
pub mod tls;
pub mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use guichet_domain::Catalog;
use guichet_store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;

use crate::app::App;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, LimitsConfig};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The catalog file is invalid.
    #[error("catalog {path}: {message}")]
    Catalog {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] guichet_store::StoreError),
    /// The database is not migrated and `migrate_on_start` is off.
    #[error("the database has pending migrations: run `guichet migrate` first (or set migrate_on_start = true)")]
    NotMigrated,
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The decision caches could not start.
    #[error("cache: {0}")]
    Cache(String),
    /// The demo data could not be loaded.
    #[error("demo data: {0}")]
    Demo(String),
    /// The reflection service could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The admin HTTP address could not be bound.
    #[error("cannot listen on {addr} (admin HTTP): {source}")]
    AdminBind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The AuthZEN HTTP address could not be bound.
    #[error("cannot listen on {addr} (AuthZEN HTTP): {source}")]
    AuthzenBind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS files or settings cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The runtime for `worker_threads` (`worker_threads` of the configuration; 0: one per CPU the
/// process may use, after its affinity and cgroup quota). One thread gets a current-thread
/// runtime: on one core the multi-threaded scheduler only adds its cross-thread wake-ups (hot
/// checks at 16 × 8 on one pinned core, alternated: 40,671 / 44,869 / 43,307 req/s against
/// 33,758 / 34,737 / 35,854 for the multi-threaded runtime with its one worker).
pub fn runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = match worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
}

/// Loads the catalog named by the configuration, or the built-in one.
pub fn load_catalog(config: &Config) -> Result<Catalog, StartError> {
    match &config.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::Catalog { path: path.display().to_string(), message: e.to_string() })?;
            Catalog::from_toml_str(&text)
                .map_err(|e| StartError::Catalog { path: path.display().to_string(), message: e.to_string() })
        }
        None => Catalog::builtin()
            .map_err(|e| StartError::Catalog { path: "(built-in)".to_owned(), message: e.to_string() }),
    }
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config, catalog: Arc<Catalog>) -> Result<Store, StartError> {
    let mut options = StoreOptions::new(config.database_url.expose());
    options.max_connections = config.database_max_connections;
    options.acquire_timeout = Duration::from_millis(config.database_acquire_timeout_ms);
    options.writer_connections = config.database_writer_connections;
    let store = Store::connect(&options, catalog).await?;
    store.set_observer(Arc::new(metrics::write_timing));
    Ok(store)
}

/// Something every guichet RPC awaits once it counts as in flight, before it is handled: tests give
/// one through [`ServerBuilder::before_call`] to hold calls in flight (during a shutdown, past a
/// deadline). It gets the RPC's path (`guichet.v1.AccessService/CheckAccess`). Production has none.
#[derive(Clone)]
pub struct BeforeCall(Arc<dyn Fn(&str) -> CallWait + Send + Sync>);

/// What a call awaits before it is handled (see [`BeforeCall`]).
pub type CallWait = Pin<Box<dyn Future<Output = ()> + Send>>;

impl BeforeCall {
    /// A hook from a function of the RPC's path returning the future to await.
    pub fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(&str) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self(Arc::new(move |rpc| Box::pin(hook(rpc))))
    }

    /// The future a call of `rpc` awaits.
    pub fn call(&self, rpc: &str) -> CallWait {
        (self.0)(rpc)
    }
}

impl std::fmt::Debug for BeforeCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeCall")
    }
}

/// [`Server::build`] with what a test injects: the clock the application reads, and a hook every
/// call awaits. The configuration stays the production one.
#[derive(Debug)]
pub struct ServerBuilder<'a> {
    config: &'a Config,
    clock: SharedClock,
    before_call: Option<BeforeCall>,
    own_metrics: bool,
}

impl ServerBuilder<'_> {
    /// The clock the application reads (the wall clock by default).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// A hook every guichet RPC awaits before it is handled (none by default).
    pub fn before_call(mut self, hook: BeforeCall) -> Self {
        self.before_call = Some(hook);
        self
    }

    /// Gives the runtime the server runs on a metrics registry of its own (shared with the other
    /// servers of that runtime), instead of the process's: for servers that share a process with
    /// others, like the in-process test servers (see [`metrics`]).
    pub fn own_metrics(mut self) -> Self {
        self.own_metrics = true;
        self
    }

    /// Validates, connects, migrates and binds, as [`Server::build`].
    pub async fn build(self) -> Result<Server, StartError> {
        Server::build_from(self).await
    }
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: App,
    grace: Duration,
    admin: admin::AdminServer,
    limits: LimitsConfig,
    before_call: Option<BeforeCall>,
    tls: Option<tls::TlsAcceptor>,
    auth: Arc<auth::Authenticator>,
    authzen: Option<authzen::AuthzenServer>,
    metrics: Option<metrics::RuntimeMetrics>,
}

impl Server {
    /// Validates the configuration, opens and migrates the store, loads the demo world when asked
    /// and the database is empty, and binds the listen address.
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        Self::builder(config).build().await
    }

    /// A [`ServerBuilder`] over `config`, with the wall clock and no hook.
    pub fn builder(config: &Config) -> ServerBuilder<'_> {
        ServerBuilder { config, clock: Arc::new(SystemClock), before_call: None, own_metrics: false }
    }

    async fn build_from(options: ServerBuilder<'_>) -> Result<Self, StartError> {
        let ServerBuilder { config, clock, before_call, own_metrics } = options;
        let metrics = own_metrics.then(metrics::RuntimeMetrics::enter);
        config.validate()?;
        let tls = config.tls.as_ref().map(tls::TlsAcceptor::new).transpose()?;
        let auth = Arc::new(auth::Authenticator::new(&config.services, config.is_open()));
        let catalog = Arc::new(load_catalog(config)?);
        let store = open_store(config, catalog.clone()).await?;
        if config.migrate_on_start {
            store.migrate().await?;
        } else if !store.is_migrated().await? {
            return Err(StartError::NotMigrated);
        }
        let cache = cache::DecisionCache::start(
            store.clone(),
            &config.cache,
            config.redis_url.as_ref().map(config::Secret::expose),
        )
        .await
        .map_err(|e| StartError::Cache(e.to_string()))?;
        let app = App::new(store, catalog, clock)
            .with_cache(cache)
            .with_request_lifetime(config.access_requests.expire_after());
        if config.demo && app.store().is_empty().await? {
            demo::load(&app).await.map_err(|e| StartError::Demo(e.to_string()))?;
            tracing::info!("demo data loaded");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let admin = admin::AdminServer::bind(config.admin.listen, app.store().clone(), app.cache().cloned())
            .await
            .map_err(|source| StartError::AdminBind { addr: config.admin.listen, source })?;
        let authzen = match config.authzen.enabled {
            true => Some(authzen::AuthzenServer::bind(config, app.clone(), auth.clone()).await?),
            false => None,
        };
        Ok(Self {
            authzen,
            listener,
            local_addr,
            app,
            grace: config.shutdown_grace(),
            admin,
            limits: config.limits.clone(),
            before_call,
            tls,
            auth,
            metrics,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the admin HTTP server (metrics, liveness, readiness) actually bound.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// The address the AuthZEN HTTP server actually bound, when it is on.
    pub fn authzen_addr(&self) -> Option<SocketAddr> {
        self.authzen.as_ref().map(authzen::AuthzenServer::local_addr)
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls for at most the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        // Held until the server has stopped.
        let _metrics = self.metrics;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let names = services::SERVICE_NAMES;
        for name in names {
            health_reporter.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
        }
        health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        let reflection = services::reflection::builder;
        let reflection_v1 = reflection().build_v1().map_err(|e| StartError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection().build_v1alpha().map_err(|e| StartError::Reflection(e.to_string()))?;

        let stopping = self.admin.stopping_flag();
        let admin = tokio::spawn(self.admin.serve());
        // The AuthZEN port stops accepting when the gRPC port does (`stop_tx`).
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let authzen = self.authzen.map(|server| {
            tokio::spawn(server.serve(async move {
                let _ = stop_rx.wait_for(|stopped| *stopped).await;
            }))
        });
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let reporter = health_reporter.clone();
        let (streams_stop, streams_stopping) = tokio::sync::watch::channel(false);
        // Every replica records passed expiries (one event each, whichever replica writes it).
        let sweeper = tokio::spawn(self.app.clone().run_expiry_sweeper(streams_stopping.clone()));
        let signal = async move {
            shutdown.await;
            // Change streams never end by themselves: end them now, so that draining does not wait
            // for them (their clients resume elsewhere with their cursor).
            let _ = streams_stop.send(true);
            tracing::info!("shutting down: reporting NOT_SERVING and draining in-flight calls");
            stopping.store(true, std::sync::atomic::Ordering::Relaxed);
            for name in names {
                reporter.set_service_status(*name, tonic_health::ServingStatus::NotServing).await;
            }
            reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            let _ = stop_tx.send(true);
            let _ = drain_tx.send(());
        };
        let limits = &self.limits;
        let max = limits.max_message_bytes;
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(limits.max_concurrent_streams)
            .http2_keepalive_interval(secs(limits.keepalive_interval_secs))
            .http2_keepalive_timeout(secs(limits.keepalive_timeout_secs));
        // tonic sends the GOAWAY at the maximum age; the forced close after the grace period is
        // `connections::AgedIo`'s (see there why tonic's own grace is not used).
        let lifetime = secs(limits.max_connection_age_secs)
            .map(|age| age + Duration::from_secs(limits.max_connection_age_grace_secs));
        if let Some(age) = secs(limits.max_connection_age_secs) {
            builder = builder.max_connection_age(age);
        }
        let outage = self.app.cache().map(|cache| {
            let cache = cache.clone();
            Arc::new(move || cache.breaker().outage()) as telemetry::Outage
        });
        let router = services::router(
            builder
                .layer(telemetry::RpcLayer::new(self.before_call, outage))
                .layer(auth::AuthLayer::new(self.auth.clone()))
                .layer(services::DecodeErrorLayer)
                .add_service(health_service.max_decoding_message_size(max).max_encoding_message_size(max))
                .add_service(reflection_v1.max_decoding_message_size(max).max_encoding_message_size(max))
                .add_service(reflection_v1alpha.max_decoding_message_size(max).max_encoding_message_size(max)),
            &self.app,
            max,
            streams_stopping,
        );
        tracing::info!(
            addr = %self.local_addr,
            tls = self.tls.is_some(),
            mtls = self.tls.as_ref().is_some_and(tls::TlsAcceptor::mtls),
            authenticated = !self.auth.is_open(),
            "guichet serving"
        );
        let serve = match self.tls {
            None => {
                let incoming = TcpListenerStream::new(self.listener)
                    .map(move |accepted| accepted.map(|tcp| connections::AgedIo::tcp(tcp, lifetime)));
                futures::future::Either::Left(router.serve_with_incoming_shutdown(incoming, signal))
            }
            Some(tls) => {
                let incoming = tls
                    .incoming(self.listener)
                    .map(move |accepted| accepted.map(|stream| connections::AgedIo::new(stream, lifetime)));
                futures::future::Either::Right(router.serve_with_incoming_shutdown(incoming, signal))
            }
        };
        tokio::pin!(serve);
        let grace = self.grace;
        let result = tokio::select! {
            result = &mut serve => result.map_err(StartError::from),
            () = async move {
                if drain_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing remaining calls");
                Ok(())
            }
        };
        admin.abort();
        sweeper.abort();
        if let Some(mut task) = authzen {
            // Its open requests had the same grace as the gRPC calls.
            if tokio::time::timeout(Duration::from_millis(100), &mut task).await.is_err() {
                task.abort();
            }
        }
        if result.is_ok() {
            tracing::info!("stopped");
        }
        result
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::runtime;

    #[test]
    fn one_worker_thread_is_a_current_thread_runtime_and_more_a_multi_threaded_one() {
        let one = runtime(1).unwrap();
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        assert_eq!(one.block_on(async { tokio::task::spawn_blocking(|| 7).await.unwrap() }), 7);
        let three = runtime(3).unwrap();
        assert_eq!(three.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(three.metrics().num_workers(), 3);
    }
}
