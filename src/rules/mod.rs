//! Single-disease quality-control rules written in Rhai by QC staff.
//!
//! `rules/` on disk → [`load::Compiler`] (one hardened engine, [`engine`]) → immutable
//! [`load::RuleSet`] with a content-hash version → held by [`store::RuleStore`]
//! (arc-swap; reloaded all-or-nothing through [`crate::reload`]: the one watcher, SIGHUP, the admin RPC) →
//! evaluated per request by [`eval`] through the script API in [`api`].
//! [`service::RuleService`] is what the pipeline and server use; [`testcase`] and
//! [`runner`] back `cdssd rules check` / `cdssd rules test`; [`verify`] holds the verdict of a
//! set's test cases, which gates every load; [`publish`] is `cdssd rules publish`;
//! [`quarantine`] skips, for a cool-down, a rule that keeps hitting its budget.
pub mod api;
pub mod applies;
pub mod catalogue;
pub mod engine;
pub mod error;
pub mod eval;
pub mod finding;
pub mod header;
pub mod hints;
pub mod lint;
pub mod load;
pub mod mapping;
pub mod measures;
pub mod meta;
pub mod outcomes;
pub mod overrides;
pub mod probe;
pub mod publish;
pub mod quality;
pub mod quarantine;
pub mod runner;
pub mod script_errors;
pub mod service;
pub mod store;
pub mod test_report;
pub mod testcase;
pub mod trail;
pub mod unmapped;
pub mod valueset;
pub mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_mapping;
#[cfg(test)]
mod tests_overrides;
#[cfg(test)]
mod tests_terminology;

pub use engine::RuleLimits;
pub use error::{LoadErrors, RulesError};
pub use finding::{Evidence, Finding, Severity, Status};
pub use load::{Compiler, RuleSet};
pub use service::RuleService;
