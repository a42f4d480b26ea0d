//! Support for guichet's end-to-end tests. Most tests run the server in-process
//! ([`guichet_testkit::server`], re-exported here: `spawn_app`, `TestApp`, `TestDatabase`, …); the few
//! that need what only a process shows (signals, its output and exit code, a restart on the same
//! file, the exporter flushed at exit) start the real `guichet` binary with [`TestServer`].
//!
//! The binary is found through `GUICHET_BIN` (set by `make test`), else `target/debug/guichet`.
//! PostgreSQL tests run when `GUICHET_TEST_DATABASE_URL` names a server where databases may be
//! created; without it they print that they were skipped — and fail under `CI`, where skipping
//! would hide a missing service.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test support: it fails by panicking and is not an API"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use guichet_proto::v1;
pub use guichet_server::config::{Config, Secret};
pub use guichet_testkit::both_backends;
pub use guichet_testkit::server::{
    Backend, CallGate, Clients, ManualClock, Stopped, TestApp, TestDatabase, config_from_toml, dechunk, http_get, skip,
    spawn_app, test_config,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// Path of the guichet binary.
pub fn guichet_bin() -> PathBuf {
    if let Ok(p) = std::env::var("GUICHET_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = root.join("target/debug/guichet");
    assert!(
        p.exists(),
        "guichet binary not found at {}: run `make test` (it builds it) or set GUICHET_BIN",
        p.display()
    );
    p
}

/// A running guichet process.
#[derive(Debug)]
pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
    /// The admin HTTP server (`/metrics`, `/livez`, `/readyz`).
    pub admin_addr: Option<SocketAddr>,
    /// The AuthZEN HTTP server, when it is on.
    pub authzen_addr: Option<SocketAddr>,
    pub channel: Channel,
    pub database_url: String,
    stderr_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts `guichet serve` on `127.0.0.1:0` over `database_url` with extra arguments.
    pub async fn start(database_url: &str, extra: &[&str]) -> Self {
        Self::start_with_env(database_url, extra, &[]).await
    }

    /// [`TestServer::start`] with extra environment variables (`GUICHET__…`, `OTEL_…`, `RUST_LOG`).
    /// The admin HTTP server listens on `127.0.0.1:0` unless `GUICHET__ADMIN__LISTEN` is given, and
    /// so does the AuthZEN one unless `GUICHET__AUTHZEN__LISTEN` is.
    pub async fn start_with_env(database_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut s = Self::launch_with_env(database_url, extra, env).await;
        s.channel = Channel::from_shared(format!("http://{}", s.addr)).unwrap().connect().await.unwrap();
        s
    }

    /// Like [`TestServer::start`], without connecting: `channel` is a lazy plaintext channel (for
    /// servers that speak TLS, which the test connects to itself).
    pub async fn launch(database_url: &str, extra: &[&str]) -> Self {
        Self::launch_with_env(database_url, extra, &[]).await
    }

    /// [`TestServer::launch`] with extra environment variables.
    pub async fn launch_with_env(database_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let log_dir = tempfile::tempdir().unwrap();
        let stderr_path = log_dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(guichet_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .args(extra)
            .env("RUST_LOG", "warn")
            .env("GUICHET__ADMIN__LISTEN", "127.0.0.1:0")
            .env("GUICHET__AUTHZEN__LISTEN", "127.0.0.1:0")
            .env_remove("GUICHET__LISTEN")
            .env_remove("GUICHET__DATABASE_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .expect("start guichet");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut admin_addr = None;
        let mut authzen_addr = None;
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(a) = line.strip_prefix("guichet admin listening on ") {
                    admin_addr = Some(a.parse::<SocketAddr>().unwrap());
                }
                if let Some(a) = line.strip_prefix("guichet authzen listening on ") {
                    authzen_addr = Some(a.parse::<SocketAddr>().unwrap());
                }
                if let Some(a) = line.strip_prefix("guichet listening on ") {
                    return Some(a.parse::<SocketAddr>().unwrap());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(addr) = addr else {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("guichet did not start:\n{log}");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
        Self {
            child,
            addr,
            admin_addr,
            authzen_addr,
            channel,
            database_url: database_url.to_owned(),
            stderr_path,
            _log_dir: log_dir,
        }
    }

    /// What the server wrote on standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits (at most 10 s) until a line the server wrote on standard error satisfies `line`, and
    /// returns everything written so far either way: a client can see a refused call before the
    /// server has written why.
    pub async fn stderr_line(&self, line: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr();
            if log.lines().any(&line) {
                return (true, log);
            }
            if tokio::time::Instant::now() >= deadline {
                return (false, log);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (`HUP`, `TERM`, …) to the server.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        self.terminate();
        self.wait().await
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Whether the process has not exited yet.
    pub fn child_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most 30 s) for the process to exit.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.expect("exits after SIGTERM").unwrap()
    }

    /// `GET path` on the admin HTTP server: the status code and the body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_addr.expect("the server printed its admin address"), path).await
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self, extra: &[&str]) -> Self {
        let url = self.database_url.clone();
        let status = self.stop().await;
        assert!(status.success(), "guichet exited with {status}");
        Self::start(&url, extra).await
    }
}

impl Clients for TestServer {
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

/// The grpcurl binary: `GUICHET_GRPCURL`, else `grpcurl` on the PATH; `None` (skipped) otherwise.
pub fn grpcurl() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("GUICHET_GRPCURL")
        && !p.is_empty()
        && std::path::Path::new(&p).exists()
    {
        return Some(PathBuf::from(p));
    }
    let found = std::process::Command::new("sh").args(["-c", "command -v grpcurl"]).output().ok()?;
    if found.status.success() {
        let p = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    skip("grpcurl test", "grpcurl not found: run `make tools` or set GUICHET_GRPCURL");
    None
}

/// The google.rpc details of a status.
pub fn details(status: &tonic::Status) -> tonic_types::ErrorDetails {
    use tonic_types::StatusExt;
    status.get_error_details()
}

/// The field names of a status's BadRequest violations.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    details(status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The RPCs the API declares, as `Service/Method` (e.g. `AccountService/GetAccount`), for the
/// services of `guichet.v1` named in `services` (every service when empty). Tables that must
/// cover every RPC compare themselves with this list, so that a new RPC without a row fails.
pub fn declared_rpcs(services: &[&str]) -> std::collections::BTreeSet<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(guichet_proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package() == "guichet.v1")
        .flat_map(|f| f.service.iter())
        .filter(|s| services.is_empty() || services.contains(&s.name()))
        .flat_map(|s| s.method.iter().map(move |m| format!("{}/{}", s.name(), m.name())))
        .collect()
}

/// The events ListEvents answers `request` with (see `guichet_testkit::requests::events`).
pub async fn list_events(s: &impl Clients, request: v1::ListEventsRequest) -> Result<Vec<v1::Event>, tonic::Status> {
    s.events().list_events(request).await.map(|r| r.into_inner().events)
}

/// The revision of the store's latest state, read through a fully consistent access check of
/// `subject` in `account` (both must exist): two equal values mean nothing was written between.
pub async fn store_revision(s: &impl Clients, subject: &str, account: &str) -> String {
    s.access()
        .check_access(v1::CheckAccessRequest {
            subject_id: subject.into(),
            account_id: account.into(),
            permission: "users:view".into(),
            resource_id: String::new(),
            consistency: Some(v1::Consistency {
                requirement: Some(v1::consistency::Requirement::FullyConsistent(true)),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .revision
}

/// An HTTP/1.1 answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One HTTP/1.1 request over `stream` (`Connection: close`): the status, headers and body. A
/// minimal client written from RFC 9112, so the tests depend on no HTTP client library.
pub async fn http_exchange<S>(
    mut stream: S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = Vec::new();
    // A refused connection (a failed TLS handshake) shows as an answer with status 0.
    let sent = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await
    };
    if sent.await.is_ok() {
        // A TLS peer may close without close_notify once the answer is complete: keep what was read.
        let _ = stream.read_to_end(&mut raw).await;
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return HttpAnswer { status: 0, headers: Vec::new(), body: text };
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    HttpAnswer { status, headers, body }
}

/// `POST path` with a JSON body on a plaintext address.
pub async fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value, headers: &[(&str, &str)]) -> HttpAnswer {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_exchange(stream, &addr.to_string(), "POST", path, &all, body.to_string().as_bytes()).await
}

/// Any request on a plaintext address.
pub async fn http_plain(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_exchange(stream, &addr.to_string(), method, path, headers, body).await
}

/// A PostgreSQL cluster of a test's own (`guichet_testkit::postgres`), for tests that stop the
/// database: the shared server of `GUICHET_TEST_DATABASE_URL` is never stopped. Stopped
/// (`-m immediate`) when dropped.
#[derive(Debug)]
pub struct OwnPostgres(guichet_testkit::postgres::Cluster);

impl OwnPostgres {
    /// initdb + start; `None` (the test is skipped, loudly) when PostgreSQL tests are not
    /// configured or its server programs are not installed.
    pub async fn start() -> Option<Self> {
        if std::env::var("GUICHET_TEST_DATABASE_URL").is_err() {
            skip("PostgreSQL outage test", "GUICHET_TEST_DATABASE_URL is not set");
            return None;
        }
        if guichet_testkit::postgres::bin_dir().is_none() {
            skip("PostgreSQL outage test", "no /usr/lib/postgresql/*/bin/initdb");
            return None;
        }
        Some(Self(guichet_testkit::postgres::Cluster::start("guichet-test-pg", "").await.unwrap()))
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        self.0.url_of("postgres")
    }

    /// `pg_ctl start` (again) on the same port; returns once it accepts connections.
    pub async fn start_again(&mut self) {
        self.0.start_again().await.unwrap();
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash.
    pub async fn stop_immediate(&mut self) {
        self.0.stop_immediate().await.unwrap();
    }
}
