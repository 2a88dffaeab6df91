//! The integration test binary (one binary keeps link time down). Each module
//! covers one area; shared helpers live in `support`.

mod architecture;
mod audit_reliability;
mod audit_rpc;
mod audit_store;
mod batch;
mod config;
mod daemon;
mod data_quality;
mod e2e;
mod egress;
mod errors;
mod examples;
mod fail_visibly;
mod llm;
mod llm_degenerate;
mod llm_faults;
mod llm_support;
mod logging;
mod malformed;
mod mappings;
mod metrics;
mod metrics_llm;
mod pg;
mod replay;
mod report;
mod risk;
mod rules;
mod rules_applies;
mod rules_outcomes;
mod rules_reload;
mod security;
mod support;
mod tracing;
mod validation;
mod web;
