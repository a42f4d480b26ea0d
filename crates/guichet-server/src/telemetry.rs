//! Logs and traces. `init` installs the subscriber and returns a guard that flushes on drop.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogConfig, LogFormat};

/// Flushes telemetry when dropped.
#[derive(Debug)]
pub struct TelemetryGuard {
    _private: (),
}

/// Installs the global subscriber (logs to stderr). `RUST_LOG` wins over the configured filter.
/// Calling it twice is harmless (the second call keeps the first subscriber).
pub fn init(config: &LogConfig) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Human => builder.with_span_events(FmtSpan::NONE).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    TelemetryGuard { _private: () }
}
