//! The closed-loop load generator: `connections` HTTP/2 channels, `streams` requests in flight on
//! each, each stream sending its next request when the previous one is answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_proto::v1::access_service_client::AccessServiceClient;
use guichet_proto::v1::membership_service_client::MembershipServiceClient;
use guichet_proto::v1::{
    CacheTier, CheckAccessBatchItem, CheckAccessBatchRequest, CheckAccessRequest, SetMembershipRolesRequest,
};
use guichet_store::bulk::SeedPlan;
use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};

use crate::BoxError;
use crate::checks::{self, Scenario};
use crate::host;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct LoadOptions {
    /// `host:port` of the server.
    pub(crate) addr: String,
    /// The scenario.
    pub(crate) scenario: Scenario,
    /// HTTP/2 connections.
    pub(crate) connections: usize,
    /// Requests in flight per connection.
    pub(crate) streams: usize,
    /// Measured time.
    pub(crate) duration: Duration,
    /// Time before measuring (requests sent, not recorded).
    pub(crate) warmup: Duration,
    /// The seeded world the checks are drawn from.
    pub(crate) plan: SeedPlan,
    /// How many distinct checks the uniform mixes draw from.
    pub(crate) distinct: u64,
    /// Warm the caches with every distinct check before the uniform and writes mixes.
    pub(crate) prewarm: bool,
    /// The server's pid, to report its resident memory.
    pub(crate) server_pid: Option<u32>,
}

/// What one stream measured.
struct Tally {
    checks: Histogram<u64>,
    writes: Histogram<u64>,
    check_errors: u64,
    write_errors: u64,
    allowed: u64,
    /// Responses per `CacheTier` value (unspecified, none, local, shared).
    tiers: [u64; 4],
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Result<Self, BoxError> {
        Ok(Self {
            checks: Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
            writes: Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
            check_errors: 0,
            write_errors: 0,
            allowed: 0,
            tiers: [0; 4],
            first_error: None,
        })
    }

    fn merge(&mut self, other: Tally) -> Result<(), BoxError> {
        self.checks.add(&other.checks)?;
        self.writes.add(&other.writes)?;
        self.check_errors += other.check_errors;
        self.write_errors += other.write_errors;
        self.allowed += other.allowed;
        for (a, b) in self.tiers.iter_mut().zip(other.tiers) {
            *a += b;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// A small, fast, deterministic generator (xorshift64*), one per stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What every stream shares.
struct Shared {
    requests: Vec<CheckAccessRequest>,
    plan: SeedPlan,
    writes: bool,
    record_from: Instant,
    end: Instant,
}

async fn stream(
    id: u64,
    mut access: AccessServiceClient<Channel>,
    mut memberships: MembershipServiceClient<Channel>,
    shared: Arc<Shared>,
) -> Result<Tally, BoxError> {
    let mut tally = Tally::new()?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let len = shared.requests.len() as u64;
    let mut n_writes = 0u64;
    loop {
        let started = Instant::now();
        if started >= shared.end {
            return Ok(tally);
        }
        let recording = started >= shared.record_from;
        let draw = rng.next();
        if shared.writes && draw.is_multiple_of(100) {
            let m = checks::write_target(&shared.plan, draw / 100);
            // Replace the roles with the seeded ones, plus `user` every other time: valid whatever
            // the membership holds now (no LAST_ROLE, no LAST_ADMINISTRATOR), and always a change.
            let mut roles: Vec<String> = shared.plan.roles(m).iter().map(|r| (*r).to_owned()).collect();
            if !n_writes.is_multiple_of(2) && !roles.iter().any(|r| r == "user") {
                roles.push("user".to_owned());
            }
            let request =
                SetMembershipRolesRequest { membership_id: SeedPlan::membership_id(m), roles, ..Default::default() };
            let result = memberships.set_membership_roles(request).await.map(drop);
            n_writes += 1;
            if recording {
                tally.writes.saturating_record(nanos(started.elapsed()));
                if let Err(status) = result {
                    tally.write_errors += 1;
                    tally.first_error.get_or_insert_with(|| format!("write: {status}"));
                }
            }
            continue;
        }
        let index = usize::try_from(if len > 1 { (draw >> 8) % len } else { 0 }).unwrap_or(0);
        let Some(request) = shared.requests.get(index) else {
            return Err("no check to send".into());
        };
        let result = access.check_access(request.clone()).await;
        if recording {
            tally.checks.saturating_record(nanos(started.elapsed()));
            match result {
                Ok(response) => {
                    let response = response.into_inner();
                    if response.allowed {
                        tally.allowed += 1;
                    }
                    let tier = usize::try_from(response.cache_tier).unwrap_or(0).min(3);
                    if let Some(count) = tally.tiers.get_mut(tier) {
                        *count += 1;
                    }
                }
                Err(status) => {
                    tally.check_errors += 1;
                    tally.first_error.get_or_insert_with(|| format!("check: {status}"));
                }
            }
        }
    }
}

/// The resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e6
}

/// Runs the load and prints the report.
/// Asks every distinct check once, in batches of 1,000 (two in flight per connection), so that the
/// measured mix runs over warm caches.
async fn prewarm(channels: &[Channel], requests: &[CheckAccessRequest]) -> Result<(), BoxError> {
    let began = Instant::now();
    let chunks: Vec<Vec<CheckAccessRequest>> = requests.chunks(1_000).map(<[_]>::to_vec).collect();
    let chunks = Arc::new(std::sync::Mutex::new(chunks));
    let mut tasks = Vec::new();
    for channel in channels.iter().take(4) {
        for _ in 0..2 {
            let mut client = AccessServiceClient::new(channel.clone());
            let chunks = chunks.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some(chunk) = chunks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() else {
                        return Ok::<(), tonic::Status>(());
                    };
                    let items = chunk
                        .into_iter()
                        .map(|r| CheckAccessBatchItem {
                            subject_id: r.subject_id,
                            account_id: r.account_id,
                            permission: r.permission,
                            resource_id: r.resource_id,
                        })
                        .collect();
                    client.check_access_batch(CheckAccessBatchRequest { items, consistency: None }).await?;
                }
            }));
        }
    }
    for task in tasks {
        task.await??;
    }
    println!(
        "  prewarm  {} distinct checks in {:.1} s (CheckAccessBatch of 1,000)",
        requests.len(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) async fn run(options: LoadOptions) -> Result<(), BoxError> {
    let requests = match options.scenario {
        Scenario::Hot => vec![checks::hot(&options.plan)],
        Scenario::Uniform | Scenario::Writes => checks::uniform_set(&options.plan, options.distinct),
        Scenario::Uncached => {
            checks::uniform_set(&options.plan, options.distinct).into_iter().map(checks::fully_consistent).collect()
        }
    };
    let endpoint = Endpoint::from_shared(format!("http://{}", options.addr))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut channels = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        channels.push(endpoint.connect().await?);
    }
    if options.prewarm && matches!(options.scenario, Scenario::Uniform | Scenario::Writes) {
        prewarm(&channels, &requests).await?;
    }
    let start = Instant::now();
    let record_from = start + options.warmup;
    let shared = Arc::new(Shared {
        requests,
        plan: options.plan,
        writes: options.scenario == Scenario::Writes,
        record_from,
        end: record_from + options.duration,
    });
    // The machine is read when recording starts, by a task of its own, and again when it ends.
    let server_pid = options.server_pid;
    let window_start = tokio::spawn(async move {
        tokio::time::sleep_until(record_from.into()).await;
        host::sample(server_pid)
    });
    let mut tasks = Vec::with_capacity(options.connections * options.streams);
    let mut id = 0u64;
    for channel in &channels {
        for _ in 0..options.streams {
            let access = AccessServiceClient::new(channel.clone());
            let memberships = MembershipServiceClient::new(channel.clone());
            tasks.push(tokio::spawn(stream(id, access, memberships, shared.clone())));
            id += 1;
        }
    }
    let mut total = Tally::new()?;
    for task in tasks {
        total.merge(task.await??)?;
    }
    let measured = Instant::now().saturating_duration_since(record_from).max(Duration::from_millis(1));
    let window = (window_start.await?, host::sample(server_pid));
    let secs = measured.as_secs_f64();
    let checks = total.checks.len();
    println!(
        "scenario={} connections={} streams={} duration={:.1}s warmup={:.1}s distinct={}",
        options.scenario.name(),
        options.connections,
        options.streams,
        secs,
        options.warmup.as_secs_f64(),
        if options.scenario == Scenario::Hot { 1 } else { options.distinct },
    );
    println!(
        "  checks   {:>10.0} req/s  ({checks} in {secs:.2} s)  errors {}  allowed {:.1}%",
        checks as f64 / secs,
        total.check_errors,
        percent(total.allowed, checks),
    );
    if checks > 0 {
        println!(
            "  latency  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(&total.checks, 0.5),
            ms(&total.checks, 0.9),
            ms(&total.checks, 0.99),
            ms(&total.checks, 0.999),
            total.checks.max() as f64 / 1e6,
        );
    }
    let answered: u64 = total.tiers.iter().sum();
    println!(
        "  cache    none {:.1}%  local {:.1}%  shared {:.1}%  unspecified {:.1}%",
        percent(total.tiers[CacheTier::None as usize], answered),
        percent(total.tiers[CacheTier::Local as usize], answered),
        percent(total.tiers[CacheTier::Shared as usize], answered),
        percent(total.tiers[CacheTier::Unspecified as usize], answered),
    );
    if options.scenario == Scenario::Writes {
        let writes = total.writes.len();
        println!(
            "  writes   {:>10.1} req/s  ({writes})  errors {}  p50 {:.3} ms  p99 {:.3} ms",
            writes as f64 / secs,
            total.write_errors,
            ms(&total.writes, 0.5),
            ms(&total.writes, 0.99),
        );
    }
    if let Some(pid) = options.server_pid {
        match rss_kib(pid) {
            Some(kib) => println!("  server   RSS {:.1} MiB (pid {pid})", kib as f64 / 1024.0),
            None => println!("  server   RSS unknown (no /proc/{pid}/status)"),
        }
    }
    if let (Some(before), Some(after)) = window {
        println!("  host     {}", host::describe(&before, &after, secs));
    }
    if let Some(error) = total.first_error {
        println!("  first error: {error}");
    }
    Ok(())
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}
