//! cdssd: a clinical decision support daemon.
//!
//! One gRPC call carries an encounter; cdssd validates it ([`encounter`]),
//! runs single-disease quality-control rules ([`rules`]), scores risk with
//! ONNX models ([`risk`]), asks an LLM for a drafted suggestion ([`llm`]) and
//! merges everything into one decision ([`decision`]) through the
//! [`pipeline`], the one orchestrator; what the components see of a request is the
//! leaf [`evaluation::Evaluation`]. [`server`] is the gRPC transport, [`config`] the layered
//! configuration, [`metrics`] the one place events are counted, [`reload`] the one reload
//! path. See
//! `ARCHITECTURE.md` for the map.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod decision;
pub mod diagnostic;
pub mod encounter;
pub mod evaluation;
pub mod fhir;
pub mod fuzzing;
pub mod kb;
pub mod listen;
pub mod llm;
pub mod locale;
pub mod metrics;
pub mod names;
pub mod pipeline;
pub mod proto;
pub mod reload;
pub mod report;
pub mod risk;
pub mod rules;
pub mod server;
pub mod telemetry;
pub mod web;

/// The cdssd version (from Cargo).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
