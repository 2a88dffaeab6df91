//! Logging set-up: `tracing` with a pretty (human) or JSON (machine) format,
//! W3C trace context from callers, and optional OTLP export of request spans.
//! Log lines never carry patient identifiers or clinical values: request spans
//! record only the request id, method and trigger; errors are fields.

#[cfg(test)]
mod tests;
pub mod trace_context;

use opentelemetry::{trace::TracerProvider as _, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    trace::{Sampler, SdkTracer, SdkTracerProvider},
    Resource,
};
use tracing_subscriber::{filter::Targets, fmt, prelude::*, EnvFilter};

pub use trace_context::TraceParent;

use crate::config::{LogFormat, LogSettings};

/// The OTLP exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up OTLP export to {endpoint}: {source}")]
pub struct TelemetryError {
    endpoint: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Install the global subscriber (once per process; later calls are ignored).
/// `RUST_LOG` overrides `log.level`. Logs go to stderr. No span export.
pub fn init(settings: &LogSettings) {
    install(settings, None);
}

/// Span export of a running daemon; [`Tracing::shutdown`] flushes what is buffered.
#[derive(Debug)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Export the spans still buffered and stop the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // Blocks until the batch is sent: off the async threads.
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "Could not flush the last spans to the OTLP collector.");
            }
        }
    }
}

/// The daemon's logging plus, with `log.otlp_endpoint` set, export of request
/// spans (`rpc` and its children `rules`, `risk`, `model`, `llm`) over
/// OTLP/gRPC. Call inside the tokio runtime: the gRPC exporter needs it.
pub fn init_daemon(settings: &LogSettings) -> Result<Tracing, TelemetryError> {
    if settings.otlp_endpoint.is_empty() {
        install(settings, None);
        return Ok(Tracing { provider: None });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.otlp_endpoint.clone())
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|source| TelemetryError { endpoint: settings.otlp_endpoint.clone(), source })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // A caller's sampling decision (traceparent flags) wins; new traces are sampled by ratio.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.otlp_sample_ratio))))
        .with_resource(
            Resource::builder()
                .with_service_name("cdssd")
                .with_attribute(KeyValue::new("service.version", crate::VERSION))
                .build(),
        )
        .build();
    install(settings, Some(provider.tracer("cdssd")));
    tracing::info!(endpoint = %settings.otlp_endpoint, "Exporting request spans over OTLP.");
    Ok(Tracing { provider: Some(provider) })
}

/// Logs filtered by `log.level`; spans for export filtered separately, so that
/// the request's child spans (DEBUG level) reach the exporter without
/// changing what the logs show.
fn install(settings: &LogSettings, tracer: Option<SdkTracer>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let otel = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(Targets::new().with_target("cdssd", tracing::Level::DEBUG))
    });
    let registry = tracing_subscriber::registry().with(otel);
    let _ = match settings.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Pretty => {
            registry.with(fmt::layer().with_target(false).with_writer(std::io::stderr).with_filter(filter)).try_init()
        }
    };
}
