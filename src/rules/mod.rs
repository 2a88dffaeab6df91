//! Single-disease quality-control rules written in Rhai by QC staff.
//!
//! `rules/` on disk → [`load::Compiler`] → immutable [`load::RuleSet`] (content-hash
//! version) → held by [`store::RuleStore`] (arc-swap, hot reload) → evaluated per request.
pub mod api;
pub mod engine;
pub mod error;
pub mod eval;
pub mod finding;
pub mod lint;
pub mod load;
pub mod meta;
pub mod system;
pub mod testcase;
pub mod valueset;

pub use engine::RuleLimits;
pub use error::{LoadError, LoadErrors, RulesError};
pub use finding::{Evidence, Finding, Severity, Status};
pub use load::{Compiler, RuleSet};
pub mod store;
pub mod watch;

#[cfg(test)]
mod tests;
