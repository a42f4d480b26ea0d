//! The server in-process on port 0, with a manual clock.
//!
//! [`spawn_app`] runs [`guichet_server::Server`] (built through [`Server::builder`], so the
//! configuration is the production struct with nothing test-only in it) inside the test's own
//! runtime, on `127.0.0.1:0` for the gRPC, admin HTTP and AuthZEN ports, and returns a [`TestApp`]:
//! its addresses, a connected channel and a tonic client per service, the admin HTTP helper, a
//! [`ManualClock`] the test moves, and a shutdown that drains like SIGTERM does. A [`CallGate`]
//! given to [`TestApp::builder`] holds calls in flight for as long as the test wants.
//!
//! [`TestDatabase`] gives each test a fresh database: a SQLite file in a temporary folder, or a
//! PostgreSQL database of its own on the server named by `GUICHET_TEST_DATABASE_URL`, dropped when
//! the test ends. Without that variable PostgreSQL tests say loudly that they were skipped (and
//! fail under `CI`, where a skip would hide a missing service); [`both_backends!`](crate::both_backends)
//! writes the pair of tests.
//!
//! One file on purpose: the harness (`TestApp`, its builder, clock, gate and database) is one
//! tool whose pieces are used together by every test.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness fails the test by panicking when the server cannot start"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use guichet_domain::Timestamp;
use guichet_proto::v1;
use guichet_server::clock::{Clock, SystemClock};
use guichet_server::config::{Config, Secret};
use guichet_server::{BeforeCall, Server, StartError};
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Reports a skipped test loudly; under CI a skip is a failure.
pub fn skip(what: &str, why: &str) {
    assert!(!in_ci(), "{what} must run in CI but cannot: {why}");
    eprintln!("SKIPPED {what}: {why}");
}

/// A database for one test, dropped (for PostgreSQL) when the test ends.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database, or `None` when PostgreSQL is not configured (the test is skipped).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("guichet.db").display());
                Some(Self { url, _dir: Some(dir), pg_admin: None })
            }
            Backend::Postgres => {
                let Ok(admin) = std::env::var("GUICHET_TEST_DATABASE_URL") else {
                    skip("PostgreSQL test", "GUICHET_TEST_DATABASE_URL is not set");
                    return None;
                };
                let name = format!("guichet_t_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(admin.as_str()).await.expect("connect to GUICHET_TEST_DATABASE_URL");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                conn.close().await.unwrap();
                let (base, _) = admin.rsplit_once('/').expect("GUICHET_TEST_DATABASE_URL ends with /database");
                Some(Self { url: format!("{base}/{name}"), _dir: None, pg_admin: Some((admin, name)) })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Best effort, on a thread of its own: Drop may run inside a runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(conn) = Database::connect(admin.as_str()).await {
                        let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Writes a test once per backend: `both_backends!(name => body_fn)` makes the tests
/// `name::on_sqlite` and `name::on_postgres`, each calling `body_fn(Backend::…)` (an async function
/// of the same module) on a multi-threaded runtime. `body_fn`
/// gets its database with [`TestDatabase::new`], which skips (loudly) without PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident),+ $(,)?) => {
        $crate::__both_backends! { $($name => $body),+ }
    };
}

/// The expansion of [`both_backends!`]: a module per test name, so that the pair shows together
/// in the test list (`name::on_sqlite`, `name::on_postgres`) without a crate that pastes idents.
#[doc(hidden)]
#[macro_export]
macro_rules! __both_backends {
    ($($name:ident => $body:ident),+) => {
        $(
            mod $name {
                // The bodies are boxed: a sweep over every RPC is a future too large for a test
                // thread's stack.
                #[tokio::test(flavor = "multi_thread")]
                async fn on_sqlite() {
                    Box::pin(super::$body($crate::server::Backend::Sqlite)).await;
                }
                #[tokio::test(flavor = "multi_thread")]
                async fn on_postgres() {
                    Box::pin(super::$body($crate::server::Backend::Postgres)).await;
                }
            }
        )+
    };
}

/// A clock the test moves: it starts at the wall clock's now and stands still until
/// [`ManualClock::advance`] moves it. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at the wall clock's now.
    pub fn new() -> Self {
        Self::at(SystemClock.now())
    }

    /// A clock standing at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self { now_ms: Arc::new(AtomicI64::new(now.as_millis())) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

/// Holds guichet RPCs in flight: while it is closed every guichet call waits in the server (it
/// already counts as in flight) until [`CallGate::open`]; the test sees how many wait with
/// [`CallGate::held`]. It is given to the server as a [`BeforeCall`] hook (calls of health and
/// reflection are not held).
#[derive(Debug, Clone)]
pub struct CallGate {
    open: watch::Sender<bool>,
    held: Arc<AtomicUsize>,
}

impl CallGate {
    /// A closed gate: every call waits.
    pub fn closed() -> Self {
        Self { open: watch::channel(false).0, held: Arc::new(AtomicUsize::new(0)) }
    }

    /// Lets every waiting and future call through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// How many calls wait at the gate now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Waits (at most 30 s) until `n` calls wait at the gate together.
    pub async fn wait_held(&self, n: usize) {
        for _ in 0..3_000 {
            if self.held() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} calls never waited at the gate together (now {})", self.held());
    }

    fn hook(&self) -> BeforeCall {
        let open = self.open.clone();
        let held = self.held.clone();
        BeforeCall::new(move |_rpc| {
            let mut open = open.subscribe();
            let held = held.clone();
            async move {
                if *open.borrow_and_update() {
                    return;
                }
                // Counted while it waits, uncounted when it passes or the call is dropped.
                struct Waiting(Arc<AtomicUsize>);
                impl Drop for Waiting {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                held.fetch_add(1, Ordering::SeqCst);
                let _waiting = Waiting(held);
                let _ = open.wait_for(|open| *open).await;
            }
        })
    }
}

/// The configuration of a test server over `database_url`: the defaults, with every port on
/// `127.0.0.1:0`. Tests change what they need with struct update syntax.
pub fn test_config(database_url: &str) -> Config {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = Config { listen: any, database_url: Secret::new(database_url), ..Config::default() };
    config.admin.listen = any;
    config.authzen.listen = any;
    config
}

/// A configuration from TOML text over the defaults (for the tests that write `[tls]` and
/// `[[services]]` tables as an operator would), with the ports of [`test_config`] unless the text
/// names them. Panics with the error when the text is not a valid configuration.
pub fn config_from_toml(database_url: &str, text: &str) -> Config {
    let parsed: Config = toml::from_str(text).unwrap_or_else(|e| panic!("test configuration: {e}\n{text}"));
    let defaults = Config::default();
    let base = test_config(database_url);
    let mut config = Config { database_url: base.database_url.clone(), ..parsed };
    if config.listen == defaults.listen {
        config.listen = base.listen;
    }
    if config.admin.listen == defaults.admin.listen {
        config.admin.listen = base.admin.listen;
    }
    if config.authzen.listen == defaults.authzen.listen {
        config.authzen.listen = base.authzen.listen;
    }
    config
}

/// Builds a [`TestApp`]: a clock and a gate of the test's own, when it needs them.
#[derive(Debug)]
pub struct TestAppBuilder {
    config: Config,
    clock: ManualClock,
    gate: Option<CallGate>,
    own_runtime: bool,
}

impl TestAppBuilder {
    /// Reads `clock` instead of a fresh [`ManualClock`].
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = clock;
        self
    }

    /// Holds every guichet call at `gate` while it is closed.
    pub fn gate(mut self, gate: CallGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Runs the server on a runtime of its own, on a thread of its own, built as the binary builds
    /// it from `worker_threads` (one: a current-thread runtime, as on a one-CPU pod), instead of
    /// on the test's runtime.
    pub fn own_runtime(mut self) -> Self {
        self.own_runtime = true;
        self
    }

    /// Builds and serves; the error when the server cannot start.
    pub async fn try_start(self) -> Result<TestApp, StartError> {
        let TestAppBuilder { config, clock, gate, own_runtime } = self;
        let hook = gate.as_ref().map(CallGate::hook);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let (addr, admin_addr, authzen_addr, task) = if own_runtime {
            let (bound_tx, bound_rx) = oneshot::channel();
            let (done_tx, done_rx) = oneshot::channel();
            let (config, clock) = (config.clone(), clock.clone());
            std::thread::spawn(move || {
                let runtime = guichet_server::runtime(config.worker_threads).unwrap();
                let done = runtime.block_on(async move {
                    let server = match build(&config, clock, hook).await {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = bound_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = bound_tx.send(Ok((server.local_addr(), server.admin_addr(), server.authzen_addr())));
                    server.run_until_stopped(stop).await.map_err(|e| e.to_string())
                });
                let _ = done_tx.send(done);
            });
            let (addr, admin_addr, authzen_addr) = bound_rx.await.unwrap()?;
            let task =
                tokio::spawn(async move { done_rx.await.unwrap_or_else(|_| Err("the server's thread died".into())) });
            (addr, admin_addr, authzen_addr, task)
        } else {
            let server = build(&config, clock.clone(), hook).await?;
            let bound = (server.local_addr(), server.admin_addr(), server.authzen_addr());
            let task = tokio::spawn(async move { server.run_until_stopped(stop).await.map_err(|e| e.to_string()) });
            (bound.0, bound.1, bound.2, task)
        };
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let endpoint = Channel::from_shared(format!("{scheme}://{addr}")).unwrap();
        // A TLS server is connected to by the test itself: the channel is lazy then.
        let channel = if config.tls.is_some() { endpoint.connect_lazy() } else { endpoint.connect().await.unwrap() };
        Ok(TestApp {
            addr,
            admin_addr,
            authzen_addr,
            channel,
            clock,
            gate,
            config,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// Builds and serves; panics when the server cannot start.
    pub async fn start(self) -> TestApp {
        match self.try_start().await {
            Ok(app) => app,
            Err(e) => panic!("guichet did not start: {e}"),
        }
    }
}

async fn build(config: &Config, clock: ManualClock, hook: Option<BeforeCall>) -> Result<Server, StartError> {
    // Tests of one process each read their own server's metrics.
    let mut builder = Server::builder(config).clock(Arc::new(clock)).own_metrics();
    if let Some(hook) = hook {
        builder = builder.before_call(hook);
    }
    builder.build().await
}

/// Starts guichet in-process with `config` (see [`test_config`]), a fresh [`ManualClock`] and no
/// gate.
pub async fn spawn_app(config: Config) -> TestApp {
    TestApp::builder(config).start().await
}

/// How a test server stopped.
#[derive(Debug)]
pub struct Stopped(Result<(), String>);

impl Stopped {
    /// Whether `run_until_stopped` returned `Ok` (what makes the binary exit 0).
    pub fn success(&self) -> bool {
        self.0.is_ok()
    }

    /// The error it returned, if any.
    pub fn error(&self) -> Option<&str> {
        self.0.as_ref().err().map(String::as_str)
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(()) => f.write_str("a clean stop"),
            Err(e) => write!(f, "error: {e}"),
        }
    }
}

/// guichet running inside the test's runtime.
#[derive(Debug)]
pub struct TestApp {
    /// The gRPC address.
    pub addr: SocketAddr,
    /// The admin HTTP server (`/metrics`, `/livez`, `/readyz`).
    pub admin_addr: SocketAddr,
    /// The AuthZEN HTTP server, when it is on.
    pub authzen_addr: Option<SocketAddr>,
    /// A channel connected to [`TestApp::addr`] (lazy for a TLS server).
    pub channel: Channel,
    /// The clock the server reads.
    pub clock: ManualClock,
    gate: Option<CallGate>,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl TestApp {
    /// A builder over `config`.
    pub fn builder(config: Config) -> TestAppBuilder {
        TestAppBuilder { config, clock: ManualClock::new(), gate: None, own_runtime: false }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database URL it uses.
    pub fn database_url(&self) -> &str {
        self.config.database_url.expose()
    }

    /// The gate given to the builder.
    pub fn gate(&self) -> Option<&CallGate> {
        self.gate.as_ref()
    }

    /// Starts the shutdown (what SIGTERM does: NOT_SERVING, the listener closed, GOAWAY, in-flight
    /// calls drained within `shutdown_grace_ms`) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (at most 30 s) until the server stopped.
    pub async fn wait(&mut self) -> Stopped {
        let Some(task) = self.task.take() else { return Stopped(Err("already stopped".into())) };
        let joined = tokio::time::timeout(Duration::from_secs(30), task).await.expect("stops within 30 s");
        Stopped(match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("the server task failed: {e}")),
        })
    }

    /// Shuts down, drains and waits.
    pub async fn stop(mut self) -> Stopped {
        self.begin_shutdown();
        self.wait().await
    }

    /// Stops (asserting a clean stop) and starts a new server with the same configuration,
    /// database, clock and gate.
    pub async fn restart(self) -> Self {
        let config = self.config.clone();
        self.restart_with(config).await
    }

    /// Stops (asserting a clean stop) and starts a new server over `config`, keeping the clock and
    /// the gate.
    pub async fn restart_with(mut self, config: Config) -> Self {
        let clock = self.clock.clone();
        let gate = self.gate.clone();
        self.begin_shutdown();
        let status = self.wait().await;
        assert!(status.success(), "guichet stopped with {:?}", status.error());
        let mut builder = Self::builder(config).clock(clock);
        if let Some(gate) = gate {
            builder = builder.gate(gate);
        }
        builder.start().await
    }

    /// `GET path` on the admin HTTP server: the status code and the body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_addr, path).await
    }
}

/// Writes [`Clients`]: one method a service, named by the client it gives.
macro_rules! clients {
    ($($method:ident => $module:ident::$client:ident),+ $(,)?) => {
        /// The tonic clients of a server reached through one channel: implemented by [`TestApp`] and by
        /// the end-to-end tests' `guichet` process, so that helpers that build a world or ask a question
        /// serve both.
        pub trait Clients {
            /// The channel the clients share.
            fn channel(&self) -> Channel;
            $(
                #[doc = concat!("The `", stringify!($client), "` over [`Clients::channel`].")]
                fn $method(&self) -> v1::$module::$client<Channel> {
                    v1::$module::$client::new(self.channel())
                }
            )+
        }
    };
}

clients! {
    access => access_service_client::AccessServiceClient,
    accounts => account_service_client::AccountServiceClient,
    users => user_service_client::UserServiceClient,
    roles => role_service_client::RoleServiceClient,
    memberships => membership_service_client::MembershipServiceClient,
    resources => resource_service_client::ResourceServiceClient,
    events => event_service_client::EventServiceClient,
    delegations => delegation_service_client::DelegationServiceClient,
    invitations => invitation_service_client::InvitationServiceClient,
    approvals => approval_service_client::ApprovalServiceClient,
    contacts => contact_service_client::ContactServiceClient,
}

impl Clients for TestApp {
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that ends without stopping its server: the shutdown starts (the stop sender is
        // dropped) and the server stops serving at once.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A minimal HTTP/1.1 `GET`: the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (code, body)
}

/// The body of a `Transfer-Encoding: chunked` answer.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_server_reads_the_manual_clock_and_a_gate_holds_calls_until_opened() {
        let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
        let gate = CallGate::closed();
        let clock = ManualClock::at(Timestamp::from_millis(1_000_000));
        let mut app = TestApp::builder(test_config(&db.url)).clock(clock.clone()).gate(gate.clone()).start().await;
        let mut accounts = app.accounts();
        let call = tokio::spawn(async move {
            accounts.get_account(v1::GetAccountRequest { id: "nowhere".into(), ..Default::default() }).await
        });
        gate.wait_held(1).await;
        assert!(!call.is_finished());
        gate.open();
        assert_eq!(call.await.unwrap().unwrap_err().code(), tonic::Code::NotFound);
        assert_eq!(gate.held(), 0);
        clock.advance(Duration::from_secs(2));
        assert_eq!(app.clock.now().as_millis(), 1_002_000);
        app.begin_shutdown();
        assert!(app.wait().await.success());
    }
}
