//! A PostgreSQL cluster of a test's (or a harness's) own, for what the shared server cannot show:
//! the database stopping and starting again under a running guichet. `initdb` into a temporary
//! folder, `pg_ctl` on a free port of 127.0.0.1, trust authentication, stopped at once when its
//! handle drops. Run as root, the programs run as the `postgres` user.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Why the cluster could not be made, started or stopped.
pub type ClusterError = Box<dyn std::error::Error + Send + Sync>;

/// The cluster; see the [module docs](self).
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The port it listens on (127.0.0.1 only).
    pub port: u16,
    settings: String,
    as_postgres: bool,
    running: bool,
}

/// The folder of PostgreSQL's server programs (`/usr/lib/postgresql/<newest>/bin`), if installed.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

impl Cluster {
    /// `initdb` into a temporary folder named from `prefix`, then starts it with the server
    /// `settings` (`-c name=value …`, or empty) added to its command line.
    pub async fn start(prefix: &str, settings: &str) -> Result<Self, ClusterError> {
        let bin = bin_dir().ok_or("no /usr/lib/postgresql/*/bin/initdb found")?;
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut pg = Self { bin, dir, port, settings: settings.to_owned(), as_postgres, running: false };
        let data = pg.data();
        run(pg.command("initdb").arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]))?;
        pg.start_again().await?;
        Ok(pg)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The URL of its database `name` (`postgres` is always there).
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// `pg_ctl start` (again) on the same port; returns once it accepts connections.
    pub async fn start_again(&mut self) -> Result<(), ClusterError> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 {}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        let log = self.dir.path().join("postgres.log");
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", opts.trim_end(), "start"]);
        tokio::task::spawn_blocking(move || run(&mut c)).await??;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop -m fast`: the server ends its sessions and stops cleanly.
    pub async fn stop_fast(&mut self) -> Result<(), ClusterError> {
        self.stop("fast").await
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash.
    pub async fn stop_immediate(&mut self) -> Result<(), ClusterError> {
        self.stop("immediate").await
    }

    async fn stop(&mut self, mode: &str) -> Result<(), ClusterError> {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-w", "-m", mode, "stop"]);
        tokio::task::spawn_blocking(move || run(&mut c)).await??;
        self.running = false;
        Ok(())
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let port = self.port.to_string();
        run(Command::new(self.bin.join("createdb")).args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name]))?;
        Ok(self.url_of(name))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.command("pg_ctl").arg("-D").arg(self.data()).args(["-w", "-m", "immediate", "stop"]).output();
        }
    }
}

fn run(c: &mut Command) -> Result<(), ClusterError> {
    let out = c.stdin(Stdio::null()).output()?;
    if out.status.success() {
        return Ok(());
    }
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Err(format!("{c:?} failed ({}): {stdout}{stderr}", out.status).into())
}
