//! The `store-down` scenario: the uniform mix over warm caches while PostgreSQL is stopped and
//! started again. `guichet-bench outage` runs the load, runs the command that stops the database
//! after `--before` seconds, the one that starts it `--down` seconds later, and measures for
//! `--after` seconds more; it prints, for each phase (before, down, after), the checks answered,
//! their latency, the errors and the answers marked stale (beyond the server's bound too), and how
//! long after the database accepted connections again the first fresh answer came, and the last
//! error and stale answer.
//!
//! The phases are those of a request's start: `down` runs from the start of the stop command to
//! the end of the start command (`pg_ctl start -w` returns once the database accepts
//! connections), `after` from there on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use guichet_proto::v1::access_service_client::AccessServiceClient;
use guichet_proto::v1::{CheckAccessRequest, ConsistencyGiven};
use guichet_store::bulk::SeedPlan;
use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};

use crate::BoxError;
use crate::checks;
use crate::load::{Rng, ms, nanos, percent, prewarm};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct OutageOptions {
    /// `host:port` of the server.
    pub(crate) addr: String,
    /// HTTP/2 connections.
    pub(crate) connections: usize,
    /// Requests in flight per connection.
    pub(crate) streams: usize,
    /// The seeded world.
    pub(crate) plan: SeedPlan,
    /// How many distinct checks (all warmed first).
    pub(crate) distinct: u64,
    /// Load before the stop.
    pub(crate) before: Duration,
    /// From the stop to the start.
    pub(crate) down: Duration,
    /// Load after the start.
    pub(crate) after: Duration,
    /// The shell command that stops the database.
    pub(crate) stop: String,
    /// The shell command that starts it again and returns once it accepts connections.
    pub(crate) start: String,
    /// The server's `cache.serve_stale_when_store_down_ms`, to count stale answers beyond it.
    pub(crate) bound_ms: u64,
}

/// The phases, by the value of [`Shared::phase`]: 0 before the stop.
const DOWN: u8 = 1;
const AFTER: u8 = 2;
const PHASES: [&str; 3] = ["before", "down", "after"];

/// What the streams measured in one phase.
struct Phase {
    latency: Histogram<u64>,
    errors: u64,
    stale: u64,
    beyond_bound: u64,
    first_error: Option<String>,
}

impl Phase {
    fn new() -> Result<Self, BoxError> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
            errors: 0,
            stale: 0,
            beyond_bound: 0,
            first_error: None,
        })
    }

    fn merge(&mut self, other: Phase) -> Result<(), BoxError> {
        self.latency.add(&other.latency)?;
        self.errors += other.errors;
        self.stale += other.stale;
        self.beyond_bound += other.beyond_bound;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// What the streams share.
struct Shared {
    requests: Vec<CheckAccessRequest>,
    bound_ms: u64,
    /// The phase a request starting now is in.
    phase: AtomicU8,
    /// When the database accepted connections again.
    restarted: std::sync::OnceLock<Instant>,
    /// Nanoseconds after `restarted`: the first fresh answer (min), the last error and the last
    /// stale answer (max) of a request started after it.
    first_fresh: AtomicU64,
    last_error: AtomicU64,
    last_stale: AtomicU64,
    stop_streams: std::sync::atomic::AtomicBool,
}

async fn stream(
    id: u64,
    mut client: AccessServiceClient<Channel>,
    shared: Arc<Shared>,
) -> Result<[Phase; 3], BoxError> {
    let mut phases = [Phase::new()?, Phase::new()?, Phase::new()?];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let len = shared.requests.len() as u64;
    while !shared.stop_streams.load(Ordering::Relaxed) {
        let index = usize::try_from(rng.next() % len.max(1)).unwrap_or(0);
        let request = shared.requests.get(index).cloned().ok_or("no check to send")?;
        let phase = shared.phase.load(Ordering::Acquire).min(AFTER);
        let started = Instant::now();
        let result = client.check_access(request).await;
        let elapsed = started.elapsed();
        let since_restart = shared.restarted.get().filter(|_| phase == AFTER).map(|r| nanos(started - *r));
        let Some(p) = phases.get_mut(usize::from(phase)) else { continue };
        p.latency.saturating_record(nanos(elapsed));
        match result {
            Ok(response) => {
                let response = response.into_inner();
                if response.consistency_given == ConsistencyGiven::Stale as i32 {
                    p.stale += 1;
                    if response.staleness_ms > shared.bound_ms {
                        p.beyond_bound += 1;
                    }
                    if let Some(at) = since_restart {
                        shared.last_stale.fetch_max(at, Ordering::Relaxed);
                    }
                } else if let Some(at) = since_restart {
                    shared.first_fresh.fetch_min(at, Ordering::Relaxed);
                }
            }
            Err(status) => {
                p.errors += 1;
                p.first_error.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
                if let Some(at) = since_restart {
                    shared.last_error.fetch_max(at, Ordering::Relaxed);
                }
            }
        }
    }
    Ok(phases)
}

/// Runs `command` with `sh -c`; returns how long it took.
async fn shell(command: &str) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let command = command.to_owned();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(&command).stdin(std::process::Stdio::null()).status()
    })
    .await??;
    if !status.success() {
        return Err(format!("the database command failed ({status})").into());
    }
    Ok(started.elapsed())
}

/// Runs the scenario and prints the report.
pub(crate) async fn run(options: OutageOptions) -> Result<(), BoxError> {
    let requests = checks::uniform_set(&options.plan, options.distinct);
    let endpoint = Endpoint::from_shared(format!("http://{}", options.addr))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut channels = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        channels.push(endpoint.connect().await?);
    }
    prewarm(&channels, &requests).await?;
    let shared = Arc::new(Shared {
        requests,
        bound_ms: options.bound_ms,
        phase: AtomicU8::new(0),
        restarted: std::sync::OnceLock::new(),
        first_fresh: AtomicU64::new(u64::MAX),
        last_error: AtomicU64::new(0),
        last_stale: AtomicU64::new(0),
        stop_streams: std::sync::atomic::AtomicBool::new(false),
    });
    let mut tasks = Vec::new();
    let mut id = 0u64;
    for channel in &channels {
        for _ in 0..options.streams {
            tasks.push(tokio::spawn(stream(id, AccessServiceClient::new(channel.clone()), shared.clone())));
            id += 1;
        }
    }
    let began = Instant::now();
    tokio::time::sleep(options.before).await;
    shared.phase.store(DOWN, Ordering::Release);
    let down_at = Instant::now();
    let stopping = shell(&options.stop).await;
    if stopping.is_ok() {
        tokio::time::sleep_until((down_at + options.down).into()).await;
    }
    let starting = match &stopping {
        Ok(_) => shell(&options.start).await,
        Err(_) => Ok(Duration::ZERO),
    };
    let restarted = Instant::now();
    let _ = shared.restarted.set(restarted);
    shared.phase.store(AFTER, Ordering::Release);
    tokio::time::sleep(options.after).await;
    shared.stop_streams.store(true, Ordering::Relaxed);
    let mut phases = [Phase::new()?, Phase::new()?, Phase::new()?];
    for task in tasks {
        for (total, p) in phases.iter_mut().zip(task.await??) {
            total.merge(p)?;
        }
    }
    let stopping = stopping?;
    let starting = starting?;
    let spans = [down_at - began, restarted - down_at, restarted.elapsed()];
    println!(
        "scenario=store-down serve_stale_when_store_down_ms={} connections={} streams={} distinct={} stop took {:.2} s, start took {:.2} s",
        options.bound_ms,
        options.connections,
        options.streams,
        options.distinct,
        stopping.as_secs_f64(),
        starting.as_secs_f64(),
    );
    for (i, p) in phases.iter().enumerate() {
        let n = p.latency.len();
        let secs = spans.get(i).map_or(1.0, Duration::as_secs_f64).max(1e-3);
        println!(
            "  {:<6}  {:>5.1} s  {:>9} checks  {:>8.0} req/s  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  errors {} ({:.1}%)  stale {} ({:.1}%), beyond the bound {}",
            PHASES.get(i).copied().unwrap_or("?"),
            secs,
            n,
            n as f64 / secs,
            ms(&p.latency, 0.5),
            ms(&p.latency, 0.99),
            p.latency.max() as f64 / 1e6,
            p.errors,
            percent(p.errors, n),
            p.stale,
            percent(p.stale, n),
            p.beyond_bound,
        );
        if let Some(e) = &p.first_error {
            println!("          first error: {e}");
        }
    }
    let after = |a: &AtomicU64, none: &str| match a.load(Ordering::Relaxed) {
        0 | u64::MAX => none.to_owned(),
        n => format!("{:.0} ms", n as f64 / 1e6),
    };
    println!(
        "  recovery  after PostgreSQL accepted connections again: first fresh answer {}, last error {}, last stale answer {}",
        after(&shared.first_fresh, "never"),
        after(&shared.last_error, "none"),
        after(&shared.last_stale, "none"),
    );
    Ok(())
}
