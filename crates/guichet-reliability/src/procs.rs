//! The processes the harness owns: a PostgreSQL cluster in a temporary folder (the test kit's), a redis-server and
//! `guichet serve` replicas, all on loopback and free ports, all stopped when their handle drops
//! (on success, on error and on panic).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

pub(crate) use guichet_testkit::postgres::Cluster as Postgres;

use crate::BoxError;

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub(crate) fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The harness's PostgreSQL cluster (see `guichet_testkit::postgres`), with room for the
/// connections of several replicas.
pub(crate) async fn postgres() -> Result<Postgres, BoxError> {
    Postgres::start("guichet-rel-pg", "-c max_connections=300").await
}

/// A redis-server of the harness's own (no persistence), killed on drop.
#[derive(Debug)]
pub(crate) struct Redis {
    child: Option<Child>,
    /// Its port.
    pub(crate) port: u16,
}

impl Redis {
    /// Starts redis-server on a free port and waits until it answers.
    pub(crate) async fn start() -> Result<Self, BoxError> {
        let mut r = Self { child: None, port: free_port()? };
        r.start_again().await?;
        Ok(r)
    }

    /// The URL to give guichet.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port.
    pub(crate) async fn start_again(&mut self) -> Result<(), BoxError> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// SIGKILL.
    pub(crate) async fn kill(&mut self) -> Result<(), BoxError> {
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        Ok(())
    }
}

/// A `guichet serve` process, killed on drop.
#[derive(Debug)]
pub(crate) struct Guichet {
    child: Child,
    /// A channel to it.
    pub(crate) channel: Channel,
    /// What it was started with, to restart it.
    database_url: String,
    redis_url: Option<String>,
    vars: Vec<(String, String)>,
    log: PathBuf,
}

impl Guichet {
    /// Starts `guichet serve --listen 127.0.0.1:0` and reads the address it prints.
    pub(crate) async fn start(
        bin: &Path,
        database_url: &str,
        redis_url: Option<&str>,
        vars: Vec<(String, String)>,
        log_dir: &Path,
    ) -> Result<Self, BoxError> {
        let log = log_dir.join(format!("guichet-{}.log", free_port()?));
        let stderr = std::fs::File::create(&log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").args(["--listen", "127.0.0.1:0", "--database-url", database_url]);
        if let Some(r) = redis_url {
            cmd.args(["--redis-url", r]);
        }
        let mut child = cmd
            .env("RUST_LOG", "error")
            // Several servers run at once: each takes a free admin HTTP port.
            .env("GUICHET__ADMIN__LISTEN", "127.0.0.1:0")
            .env("GUICHET__AUTHZEN__LISTEN", "127.0.0.1:0")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("GUICHET__LISTEN")
            .env_remove("GUICHET__DATABASE_URL")
            .env_remove("GUICHET__REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(90), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(a) = line.strip_prefix("guichet listening on ") {
                    return a.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(addr) = addr else {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("guichet did not start:\n{text}").into());
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await?;
        Ok(Self {
            child,
            channel,
            database_url: database_url.to_owned(),
            redis_url: redis_url.map(str::to_owned),
            vars,
            log,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL and wait.
    pub(crate) async fn kill(&mut self) -> Result<(), BoxError> {
        self.child.kill().await?;
        Ok(())
    }

    /// Whether the process is still running (false = it died by itself).
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Starts a new process with the same settings.
    pub(crate) async fn restart(&self, bin: &Path) -> Result<Self, BoxError> {
        let dir = self.log.parent().ok_or("log dir")?.to_owned();
        Self::start(bin, &self.database_url, self.redis_url.as_deref(), self.vars.clone(), &dir).await
    }

    /// What it wrote on stderr.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory in KiB (Linux).
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok())
    }
}
