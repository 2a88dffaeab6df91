//! The integration test binary (one binary keeps link time down). Each module
//! covers one area; shared helpers live in `support`.

mod config;
mod e2e;
mod examples;
mod logging;
mod metrics;
mod risk;
mod rules;
mod rules_reload;
mod support;
mod tracing;
mod validation;
