//! Logging set-up: `tracing` with a pretty (human) or JSON (machine) format.
//! Log lines never carry patient identifiers or clinical values: request spans
//! record only the request id, method and trigger; errors are fields.

#[cfg(test)]
mod tests;
pub mod trace_context;

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

pub use trace_context::TraceParent;

use crate::config::{LogFormat, LogSettings};

/// Install the global subscriber (once per process; later calls are ignored).
/// `RUST_LOG` overrides `log.level`. Logs go to stderr.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false).with_writer(std::io::stderr)).try_init(),
    };
}
