//! Logging set-up shared by the binaries: text for people, JSON for log pipelines.

use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log format {0:?} is neither text nor json")]
    Format(String),
    #[error("logging was already initialised")]
    AlreadySet,
}

/// `RUST_LOG` overrides `default_level`.
pub fn init(format: &str, default_level: &str) -> Result<(), TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        "text" => builder.try_init(),
        "json" => builder.json().flatten_event(true).try_init(),
        other => return Err(TelemetryError::Format(other.to_string())),
    };
    result.map_err(|_| TelemetryError::AlreadySet)
}
