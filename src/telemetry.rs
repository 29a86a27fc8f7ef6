//! Logging and tracing set-up shared by the binaries: text for people, JSON for log pipelines,
//! and optionally the same spans exported over OTLP/HTTP to a collector.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log format {0:?} is neither text nor json")]
    Format(String),
    #[error("logging was already initialised")]
    AlreadySet,
    #[error("OTLP exporter for {endpoint:?}: {detail}")]
    Otlp { endpoint: String, detail: String },
}

/// Keeps the OTLP pipeline alive; `shutdown` flushes the spans not yet sent.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(&self) {
        if let Some(p) = &self.provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "flushing spans at shutdown");
        }
    }
}

/// `RUST_LOG` overrides `default_level`. With `otlp_endpoint` (the collector's base URL, e.g.
/// http://otel-collector:4318), spans also go to `{otlp_endpoint}/v1/traces` in batches.
pub fn init(
    format: &str,
    default_level: &str,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let fmt = match format {
        "text" => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        "json" => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
        other => return Err(TelemetryError::Format(other.to_string())),
    };
    let provider = otlp_endpoint.map(otlp_provider).transpose()?;
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("live-snapshot-operator")));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|_| TelemetryError::AlreadySet)?;
    Ok(Telemetry { provider })
}

fn otlp_provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces)
        .with_headers(Default::default())
        .build()
        .map_err(|e| TelemetryError::Otlp {
            endpoint: endpoint.to_string(),
            detail: e.to_string(),
        })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("live-snapshot-operator")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
