//! `guichet-bench`: guichet's benchmark tool.
//!
//! - `seed` migrates a database and fills it, through the store's bulk module
//!   ([`guichet_store::bulk`]), with a deterministic world of partner and affiliate trees, users,
//!   memberships with roles, folders with restricted memberships, and delegations;
//! - `load` drives `CheckAccess` with a closed-loop gRPC load generator (tonic clients, an HDR
//!   histogram) and prints req/s, latency percentiles, the share of answers per cache tier, the
//!   server's resident memory, and how busy the CPUs were and how much the hypervisor stole;
//! - `frames` writes one pre-encoded gRPC request body per scenario, for external load tools;
//! - `spec` prints the seeded world as data, a TOML [`WorldSpec`](guichet_domain::WorldSpec)
//!   (the world `seed` writes in bulk; see `world.rs`).
//!
//! Every id is derived from the seeding scheme, so `load` needs the same `--accounts` and
//! `--memberships` as `seed`, and never reads the database. `make bench` runs the whole thing
//! (`crates/guichet-bench/run.sh`). This crate is a tool, not part of the service: nothing depends
//! on it.

mod checks;
mod host;
mod load;
mod lookups;
mod outage;
mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use guichet_domain::{Catalog, Timestamp};
use guichet_store::bulk::SeedPlan;
use guichet_store::{Store, StoreOptions};
use prost::Message;

use crate::checks::Scenario;

/// When the seeded rows were created: a fixed instant (2026-01-01T00:00:00Z), so that two seeds of
/// the same shape are identical and the tool never reads the wall clock.
const SEED_TIME: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The error type of the tool: anything, printed once by `main`.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(name = "guichet-bench", version, about = "Seed, load and measure a guichet server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The shape of the seeded world (must be the same for `seed` and `load`).
#[derive(Debug, Clone, Copy, clap::Args)]
struct World {
    /// How many accounts.
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    /// How many memberships (one user each).
    #[arg(long, default_value_t = 1_000_000)]
    memberships: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate an empty database and seed it in bulk.
    Seed {
        /// The database (`postgres://…` or `sqlite://…`).
        #[arg(long, env = "GUICHET_BENCH_DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        world: World,
    },
    /// Drive CheckAccess on a running server and print the measurements.
    Load {
        /// The server, `HOST:PORT`.
        #[arg(long, default_value = "127.0.0.1:50061")]
        addr: String,
        /// What to send.
        #[arg(long, value_enum)]
        scenario: Scenario,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Concurrent requests in flight per connection.
        #[arg(long, default_value_t = 8)]
        streams: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds of load before measuring.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// How many distinct checks the uniform mixes draw from.
        #[arg(long, default_value_t = 100_000)]
        distinct: u64,
        /// Do not warm the caches with every distinct check (in batches of 1,000) before the
        /// uniform and writes mixes.
        #[arg(long)]
        no_prewarm: bool,
        /// The server's pid, to report its resident memory (VmRSS).
        #[arg(long)]
        server_pid: Option<u32>,
        /// The server's admin `HOST:PORT`: the writes scenarios then print the write phases the
        /// server measured (`guichet_write_phase_seconds` on `/metrics`).
        #[arg(long)]
        metrics: Option<String>,
        #[command(flatten)]
        world: World,
    },
    /// The `store-down` scenario: the uniform mix over warm caches while the database is stopped
    /// (`--stop`) and started again (`--start`), measured before, during and after (see
    /// `outage.rs`).
    Outage {
        /// The server, `HOST:PORT`.
        #[arg(long, default_value = "127.0.0.1:50061")]
        addr: String,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Concurrent requests in flight per connection.
        #[arg(long, default_value_t = 8)]
        streams: usize,
        /// How many distinct checks (all warmed first).
        #[arg(long, default_value_t = 10_000)]
        distinct: u64,
        /// Seconds of load before the stop.
        #[arg(long, default_value_t = 5.0)]
        before: f64,
        /// Seconds from the stop to the start.
        #[arg(long, default_value_t = 30.0)]
        down: f64,
        /// Seconds of load after the start.
        #[arg(long, default_value_t = 10.0)]
        after: f64,
        /// The shell command that stops the database.
        #[arg(long)]
        stop: String,
        /// The shell command that starts it and returns once it accepts connections.
        #[arg(long)]
        start: String,
        /// The server's `cache.serve_stale_when_store_down_ms` (stale answers beyond it are counted).
        #[arg(long, default_value_t = 0)]
        bound_ms: u64,
        #[command(flatten)]
        world: World,
    },
    /// Migrate an empty PostgreSQL database and write the lookup world (see `lookups.rs`).
    LookupsSeed {
        /// The database (`postgres://…`).
        #[arg(long, env = "GUICHET_BENCH_DATABASE_URL")]
        database_url: String,
    },
    /// Ask the lookups of the lookup world: first page and full listing times; with
    /// `--database-url`, the store's statements per page.
    Lookups {
        /// The server, `HOST:PORT`.
        #[arg(long, default_value = "127.0.0.1:50061")]
        addr: String,
        /// How many times the first page is asked.
        #[arg(long, default_value_t = 100)]
        repeat: usize,
        /// The database, to count the store's statements per page in this process.
        #[arg(long)]
        database_url: Option<String>,
        /// Ask only the questions whose name contains this (e.g. `ListAuthorizedSubjects`).
        #[arg(long)]
        only: Option<String>,
        /// The server's process id, for the `host` line (its CPU over the run).
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Print the seeded world as data (TOML), the world `seed` writes.
    Spec {
        #[command(flatten)]
        world: World,
    },
    /// Write one pre-encoded gRPC request body per scenario (`DIR/SCENARIO.bin`: byte 0, a 4-byte
    /// big-endian length, the CheckAccessRequest).
    Frames {
        /// Where to write them.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        world: World,
    },
}

/// The load options that count something: each at least 1.
fn at_least_one(connections: usize, streams: usize, distinct: u64) -> Result<(), BoxError> {
    if connections == 0 || streams == 0 || distinct == 0 {
        return Err("--connections, --streams and --distinct must be at least 1".into());
    }
    Ok(())
}

fn plan(world: World) -> Result<SeedPlan, BoxError> {
    Ok(SeedPlan::new(world.accounts, world.memberships)?)
}

fn seconds(s: f64) -> Result<Duration, BoxError> {
    Ok(Duration::try_from_secs_f64(s)?)
}

async fn seed(database_url: String, world: World) -> Result<(), BoxError> {
    let plan = plan(world)?;
    let mut options = StoreOptions::new(database_url);
    options.max_connections = 2;
    options.acquire_timeout = Duration::from_secs(30);
    let store = Store::connect(&options, Arc::new(Catalog::builtin()?)).await?;
    store.migrate().await?;
    let started = Instant::now();
    let counts = store.bulk_seed(&plan, SEED_TIME).await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {} accounts, {} users, {} memberships, {} membership roles, {} folders, {} restricted-folder grants, {} delegations in {elapsed:.1} s (revision {})",
        counts.accounts,
        counts.users,
        counts.memberships,
        counts.membership_roles,
        counts.resources,
        counts.membership_resources,
        counts.delegations,
        store.revision().await?.token(),
    );
    store.close().await?;
    Ok(())
}

/// The gRPC framing of a unary request body: uncompressed flag, big-endian length, message.
fn frame(request: &impl Message) -> Result<Vec<u8>, BoxError> {
    let body = request.encode_to_vec();
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(0);
    out.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn frames(out: PathBuf, world: World) -> Result<(), BoxError> {
    let plan = plan(world)?;
    std::fs::create_dir_all(&out)?;
    for scenario in Scenario::ALL {
        let request = match scenario {
            Scenario::Hot => checks::hot(&plan),
            Scenario::Uniform | Scenario::Writes | Scenario::TreeWrites => checks::uniform(&plan, 0),
            Scenario::Uncached => checks::fully_consistent(checks::uniform(&plan, 0)),
        };
        let path = out.join(format!("{}.bin", scenario.name()));
        std::fs::write(&path, frame(&request)?)?;
        println!(
            "{}: {} {} {} -> {}",
            scenario.name(),
            request.subject_id,
            request.account_id,
            request.permission,
            // The file name only: the output carries no path of the machine it ran on.
            path.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Seed { database_url, world } => seed(database_url, world).await,
        Command::Load {
            addr,
            scenario,
            connections,
            streams,
            duration,
            warmup,
            distinct,
            no_prewarm,
            server_pid,
            metrics,
            world,
        } => {
            at_least_one(connections, streams, distinct)?;
            load::run(load::LoadOptions {
                addr,
                scenario,
                connections,
                streams,
                duration: seconds(duration)?,
                warmup: seconds(warmup)?,
                plan: plan(world)?,
                distinct,
                prewarm: !no_prewarm,
                server_pid,
                metrics,
            })
            .await
        }
        Command::Outage { addr, connections, streams, distinct, before, down, after, stop, start, bound_ms, world } => {
            at_least_one(connections, streams, distinct)?;
            outage::run(outage::OutageOptions {
                addr,
                connections,
                streams,
                plan: plan(world)?,
                distinct,
                before: seconds(before)?,
                down: seconds(down)?,
                after: seconds(after)?,
                stop,
                start,
                bound_ms,
            })
            .await
        }
        Command::Frames { out, world } => frames(out, world),
        Command::LookupsSeed { database_url } => lookups::seed(&database_url).await,
        Command::Lookups { addr, repeat, database_url, only, server_pid } => {
            lookups::run(&addr, repeat, database_url.as_deref(), only.as_deref(), server_pid).await
        }
        Command::Spec { world } => {
            // Written, not printed: a closed pipe (`| head`) is an error, not a panic.
            let toml = world::spec(&plan(world)?).to_toml()?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), toml.as_bytes())?;
            Ok(())
        }
    }
}

/// The load generator must spend less per call than the server it measures, or it measures
/// itself: mimalloc for its many small allocations (as the server), and below, one thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `load` runs pinned to one CPU (`make bench`): a current-thread runtime spares it the
    // work-stealing scheduler's cross-thread wake-ups. Seeding keeps the multi-threaded one.
    let runtime = match cli.command {
        Command::Load { .. } | Command::Outage { .. } => {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        }
        Command::Seed { .. }
        | Command::Frames { .. }
        | Command::Spec { .. }
        | Command::LookupsSeed { .. }
        | Command::Lookups { .. } => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("guichet-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn a_frame_is_flag_length_message() {
        let plan = SeedPlan::new(100, 1_000).unwrap();
        let request = checks::hot(&plan);
        let bytes = frame(&request).unwrap();
        assert_eq!(bytes[0], 0);
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        assert_eq!(len, bytes.len() - 5);
        assert_eq!(guichet_proto::v1::CheckAccessRequest::decode(&bytes[5..]).unwrap(), request);
    }
}
