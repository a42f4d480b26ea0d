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
    /// The server's admin `host:port`, to read the write phases it measured from `/metrics`.
    pub(crate) metrics: Option<String>,
}

/// What one stream measured of one group of checks.
struct Checks {
    latency: Histogram<u64>,
    errors: u64,
    allowed: u64,
    /// Responses per `CacheTier` value (unspecified, none, local, shared).
    tiers: [u64; 4],
}

impl Checks {
    fn new() -> Result<Self, BoxError> {
        Ok(Self { latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)?, errors: 0, allowed: 0, tiers: [0; 4] })
    }

    fn merge(&mut self, other: Checks) -> Result<(), BoxError> {
        self.latency.add(&other.latency)?;
        self.errors += other.errors;
        self.allowed += other.allowed;
        for (a, b) in self.tiers.iter_mut().zip(other.tiers) {
            *a += b;
        }
        Ok(())
    }
}

/// The checks of the uniform mix (outside the edited tree in `tree-writes`).
const OTHER: usize = 0;
/// The checks in the edited tree (`tree-writes`).
const EDITED: usize = 1;

/// What one stream measured.
struct Tally {
    /// [`OTHER`] and [`EDITED`] checks.
    checks: [Checks; 2],
    writes: Histogram<u64>,
    write_errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Result<Self, BoxError> {
        Ok(Self {
            checks: [Checks::new()?, Checks::new()?],
            writes: Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
            write_errors: 0,
            first_error: None,
        })
    }

    fn merge(&mut self, other: Tally) -> Result<(), BoxError> {
        let [other_checks, edited] = other.checks;
        self.checks[OTHER].merge(other_checks)?;
        self.checks[EDITED].merge(edited)?;
        self.writes.add(&other.writes)?;
        self.write_errors += other.write_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// A small, fast, deterministic generator (xorshift64*), one per stream.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What every stream shares.
struct Shared {
    requests: Vec<CheckAccessRequest>,
    plan: SeedPlan,
    writes: bool,
    /// The edited tree of `tree-writes`.
    tree: Option<checks::Tree>,
    /// Writes made in the edited tree, by every stream: the `n`-th changes target `n mod len`,
    /// adding `user` every other round, so that consecutive writes of a membership change it.
    tree_writes: std::sync::atomic::AtomicU64,
    record_from: Instant,
    end: Instant,
}

/// Calls out of 1,000 that go to the edited tree in `tree-writes` (one in nine of them a write).
const TREE_PER_MILLE: u64 = 20;

/// A SetMembershipRoles of membership `m` to its seeded roles, plus `user` when `add_user`.
fn set_roles(plan: &SeedPlan, m: u64, add_user: bool) -> SetMembershipRolesRequest {
    let mut roles: Vec<String> = plan.roles(m).iter().map(|r| (*r).to_owned()).collect();
    if add_user && !roles.iter().any(|r| r == "user") {
        roles.push("user".to_owned());
    }
    SetMembershipRolesRequest { membership_id: SeedPlan::membership_id(m), roles, ..Default::default() }
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
        let write = if let Some(tree) = &shared.tree {
            if draw % 1_000 < TREE_PER_MILLE {
                if (draw / 1_000).is_multiple_of(9) {
                    let n = shared.tree_writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let len = tree.targets.len() as u64;
                    let m = tree.targets.get(usize::try_from(n % len).unwrap_or(0)).copied().unwrap_or(0);
                    Some(set_roles(&shared.plan, m, (n / len) % 2 == 1))
                } else {
                    let i = usize::try_from((draw >> 20) % tree.checks.len() as u64).unwrap_or(0);
                    let request = tree.checks.get(i).cloned().ok_or("no check in the edited tree")?;
                    check(&mut access, request, recording.then_some(&mut tally), EDITED, started).await;
                    continue;
                }
            } else {
                None
            }
        } else if shared.writes && draw.is_multiple_of(100) {
            // Replace the roles with the seeded ones, plus `user` every other time: valid whatever
            // the membership holds now (no LAST_ROLE, no LAST_ADMINISTRATOR), and always a change.
            let m = checks::write_target(&shared.plan, draw / 100);
            Some(set_roles(&shared.plan, m, !n_writes.is_multiple_of(2)))
        } else {
            None
        };
        if let Some(request) = write {
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
        check(&mut access, request.clone(), recording.then_some(&mut tally), OTHER, started).await;
    }
}

/// Sends one check and, with a tally, records it in `group`.
async fn check(
    access: &mut AccessServiceClient<Channel>,
    request: CheckAccessRequest,
    tally: Option<&mut Tally>,
    group: usize,
    started: Instant,
) {
    let result = access.check_access(request).await;
    let Some(tally) = tally else { return };
    let Some(checks) = tally.checks.get_mut(group) else { return };
    checks.latency.saturating_record(nanos(started.elapsed()));
    match result {
        Ok(response) => {
            let response = response.into_inner();
            if response.allowed {
                checks.allowed += 1;
            }
            let tier = usize::try_from(response.cache_tier).unwrap_or(0).min(3);
            if let Some(count) = checks.tiers.get_mut(tier) {
                *count += 1;
            }
        }
        Err(status) => {
            checks.errors += 1;
            tally.first_error.get_or_insert_with(|| format!("check: {status}"));
        }
    }
}

/// The resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e6
}

/// Runs the load and prints the report.
/// Asks every distinct check once, in batches of 1,000 (two in flight per connection), so that the
/// measured mix runs over warm caches.
pub(crate) async fn prewarm(channels: &[Channel], requests: &[CheckAccessRequest]) -> Result<(), BoxError> {
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
    let tree = match options.scenario {
        Scenario::TreeWrites => Some(checks::tree(&options.plan).ok_or("the world is too small for tree-writes")?),
        Scenario::Hot | Scenario::Uniform | Scenario::Writes | Scenario::Uncached => None,
    };
    let requests = match options.scenario {
        Scenario::Hot => vec![checks::hot(&options.plan)],
        Scenario::Uniform | Scenario::Writes => checks::uniform_set(&options.plan, options.distinct),
        Scenario::TreeWrites => {
            let edited = tree.as_ref().map(|t| t.account.clone()).unwrap_or_default();
            let mut set = checks::uniform_set(&options.plan, options.distinct);
            set.retain(|r| r.account_id != edited);
            set
        }
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
    if options.prewarm && matches!(options.scenario, Scenario::Uniform | Scenario::Writes | Scenario::TreeWrites) {
        let mut all = requests.clone();
        all.extend(tree.iter().flat_map(|t| t.checks.iter().cloned()));
        prewarm(&channels, &all).await?;
    }
    let start = Instant::now();
    let record_from = start + options.warmup;
    let shared = Arc::new(Shared {
        requests,
        plan: options.plan,
        writes: options.scenario == Scenario::Writes,
        tree,
        tree_writes: std::sync::atomic::AtomicU64::new(0),
        record_from,
        end: record_from + options.duration,
    });
    // The machine is read when recording starts, by a task of its own, and again when it ends.
    let server_pid = options.server_pid;
    let metrics_addr = options.metrics.clone();
    let window_start = tokio::spawn(async move {
        tokio::time::sleep_until(record_from.into()).await;
        let phases = match &metrics_addr {
            Some(addr) => phases(addr).await.ok(),
            None => None,
        };
        (host::sample(server_pid), phases)
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
    let phases_after = match &options.metrics {
        Some(addr) => phases(addr).await.ok(),
        None => None,
    };
    let ((sample_start, phases_before), sample_end) = (window_start.await?, host::sample(server_pid));
    let secs = measured.as_secs_f64();
    println!(
        "scenario={} connections={} streams={} duration={:.1}s warmup={:.1}s distinct={}",
        options.scenario.name(),
        options.connections,
        options.streams,
        secs,
        options.warmup.as_secs_f64(),
        if options.scenario == Scenario::Hot { 1 } else { options.distinct },
    );
    let [other, edited] = &total.checks;
    if options.scenario == Scenario::TreeWrites {
        print_checks("checks in the other trees", other, secs);
        print_checks("checks in the edited tree", edited, secs);
    } else {
        print_checks("checks", other, secs);
    }
    if matches!(options.scenario, Scenario::Writes | Scenario::TreeWrites) {
        let writes = total.writes.len();
        println!(
            "  writes   {:>10.1} req/s  ({writes})  errors {}  p50 {:.3} ms  p99 {:.3} ms",
            writes as f64 / secs,
            total.write_errors,
            ms(&total.writes, 0.5),
            ms(&total.writes, 0.99),
        );
        if let (Some(before), Some(after)) = (phases_before, phases_after) {
            println!("  server   write phases, mean per write: {}", describe_phases(&before, &after));
        }
    }
    if let Some(pid) = options.server_pid {
        match rss_kib(pid) {
            Some(kib) => println!("  server   RSS {:.1} MiB (pid {pid})", kib as f64 / 1024.0),
            None => println!("  server   RSS unknown (no /proc/{pid}/status)"),
        }
    }
    if let (Some(before), Some(after)) = (sample_start, sample_end) {
        println!("  host     {}", host::describe(&before, &after, secs));
    }
    if let Some(error) = total.first_error {
        println!("  first error: {error}");
    }
    Ok(())
}

/// Prints the rate, latency and cache tiers of a group of checks.
fn print_checks(label: &str, c: &Checks, secs: f64) {
    let n = c.latency.len();
    println!("  {label}");
    println!(
        "  checks   {:>10.0} req/s  ({n} in {secs:.2} s)  errors {}  allowed {:.1}%",
        n as f64 / secs,
        c.errors,
        percent(c.allowed, n),
    );
    if n > 0 {
        println!(
            "  latency  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(&c.latency, 0.5),
            ms(&c.latency, 0.9),
            ms(&c.latency, 0.99),
            ms(&c.latency, 0.999),
            c.latency.max() as f64 / 1e6,
        );
    }
    let answered: u64 = c.tiers.iter().sum();
    println!(
        "  cache    none {:.1}%  local {:.1}%  shared {:.1}%  unspecified {:.1}%  (hit ratio {:.1}%)",
        percent(c.tiers[CacheTier::None as usize], answered),
        percent(c.tiers[CacheTier::Local as usize], answered),
        percent(c.tiers[CacheTier::Shared as usize], answered),
        percent(c.tiers[CacheTier::Unspecified as usize], answered),
        percent(c.tiers[CacheTier::Local as usize] + c.tiers[CacheTier::Shared as usize], answered),
    );
}

/// The write phases the server measured so far: `phase -> (sum of seconds, count)`, read from
/// `guichet_write_phase_seconds` on its `/metrics`.
type Phases = std::collections::BTreeMap<String, (f64, f64)>;

/// Reads the server's `/metrics` (admin `host:port`) and keeps the write phases.
async fn phases(addr: &str) -> Result<Phases, BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    let mut out = Phases::new();
    for line in text.lines() {
        for (suffix, sum) in [("_sum", true), ("_count", false)] {
            let Some(rest) = line.strip_prefix(&format!("guichet_write_phase_seconds{suffix}{{phase=\"")) else {
                continue;
            };
            let Some((phase, value)) = rest.split_once("\"} ") else { continue };
            let value: f64 = value.trim().parse()?;
            let entry = out.entry(phase.to_owned()).or_insert((0.0, 0.0));
            if sum {
                entry.0 = value;
            } else {
                entry.1 = value;
            }
        }
    }
    Ok(out)
}

/// The mean of each phase over the measured window, in milliseconds.
fn describe_phases(before: &Phases, after: &Phases) -> String {
    let order = ["acquire", "lock_wait", "locked", "transaction", "commit_wait"];
    let mut parts = Vec::new();
    for phase in order {
        let (Some(a), b) = (after.get(phase), before.get(phase).copied().unwrap_or((0.0, 0.0))) else { continue };
        let n = a.1 - b.1;
        if n > 0.0 {
            parts.push(format!("{phase} {:.2} ms", (a.0 - b.0) / n * 1e3));
        }
    }
    let n = after.get("transaction").map_or(0.0, |a| a.1) - before.get("transaction").map_or(0.0, |b| b.1);
    format!("{} ({n:.0} transactions)", parts.join("  "))
}

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}
