//! Configuration: built-in defaults, then an optional TOML file, then `GUICHET__…` environment
//! variables (`GUICHET__DATABASE_URL`, `GUICHET__LOG__FORMAT`, …), then command-line flags. The whole
//! of it is validated before a port is bound; an unknown key is an error, not a silent default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret string (a database URL with its password, a token): never printed.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret from its value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter; `RUST_LOG` itself wins when set.
    pub filter: String,
    /// Log the line of every answered `CheckAccess`/`CheckAccessBatch` at info (it is at debug
    /// otherwise: the check path runs tens of thousands of times a second).
    pub check_calls: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Human, filter: "info".to_owned(), check_calls: false }
    }
}

/// OpenTelemetry settings. The standard `OTEL_*` variables win over these
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`); `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` are read by the SDK.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint (`http://otel-collector:4317`); none: no trace export.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { otlp_endpoint: None, service_name: "guichet".to_owned() }
    }
}

/// The admin HTTP server: `/metrics` (Prometheus text), `/livez`, `/readyz`. Always on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP server; port 0 picks a free one.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 9090)) }
    }
}

/// The AuthZEN Authorization API 1.0 over HTTP/JSON (see [`crate::authzen`]): a listener of its
/// own, with the gRPC port's TLS, callers and scopes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzenConfig {
    /// Serve it (default true).
    pub enabled: bool,
    /// Address of the AuthZEN HTTP server; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The Policy Decision Point identifier: the base URL callers reach this server at
    /// (`https://guichet.example.internal:8443`), published as `policy_decision_point` by
    /// `/.well-known/authzen-configuration` and the base of the endpoint URLs there. Taken from
    /// here, never from a request's Host header. Unset: `http://` (or `https://` with `[tls]`) and
    /// the bound address, which only a loopback `listen` may rely on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// A connection that carries no byte either way this long is closed, in seconds (a client
    /// cannot hold connections open by sending nothing, or a request byte by byte).
    pub idle_timeout_secs: u64,
}

impl Default for AuthzenConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8181)),
            public_url: None,
            idle_timeout_secs: 60,
        }
    }
}

/// Access requests (ApprovalService/RequestAccess, and the AuthZEN access request endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessRequestsConfig {
    /// How long a request waits for its approvers before it expires, in seconds (default
    /// 604800: 7 days; 60 to 31536000, one year).
    pub expire_after_secs: u64,
}

impl Default for AccessRequestsConfig {
    fn default() -> Self {
        Self { expire_after_secs: guichet_domain::DEFAULT_REQUEST_LIFETIME_SECS }
    }
}

impl AccessRequestsConfig {
    /// The lifetime of a request.
    pub fn expire_after(&self) -> Duration {
        Duration::from_secs(self.expire_after_secs)
    }
}

/// Connection and request limits of the gRPC server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request or response message, in bytes, on every service.
    pub max_message_bytes: usize,
    /// Concurrent HTTP/2 streams (calls) per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval, in seconds; 0: no pings.
    pub keepalive_interval_secs: u64,
    /// How long to wait for a keep-alive ping's answer before closing, in seconds.
    pub keepalive_timeout_secs: u64,
    /// Age after which a connection is asked to go away (HTTP/2 GOAWAY), in seconds, so clients
    /// reconnect and load spreads over new replicas; 0: never.
    pub max_connection_age_secs: u64,
    /// How long calls may still run on a connection past its maximum age before it is closed, in
    /// seconds.
    pub max_connection_age_grace_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_streams: 1_024,
            keepalive_interval_secs: 60,
            keepalive_timeout_secs: 20,
            max_connection_age_secs: 0,
            max_connection_age_grace_secs: 30,
        }
    }
}

/// The decision caches (see [`crate::cache`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How many decisions the in-process tier keeps; 0 turns it off.
    pub in_process_capacity: u64,
    /// How many bytes (approximate) the in-process tier may hold.
    pub in_process_max_bytes: u64,
    /// The prefix of every Redis key and of the pub/sub channel (one per deployment or test).
    pub redis_key_prefix: String,
    /// How long a decision lives in Redis, in milliseconds.
    pub redis_ttl_ms: u64,
    /// The bound on every Redis call, in milliseconds.
    pub redis_timeout_ms: u64,
    /// Publish and subscribe to invalidations through Redis. Only tests turn it off, to show that
    /// a lost message never makes an answer stale.
    pub pubsub: bool,
    /// The fence window, in milliseconds (see [`crate::cache`]): a replica answers from its caches
    /// without a store round trip while its latest fence query started less than this long ago, and
    /// every write waits this long after its commit before it returns. The same value on every
    /// replica; 0 makes each check wait for a fence query of its own and writes return at once.
    pub fence_window_ms: u64,
    /// While the store cannot be reached, answer a check from a cache tier for at most this many
    /// milliseconds after this replica last confirmed it knew every change, each such answer marked
    /// `CONSISTENCY_GIVEN_STALE` with its staleness (see [`crate::cache`]); past it, and for checks
    /// not in a tier, `fully_consistent` ones and `at_least_as_fresh` tokens newer than what the
    /// replica confirmed: UNAVAILABLE. 0 (the default) never answers stale.
    pub serve_stale_when_store_down_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            in_process_capacity: 100_000,
            in_process_max_bytes: 64 * 1024 * 1024,
            redis_key_prefix: "guichet:".to_owned(),
            redis_ttl_ms: 600_000,
            redis_timeout_ms: 50,
            pubsub: true,
            fence_window_ms: 10,
            serve_stale_when_store_down_ms: 0,
        }
    }
}

/// guichet's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the gRPC server listens on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `sqlite://./data/guichet.db?mode=rwc` (default) or `postgres://user@host/db`.
    pub database_url: Secret,
    /// Redis URL for the shared decision cache; none: in-process cache only.
    pub redis_url: Option<Secret>,
    /// Apply pending migrations at start (otherwise run `guichet migrate` first).
    pub migrate_on_start: bool,
    /// Load the demo world when the database holds no account.
    pub demo: bool,
    /// A catalog file (TOML) replacing the built-in catalog.
    pub catalog: Option<PathBuf>,
    /// Threads that run the server's tasks; 0 (the default): one per CPU the process may use (its
    /// affinity and cgroup quota). With one, the server runs on a single-threaded runtime, which
    /// spares a one-core replica the work-stealing scheduler's cross-thread wake-ups.
    pub worker_threads: usize,
    /// The reads' database pool size: checks that miss, fence queries, lookups, management reads.
    pub database_max_connections: u32,
    /// The writer pool's size: write transactions take their connection from a pool of their own,
    /// so that they never wait behind reads for one, nor hold one of the reads' while they wait for
    /// the revision lock. Writes are serialised by the store's revision row whatever the size; with
    /// 1 (the default) a replica's writes queue for the connection in the process, in order. 0:
    /// writes share the reads' pool.
    pub database_writer_connections: u32,
    /// How long a call waits for a database connection before `UNAVAILABLE`, in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// How long in-flight calls may take to finish after SIGTERM, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Logging.
    pub log: LogConfig,
    /// Tracing export.
    pub telemetry: TelemetryConfig,
    /// The admin HTTP server (metrics, liveness, readiness).
    pub admin: AdminConfig,
    /// Connection and request limits.
    pub limits: LimitsConfig,
    /// The AuthZEN HTTP server.
    pub authzen: AuthzenConfig,
    /// The decision caches.
    pub cache: CacheConfig,
    /// Access requests.
    pub access_requests: AccessRequestsConfig,
    /// Serve gRPC without TLS. Unset: only on a loopback `listen` without `[tls]` (the development
    /// default); a non-loopback address needs `[tls]` or `plaintext = true` explicitly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<bool>,
    /// TLS (and mTLS with `client_ca_file`); see [`crate::tls`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// The calling services, their scopes and credentials; see [`crate::auth`]. None on a plaintext
    /// loopback listener: calls are not authenticated (the development default).
    pub services: Vec<crate::auth::ServiceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: Secret::new("sqlite://./data/guichet.db?mode=rwc"),
            redis_url: None,
            migrate_on_start: true,
            demo: false,
            catalog: None,
            worker_threads: 0,
            database_max_connections: 16,
            database_writer_connections: 1,
            database_acquire_timeout_ms: 5_000,
            shutdown_grace_ms: 10_000,
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            admin: AdminConfig::default(),
            limits: LimitsConfig::default(),
            authzen: AuthzenConfig::default(),
            cache: CacheConfig::default(),
            access_requests: AccessRequestsConfig::default(),
            plaintext: None,
            tls: None,
            services: Vec::new(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type or an unknown key.
    #[error("configuration: {0}")]
    Load(String),
    /// A value is out of range.
    #[error("configuration: {field}: {description}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
}

impl Config {
    /// Defaults, then `file` (when given), then `GUICHET__…` variables from the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!("file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("GUICHET__").split("__"));
        let config: Config = figment.extract().map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and formats.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                field: "database_url",
                description: "must start with sqlite:, postgres:// or postgresql://".to_owned(),
            });
        }
        if let Some(r) = &self.redis_url
            && !(r.expose().starts_with("redis://") || r.expose().starts_with("rediss://"))
        {
            return Err(ConfigError::Invalid {
                field: "redis_url",
                description: "must start with redis:// or rediss://".to_owned(),
            });
        }
        let lifetime = self.access_requests.expire_after_secs;
        if !(60..=31_536_000).contains(&lifetime) {
            return Err(ConfigError::Invalid {
                field: "access_requests.expire_after_secs",
                description: "must be between 60 (a minute) and 31536000 (a year)".to_owned(),
            });
        }
        if self.worker_threads > 1_024 {
            return Err(ConfigError::Invalid {
                field: "worker_threads",
                description: "must be between 0 (one per CPU) and 1024".to_owned(),
            });
        }
        if self.database_max_connections == 0 || self.database_max_connections > 1_000 {
            return Err(ConfigError::Invalid {
                field: "database_max_connections",
                description: "must be between 1 and 1000".to_owned(),
            });
        }
        if self.database_writer_connections > 100 {
            return Err(ConfigError::Invalid {
                field: "database_writer_connections",
                description: "must be between 0 (share the reads' pool) and 100".to_owned(),
            });
        }
        if self.cache.redis_timeout_ms == 0 || self.cache.redis_timeout_ms > 60_000 {
            return Err(ConfigError::Invalid {
                field: "cache.redis_timeout_ms",
                description: "must be between 1 and 60000".to_owned(),
            });
        }
        if self.cache.fence_window_ms > 1_000 {
            return Err(ConfigError::Invalid {
                field: "cache.fence_window_ms",
                description: "must be at most 1000 (every write waits this long before it returns)".to_owned(),
            });
        }
        if self.cache.serve_stale_when_store_down_ms > 86_400_000 {
            return Err(ConfigError::Invalid {
                field: "cache.serve_stale_when_store_down_ms",
                description: "must be at most 86400000 (a day); 0 never serves stale answers".to_owned(),
            });
        }
        if self.cache.redis_ttl_ms < 1_000 {
            return Err(ConfigError::Invalid {
                field: "cache.redis_ttl_ms",
                description: "must be at least 1000".to_owned(),
            });
        }
        if self.cache.redis_key_prefix.is_empty() || self.cache.redis_key_prefix.len() > 200 {
            return Err(ConfigError::Invalid {
                field: "cache.redis_key_prefix",
                description: "must be 1 to 200 characters".to_owned(),
            });
        }
        if let Some(c) = &self.catalog
            && !c.exists()
        {
            return Err(ConfigError::Invalid {
                field: "catalog",
                description: format!("file {} does not exist", c.display()),
            });
        }
        if self.limits.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid {
                field: "limits.max_message_bytes",
                description: "must be at least 1024".to_owned(),
            });
        }
        if self.limits.max_concurrent_streams == 0 {
            return Err(ConfigError::Invalid {
                field: "limits.max_concurrent_streams",
                description: "must be at least 1".to_owned(),
            });
        }
        if let Some(e) = &self.telemetry.otlp_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: "telemetry.otlp_endpoint",
                description: "must start with http:// or https://".to_owned(),
            });
        }
        self.validate_authzen()?;
        self.validate_transport()
    }

    /// Checks `[authzen]`: a public URL that can be a PDP identifier, required off loopback.
    fn validate_authzen(&self) -> Result<(), ConfigError> {
        let a = &self.authzen;
        if !a.enabled {
            return Ok(());
        }
        if a.idle_timeout_secs == 0 || a.idle_timeout_secs > 3_600 {
            return Err(ConfigError::Invalid {
                field: "authzen.idle_timeout_secs",
                description: "must be between 1 and 3600".to_owned(),
            });
        }
        let invalid = |description: String| ConfigError::Invalid { field: "authzen.public_url", description };
        match &a.public_url {
            Some(url) => {
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                match rest {
                    None => return Err(invalid("must start with https:// (or http:// without TLS)".to_owned())),
                    Some(r) if r.is_empty() || r.starts_with('/') => {
                        return Err(invalid("must name a host".to_owned()));
                    }
                    Some(_) if url.contains(['?', '#']) => {
                        return Err(invalid("must have no query or fragment".to_owned()));
                    }
                    Some(_) if url.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                        return Err(invalid("must not contain spaces".to_owned()));
                    }
                    Some(_) => {}
                }
            }
            None if !a.listen.ip().is_loopback() => {
                return Err(invalid(format!(
                    "required when authzen.listen ({}) is not a loopback address: the URL callers use, \
                     e.g. https://guichet.example.internal:{}",
                    a.listen,
                    a.listen.port()
                )));
            }
            None => {}
        }
        if a.listen == self.listen && a.listen.port() != 0 {
            return Err(ConfigError::Invalid {
                field: "authzen.listen",
                description: format!("{} is the gRPC listen address too", a.listen),
            });
        }
        Ok(())
    }

    /// Checks `plaintext`, `[tls]` and `[[services]]` together.
    fn validate_transport(&self) -> Result<(), ConfigError> {
        let invalid = |(field, description): (&'static str, String)| ConfigError::Invalid { field, description };
        let loopback =
            self.listen.ip().is_loopback() && (!self.authzen.enabled || self.authzen.listen.ip().is_loopback());
        match (&self.tls, self.plaintext) {
            (Some(_), Some(true)) => {
                return Err(invalid(("plaintext", "cannot be true when [tls] is configured".to_owned())));
            }
            (Some(tls), _) => crate::tls::validate(tls).map_err(invalid)?,
            (None, Some(false)) => {
                return Err(invalid(("tls", "plaintext = false needs [tls] cert_file and key_file".to_owned())));
            }
            (None, Some(true)) => {}
            (None, None) if loopback => {}
            (None, None) => {
                return Err(invalid((
                    "tls",
                    format!(
                        "listen {} is not a loopback address: configure [tls] cert_file and key_file, \
                         or set plaintext = true explicitly",
                        if self.listen.ip().is_loopback() { self.authzen.listen } else { self.listen }
                    ),
                )));
            }
        }
        crate::auth::validate(&self.services).map_err(invalid)?;
        if self.services.is_empty() && !self.is_open() {
            return Err(invalid((
                "services",
                "no [[services]] configured: every call would be refused; calls go unauthenticated only in \
                 plaintext on a loopback address"
                    .to_owned(),
            )));
        }
        Ok(())
    }

    /// Whether calls go unauthenticated: no `[[services]]`, plaintext, on loopback addresses only
    /// (the gRPC one, and the AuthZEN one when it is on).
    pub fn is_open(&self) -> bool {
        self.services.is_empty()
            && self.tls.is_none()
            && self.listen.ip().is_loopback()
            && (!self.authzen.enabled || self.authzen.listen.ip().is_loopback())
    }

    /// The drain deadline.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_development_setup() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(c.database_url.expose(), "sqlite://./data/guichet.db?mode=rwc");
        assert!(c.redis_url.is_none());
        c.validate().unwrap();
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:6000\"\n[log]\nformat = \"json\"\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.log.format, LogFormat::Json);

        std::fs::write(&path, "listn = \"127.0.0.1:6000\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn operations_sections_load_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        std::fs::write(
            &path,
            "[admin]\nlisten = \"0.0.0.0:9191\"\n[telemetry]\notlp_endpoint = \"http://collector:4317\"\n\
             [limits]\nmax_connection_age_secs = 300\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.admin.listen.port(), 9191);
        assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(c.telemetry.service_name, "guichet");
        assert_eq!(c.limits.max_connection_age_secs, 300);
        assert_eq!(c.limits.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(Config::default().admin.listen.to_string(), "127.0.0.1:9090");
        let bad = Config {
            telemetry: TelemetryConfig { otlp_endpoint: Some("collector:4317".into()), ..TelemetryConfig::default() },
            ..Config::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "configuration: telemetry.otlp_endpoint: must start with http:// or https://"
        );
    }

    #[test]
    fn bad_urls_are_refused_before_start() {
        let c = Config { database_url: Secret::new("mysql://x"), ..Config::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "configuration: database_url: must start with sqlite:, postgres:// or postgresql://"
        );
    }

    #[test]
    fn the_writer_pool_is_bounded() {
        assert_eq!(Config::default().database_writer_connections, 1);
        for ok in [0, 1, 100] {
            Config { database_writer_connections: ok, ..Config::default() }.validate().unwrap();
        }
        let c = Config { database_writer_connections: 101, ..Config::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "configuration: database_writer_connections: must be between 0 (share the reads' pool) and 100"
        );
    }

    #[test]
    fn worker_threads_are_bounded() {
        for ok in [0, 1, 1_024] {
            Config { worker_threads: ok, ..Config::default() }.validate().unwrap();
        }
        let c = Config { worker_threads: 1_025, ..Config::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "configuration: worker_threads: must be between 0 (one per CPU) and 1024"
        );
    }

    #[test]
    fn plaintext_is_the_default_on_loopback_only() {
        let public = Config { listen: SocketAddr::from(([0, 0, 0, 0], 50051)), ..Config::default() };
        assert_eq!(
            public.validate().unwrap_err().to_string(),
            "configuration: tls: listen 0.0.0.0:50051 is not a loopback address: configure [tls] cert_file and \
             key_file, or set plaintext = true explicitly"
        );
        let service = crate::auth::ServiceConfig {
            name: "shop".to_owned(),
            scopes: vec![crate::auth::Scope::Check],
            token_sha256: Some("ab".repeat(32)),
            identities: Vec::new(),
        };
        let explicit = Config { plaintext: Some(true), services: vec![service], ..public.clone() };
        explicit.validate().unwrap();
        assert!(!explicit.is_open());
        let open = Config { plaintext: Some(true), ..public };
        assert!(open.validate().unwrap_err().to_string().starts_with("configuration: services: no [[services]]"));
        assert!(Config::default().is_open());
    }

    #[test]
    fn the_tls_section_is_read_from_the_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        let cert = dir.path().join("tls.crt");
        std::fs::write(&cert, "x").unwrap();
        let toml = format!(
            "plaintext = true\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n\n[[services]]\nname = \"a\"\nscopes = [\"admin\"]\n\
             identities = [\"spiffe://x/a\"]\n",
            cert.display().to_string(),
            cert.display().to_string()
        );
        std::fs::write(&path, &toml).unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert_eq!(err, "configuration: plaintext: cannot be true when [tls] is configured");
        std::fs::write(&path, toml.replace("plaintext = true\n", "")).unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!((tls.reload_interval_secs, tls.client_ca_file), (30, None));
        std::fs::write(&path, toml.replace("plaintext = true\n", "").replace("tls.crt\"\n\n", "missing.key\"\n\n"))
            .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.starts_with("configuration: tls.key_file: file ") && err.ends_with("missing.key does not exist"),
            "{err}"
        );
    }

    #[test]
    fn the_authzen_listener_is_on_loopback_by_default_and_needs_a_public_url_elsewhere() {
        let c = Config::default();
        assert!(c.authzen.enabled);
        assert_eq!(c.authzen.listen.to_string(), "127.0.0.1:8181");
        let service = crate::auth::ServiceConfig {
            name: "gw".to_owned(),
            scopes: vec![crate::auth::Scope::Check],
            token_sha256: Some("ab".repeat(32)),
            identities: Vec::new(),
        };
        let public = |url: Option<&str>| Config {
            plaintext: Some(true),
            services: vec![service.clone()],
            authzen: AuthzenConfig {
                enabled: true,
                listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
                public_url: url.map(str::to_owned),
                idle_timeout_secs: 60,
            },
            ..Config::default()
        };
        assert!(public(None).validate().unwrap_err().to_string().starts_with(
            "configuration: authzen.public_url: required when authzen.listen (0.0.0.0:8443) is not a loopback"
        ));
        public(Some("https://pdp.example.com")).validate().unwrap();
        for (bad, why) in [
            ("pdp.example.com", "must start with https://"),
            ("https://", "must name a host"),
            ("https://pdp.example.com/?x=1", "no query"),
            ("https://pdp.example.com/#x", "no query or fragment"),
        ] {
            let e = public(Some(bad)).validate().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // The AuthZEN port off loopback makes the server refuse to go unauthenticated.
        let open = Config { services: Vec::new(), ..public(Some("https://pdp.example.com")) };
        assert!(!open.is_open());
        assert!(open.validate().unwrap_err().to_string().starts_with("configuration: services:"));
        let plain = Config { plaintext: None, ..public(Some("https://pdp.example.com")) };
        assert!(plain.validate().unwrap_err().to_string().contains("listen 0.0.0.0:8443 is not a loopback"));
        // Off, it asks for nothing.
        let off = Config { authzen: AuthzenConfig { enabled: false, ..public(None).authzen }, ..Config::default() };
        off.validate().unwrap();
        assert!(off.is_open());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config { database_url: Secret::new("postgres://u:hunter2@h/db"), ..Config::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
