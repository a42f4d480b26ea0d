//! The processes the harness owns: a PostgreSQL cluster in a temporary folder, a redis-server and
//! `guichet serve` replicas, all on loopback and free ports, all stopped when their handle drops
//! (on success, on error and on panic).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::BoxError;

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub(crate) fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The folder of PostgreSQL's server programs (`/usr/lib/postgresql/<newest>/bin`).
fn pg_bin_dir() -> Result<PathBuf, BoxError> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| "no /usr/lib/postgresql/*/bin/initdb found".into())
}

/// A PostgreSQL cluster of the harness's own: initdb into a temporary folder, pg_ctl on a free port.
#[derive(Debug)]
pub(crate) struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The port it listens on (127.0.0.1 only).
    pub(crate) port: u16,
    as_postgres: bool,
    running: bool,
}

impl Postgres {
    fn command(&self, program: &str) -> std::process::Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            std::process::Command::new(exe)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// initdb + start.
    pub(crate) async fn start() -> Result<Self, BoxError> {
        let bin = pg_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("guichet-rel-pg").tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(std::process::Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let mut pg = Self { bin, dir, port: free_port()?, as_postgres, running: false };
        let data = pg.data();
        run(pg.command("initdb").arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]))?;
        pg.start_again().await?;
        Ok(pg)
    }

    /// `pg_ctl start` on the same port (after a stop).
    pub(crate) async fn start_again(&mut self) -> Result<(), BoxError> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let data = self.data();
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &opts, "start"]);
        tokio::task::spawn_blocking(move || run(&mut c)).await??;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop -m fast`.
    pub(crate) async fn stop_fast(&mut self) -> Result<(), BoxError> {
        let data = self.data();
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&data).args(["-w", "-m", "fast", "stop"]);
        tokio::task::spawn_blocking(move || run(&mut c)).await??;
        self.running = false;
        Ok(())
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash.
    pub(crate) async fn stop_immediate(&mut self) -> Result<(), BoxError> {
        let data = self.data();
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&data).args(["-w", "-m", "immediate", "stop"]);
        tokio::task::spawn_blocking(move || run(&mut c)).await??;
        self.running = false;
        Ok(())
    }

    /// Creates a database and returns its URL.
    pub(crate) fn create_database(&self, name: &str) -> Result<String, BoxError> {
        run(std::process::Command::new(self.bin.join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            name,
        ]))?;
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.command("pg_ctl").arg("-D").arg(&data).args(["-w", "-m", "immediate", "stop"]).output();
        }
    }
}

fn run(c: &mut std::process::Command) -> Result<(), BoxError> {
    let out = c.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into())
    }
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
