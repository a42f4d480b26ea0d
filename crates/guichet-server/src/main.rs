//! The `guichet` binary: `serve`, `migrate`, `demo`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use guichet_server::config::{Config, Secret};
use guichet_server::{Server, StartError, load_catalog, open_store, shutdown_signal, telemetry};

/// mimalloc rather than the system allocator: a cached check allocates and frees a few dozen small
/// blocks (HTTP/2 frames, headers, the response), and glibc's malloc spent about an eighth of the
/// server's time on them under load (`perf`, see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// guichet — identity and access for customer portals.
///
/// Internal services ask it over gRPC whether a person may do something in an account
/// (CheckAccess); portal back-ends manage accounts, users, roles, memberships and delegations.
/// Settings come from built-in defaults, then --config FILE, then GUICHET__* environment variables
/// (GUICHET__LISTEN, GUICHET__DATABASE_URL, GUICHET__REDIS_URL, GUICHET__LOG__FORMAT, …), then flags.
#[derive(Debug, Parser)]
#[command(name = "guichet", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server (health and reflection included).
    ///
    /// Prints `guichet listening on ADDR` on standard output once it accepts calls. Stops on
    /// SIGTERM or Ctrl-C, letting in-flight calls finish.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on [default: 127.0.0.1:50051; port 0 picks a free port].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Redis URL for the shared decision cache [default: none, in-process cache only].
        #[arg(long, value_name = "URL")]
        redis_url: Option<String>,
        /// Load the demo world (the seeds' partner, customers, users, folders) into an empty database.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations, then exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Load the demo world into an empty database (migrating it first), then exit.
    Demo {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (default: sqlite://./data/guichet.db?mode=rwc; or postgres://user@host/db).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

fn load(common: &Common) -> Result<Config, StartError> {
    let mut config = Config::load(common.config.as_deref())?;
    if let Some(url) = &common.database_url {
        config.database_url = Secret::new(url.clone());
    }
    config.validate()?;
    Ok(config)
}

/// The configuration of a command: its file, environment and flags, validated.
fn configure(command: &Command) -> Result<Config, StartError> {
    match command {
        Command::Serve { common, listen, redis_url, demo } => {
            let mut config = load(common)?;
            if let Some(l) = listen {
                config.listen = *l;
            }
            if let Some(r) = redis_url {
                config.redis_url = Some(Secret::new(r.clone()));
            }
            config.demo |= *demo;
            config.validate()?;
            Ok(config)
        }
        Command::Migrate { common } | Command::Demo { common } => load(common),
    }
}

async fn run(command: Command, config: Config) -> Result<(), StartError> {
    match command {
        Command::Serve { .. } => {
            let _telemetry = telemetry::init(&config);
            let server = Server::build(&config).await?;
            let addr = server.local_addr();
            let mut out = std::io::stdout();
            let _ = writeln!(out, "guichet admin listening on {}", server.admin_addr());
            let authzen = server.authzen_addr();
            if let Some(a) = authzen {
                let _ = writeln!(out, "guichet authzen listening on {a}");
            }
            let _ = writeln!(out, "guichet listening on {addr}");
            if config.demo && config.tls.is_none() && config.is_open() {
                for line in guichet_server::demo::try_it(addr) {
                    let _ = writeln!(out, "{line}");
                }
                if let Some(a) = authzen {
                    let _ = writeln!(out, "{}", authzen_try_line(a));
                }
            }
            let _ = out.flush();
            server.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate { .. } => {
            let _telemetry = telemetry::init(&config);
            let store = open_store(&config, Arc::new(load_catalog(&config)?)).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo { .. } => {
            let _telemetry = telemetry::init(&config);
            let catalog = Arc::new(load_catalog(&config)?);
            let store = open_store(&config, catalog.clone()).await?;
            store.migrate().await?;
            if !store.is_empty().await? {
                return Err(StartError::Demo(
                    "the database already holds accounts: the demo loads into an empty one".into(),
                ));
            }
            let app = guichet_server::app::App::new(store, catalog, Arc::new(guichet_server::clock::SystemClock));
            guichet_server::demo::load(&app).await.map_err(|e| StartError::Demo(e.to_string()))?;
            println!("demo data loaded");
            Ok(())
        }
    }
}

/// The AuthZEN question `make run` prints for a newcomer to paste (the demo world's Marc and the
/// folder he was given).
fn authzen_try_line(addr: SocketAddr) -> String {
    format!(
        "curl -s -H 'Content-Type: application/json' -d '{{\"subject\":{{\"type\":\"user\",\"id\":\"marc\"}},\
         \"action\":{{\"name\":\"read\"}},\"resource\":{{\"type\":\"folder\",\"id\":\"bm-dossier-2025\"}}}}' \
         http://{addr}/access/v1/evaluation   # AuthZEN: may Marc read folder bm-dossier-2025? (decision: true)"
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match configure(&cli.command) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("guichet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match guichet_server::runtime(config.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("guichet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guichet: {e}");
            ExitCode::FAILURE
        }
    }
}
