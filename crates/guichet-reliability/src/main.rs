//! guichet's reliability harness (`make reliability`): starts its own PostgreSQL cluster and
//! redis-server on loopback, runs real `guichet serve` processes against them, and drives fault,
//! race, freshness, hostile-input, isolation and load scenarios over gRPC. Each scenario prints one
//! line of figures; the lines go to a Markdown report with the date, the machine and the command.
//! Everything it starts it stops, on success, error or panic. It never touches a shared cluster.
//!
//! Exit status: 0 when every correctness goal holds (no lost or partial write, no INTERNAL or
//! UNKNOWN during an outage, no stale allow, no invariant violation, no panic, no undocumented
//! code, no escalation), 1 otherwise.

mod faults;
mod hostile;
mod load;
mod procs;
mod races;
mod world;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// Errors of the harness itself.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The harness's command line.
#[derive(Debug, Parser)]
#[command(name = "guichet-reliability", about = "guichet's reliability harness")]
struct Args {
    /// The bounded form for CI: seconds per scenario and small counts.
    #[arg(long, env = "GUICHET_RELIABILITY_QUICK")]
    quick: bool,
    /// The guichet binary.
    #[arg(long, env = "GUICHET_BIN", default_value = "target/debug/guichet")]
    guichet_bin: PathBuf,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "docs/reliability.md")]
    report: PathBuf,
    /// Only these scenarios (1..9), comma-separated; default all, run in priority order.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u8>,
    /// Seconds to hold the best load rate in scenario 8 (default: 10 quick, 300 full).
    #[arg(long)]
    hold_secs: Option<u64>,
}

/// Counts and durations of one run.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    /// Scenario 3: SIGKILLs.
    pub(crate) kills: usize,
    /// Scenario 2 and 1: outage length.
    pub(crate) outage: Duration,
    /// Scenario 9: how long PostgreSQL stays down.
    pub(crate) db_down: Duration,
    /// Scenario 2 and 1: load before and after the outage.
    pub(crate) steady: Duration,
    /// Scenario 1: steady checks per second.
    pub(crate) check_rate: u64,
    /// Scenario 5: pairs of each race.
    pub(crate) races: usize,
    /// Scenario 6: proptest cases per RPC.
    pub(crate) hostile_cases: u32,
    /// Scenario 4: probes.
    pub(crate) probes: usize,
    /// Scenario 8: seconds per rate step and seconds held.
    pub(crate) step: Duration,
    pub(crate) hold: Duration,
}

/// What the scenarios share: the binary, the harness's PostgreSQL and Redis, a log folder.
#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) bin: PathBuf,
    pub(crate) pg: procs::Postgres,
    pub(crate) redis: procs::Redis,
    pub(crate) logs: tempfile::TempDir,
    pub(crate) sizes: Sizes,
    databases: usize,
}

impl Env {
    /// A fresh database on the harness's cluster.
    pub(crate) fn database(&mut self) -> Result<String, BoxError> {
        self.databases += 1;
        self.pg.create_database(&format!("guichet_rel_{}", self.databases))
    }

    /// A guichet over `url`, with the harness's Redis.
    pub(crate) async fn guichet(&self, url: &str) -> Result<procs::Guichet, BoxError> {
        self.guichet_with(url, &[]).await
    }

    /// [`Env::guichet`] with extra `GUICHET__…` environment variables.
    pub(crate) async fn guichet_with(&self, url: &str, vars: &[(&str, &str)]) -> Result<procs::Guichet, BoxError> {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        procs::Guichet::start(&self.bin, url, Some(&self.redis.url()), vars, self.logs.path()).await
    }
}

/// One scenario's line and whether its goals hold.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) number: u8,
    pub(crate) line: String,
    pub(crate) ok: bool,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // On SIGINT or SIGTERM the run future is dropped, and with it every process it started.
    let outcome = tokio::select! {
        r = run(args) => r,
        () = interrupted() => Err("interrupted: stopped every process the harness started".into()),
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("guichet-reliability: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

async fn run(args: Args) -> Result<bool, BoxError> {
    if !args.guichet_bin.exists() {
        return Err(
            format!("{} not found (cargo build -p guichet-server --bin guichet)", args.guichet_bin.display()).into()
        );
    }
    let sizes = if args.quick {
        Sizes {
            kills: 4,
            outage: Duration::from_secs(2),
            db_down: Duration::from_secs(3),
            steady: Duration::from_secs(2),
            check_rate: 50,
            races: 25,
            hostile_cases: 64,
            probes: 150,
            step: Duration::from_secs(2),
            hold: Duration::from_secs(args.hold_secs.unwrap_or(5)),
        }
    } else {
        Sizes {
            kills: 20,
            outage: Duration::from_secs(5),
            db_down: Duration::from_secs(30),
            steady: Duration::from_secs(5),
            check_rate: 100,
            races: 1000,
            hostile_cases: 512,
            probes: 10_000,
            step: Duration::from_secs(5),
            hold: Duration::from_secs(args.hold_secs.unwrap_or(300)),
        }
    };
    let started = std::time::Instant::now();
    let mut env = Env {
        bin: std::fs::canonicalize(&args.guichet_bin)?,
        pg: procs::postgres().await?,
        redis: procs::Redis::start().await?,
        logs: tempfile::Builder::new().prefix("guichet-rel-logs").tempdir()?,
        sizes,
        databases: 0,
    };
    eprintln!("postgres on 127.0.0.1:{}, redis on 127.0.0.1:{}", env.pg.port, env.redis.port);
    let order: [u8; 9] = [3, 2, 9, 5, 6, 4, 1, 7, 8];
    let mut outcomes = Vec::new();
    for n in order {
        if !args.only.is_empty() && !args.only.contains(&n) {
            continue;
        }
        let t = std::time::Instant::now();
        let result = match n {
            1 => faults::redis_loss(&mut env).await,
            2 => faults::postgres_restart(&mut env).await,
            3 => faults::crash_safety(&mut env).await,
            4 => races::replicas(&mut env).await,
            5 => races::races(&mut env).await,
            6 => hostile::hostile_input(&mut env).await,
            7 => hostile::isolation(&mut env).await,
            9 => faults::postgres_down(&mut env).await,
            _ => load::load_held(&mut env).await,
        };
        let outcome = result.unwrap_or_else(|e| Outcome {
            number: n,
            line: format!("{n}. scenario failed to run: {e}"),
            ok: false,
        });
        println!("{} [{:.0}s]", outcome.line, t.elapsed().as_secs_f64());
        outcomes.push(outcome);
    }
    outcomes.sort_by_key(|o| o.number);
    let ok = outcomes.iter().all(|o| o.ok);
    write_report(&args, &outcomes, started.elapsed())?;
    Ok(ok)
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn write_report(args: &Args, outcomes: &[Outcome], took: Duration) -> Result<(), BoxError> {
    if let Some(dir) = args.report.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let root = std::env::current_dir()?;
    let command: Vec<String> = std::env::args().map(|a| portable(&a, &root)).collect();
    let mut commands = vec![format!("`{}` (scenarios {})", command.join(" "), numbers(outcomes))];
    let mut lines: Vec<(u8, String)> = outcomes.iter().map(|o| (o.number, o.line.clone())).collect();
    // With --only, the other scenarios' lines of an earlier run are kept, with its command.
    if !args.only.is_empty()
        && let Ok(old) = std::fs::read_to_string(&args.report)
    {
        for l in old.lines() {
            if let Some(c) = l.strip_prefix("- command: ") {
                commands.push(c.to_owned());
            }
            let n = l.split('.').next().and_then(|n| n.parse::<u8>().ok());
            if let Some(n) = n
                && !outcomes.iter().any(|o| o.number == n)
            {
                lines.push((n, l.to_owned()));
            }
        }
    }
    lines.sort_by_key(|(n, _)| *n);
    let all_ok = outcomes.iter().all(|o| o.ok) && !lines.iter().any(|(_, l)| l.contains("[FAIL]"));
    let mut f = std::fs::File::create(&args.report)?;
    writeln!(f, "# guichet reliability figures\n")?;
    writeln!(f, "Produced by `make reliability` (crates/guichet-reliability); do not edit by hand.\n")?;
    writeln!(f, "- date: {}", shell("date", &["-u"]))?;
    writeln!(f, "- machine: {} cores, {}", shell("nproc", &[]), shell("uname", &["-sr"]))?;
    for c in &commands {
        writeln!(f, "- command: {c}")?;
    }
    writeln!(f, "- form: {}; took {:.0} s", if args.quick { "quick (CI)" } else { "full" }, took.as_secs_f64())?;
    writeln!(f, "- verdict: {}\n", if all_ok { "every goal met" } else { "GOALS MISSED (see lines marked FAIL)" })?;
    writeln!(f, "```")?;
    for (_, l) in &lines {
        writeln!(f, "{l}")?;
    }
    writeln!(f, "```")?;
    Ok(())
}

/// A command-line argument as the report shows it: an absolute path relative to `root` (the
/// repository, where `make` runs) when it is under it, else its file name alone, so that a report
/// never carries a path of the machine it was made on; `--flag=/path` likewise.
fn portable(arg: &str, root: &Path) -> String {
    if let Some((flag, value)) = arg.split_once('=')
        && flag.starts_with("--")
    {
        return format!("{flag}={}", portable(value, root));
    }
    let path = Path::new(arg);
    if !path.is_absolute() {
        return arg.to_owned();
    }
    match path.strip_prefix(root) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    }
}

fn numbers(outcomes: &[Outcome]) -> String {
    outcomes.iter().map(|o| o.number.to_string()).collect::<Vec<_>>().join(",")
}

/// `PASS`/`FAIL` for a line.
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// The p-quantile of a histogram in milliseconds.
pub(crate) fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A histogram of microseconds.
pub(crate) fn histogram() -> Result<hdrhistogram::Histogram<u64>, BoxError> {
    Ok(hdrhistogram::Histogram::new_with_bounds(1, 120_000_000, 3)?)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::portable;

    #[test]
    fn report_commands_carry_no_machine_paths() {
        let root = Path::new("/srv/checkout");
        let args = [
            "/srv/checkout/target/release/guichet-reliability",
            "--guichet-bin",
            "/elsewhere/build/release/guichet",
            "--report=/srv/checkout/docs/reliability.md",
            "--only",
            "9",
            "target/debug/guichet",
        ];
        let shown: Vec<String> = args.iter().map(|a| portable(a, root)).collect();
        assert_eq!(
            shown,
            [
                "target/release/guichet-reliability",
                "--guichet-bin",
                "guichet",
                "--report=docs/reliability.md",
                "--only",
                "9",
                "target/debug/guichet"
            ]
        );
    }
}
