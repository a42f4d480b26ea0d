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
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Human, filter: "info".to_owned() }
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
    /// Database pool size.
    pub database_max_connections: u32,
    /// How long a call waits for a database connection before `UNAVAILABLE`, in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// How long in-flight calls may take to finish after SIGTERM, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Logging.
    pub log: LogConfig,
    /// The decision caches.
    pub cache: CacheConfig,
    /// For tests only: milliseconds added to the wall clock (e.g. two days, to see invitations
    /// expire without waiting). 0 (the default) in production.
    pub test_clock_offset_ms: i64,
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
            database_max_connections: 16,
            database_acquire_timeout_ms: 5_000,
            shutdown_grace_ms: 10_000,
            log: LogConfig::default(),
            cache: CacheConfig::default(),
            test_clock_offset_ms: 0,
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
        if self.database_max_connections == 0 || self.database_max_connections > 1_000 {
            return Err(ConfigError::Invalid {
                field: "database_max_connections",
                description: "must be between 1 and 1000".to_owned(),
            });
        }
        if self.cache.redis_timeout_ms == 0 || self.cache.redis_timeout_ms > 60_000 {
            return Err(ConfigError::Invalid {
                field: "cache.redis_timeout_ms",
                description: "must be between 1 and 60000".to_owned(),
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
        Ok(())
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
    fn bad_urls_are_refused_before_start() {
        let c = Config { database_url: Secret::new("mysql://x"), ..Config::default() };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "configuration: database_url: must start with sqlite:, postgres:// or postgresql://"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config { database_url: Secret::new("postgres://u:hunter2@h/db"), ..Config::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
