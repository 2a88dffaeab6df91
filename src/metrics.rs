//! The one place where events are counted (and, where an operator needs it,
//! logged). Names follow `cdssd_<thing>_<unit>[_total]`; label values are
//! bounded sets (methods, codes, rule and model ids from the loaded set) and
//! never carry encounter data. Without an installed recorder these calls are
//! no-ops, so library users and tests pay nothing.

//!
//! The exporter side lives in submodules: [`exporter`] builds and installs the
//! Prometheus recorder (histogram buckets, HELP texts, initial series),
//! [`http`] serves `/metrics`, `/healthz` and `/readyz` on their own port, and
//! [`process`] reads the process metrics from `/proc` at scrape time. The list
//! of families is binding for alerts, dashboard and tests: `deploy/metrics.txt`.

mod exporter;
pub mod http;
pub mod process;
#[cfg(test)]
mod tests;

use std::{sync::Mutex, time::Duration};

use metrics::{counter, gauge, histogram};

pub use exporter::{describe, install, recorder, MetricsError, DURATION_BUCKETS};

use crate::evaluation::Trigger;
use crate::proto::v1 as pb;

/// A label's value set as an enum: `label()` gives the value, `ALL` every value (for the
/// zero series of [`describe`]'s exporter). A value outside the set does not compile.
macro_rules! label_values {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value of the label.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value.
            pub const fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }
        }
    };
}

/// Git commit the binary was built from (build.rs: `CDSSD_GIT_SHA`, else
/// `git rev-parse`, else "unknown").
pub const GIT_SHA: &str = env!("CDSSD_GIT_SHA");

label_values! {
    /// `cdssd_llm_requests_total{outcome}`.
    pub enum LlmOutcome {
        /// A draft that passed validation.
        Ok => "ok",
        /// Answered from the draft cache without calling the LLM.
        CacheHit => "cache_hit",
        /// The call ran past its budget.
        Timeout => "timeout",
        /// The server could not be reached or answered with an error (connection refused, HTTP 5xx).
        Error => "error",
        /// An answer that failed validation.
        Invalid => "invalid",
        /// Not called: the circuit breaker is open.
        CircuitOpen => "circuit_open",
    }
}

label_values! {
    /// `cdssd_llm_tokens_total{direction}`.
    pub enum TokenDirection {
        /// Prompt tokens sent.
        In => "in",
        /// Completion tokens received.
        Out => "out",
    }
}

label_values! {
    /// `cdssd_model_inferences_total{outcome}`.
    pub enum ModelOutcome {
        /// Scored.
        Ok => "ok",
        /// Not scored: the encounter is outside the model's validity or lacks required features.
        Refused => "refused",
        /// The inference failed.
        Error => "error",
    }
}

label_values! {
    /// The `device` label of the model series.
    pub enum ModelDevice {
        /// onnxruntime's CPU execution provider.
        Cpu => "cpu",
        /// The CUDA execution provider.
        Cuda => "cuda",
    }
}

label_values! {
    /// `cdssd_grpc_malformed_requests_total{reason}`.
    pub enum MalformedReason {
        /// The message could not be decoded.
        Undecodable => "undecodable",
        /// Larger than `server.max_request_bytes`.
        TooLarge => "too_large",
    }
}

label_values! {
    /// The `backend` label of the audit series.
    pub enum AuditBackend {
        /// The embedded SQLite store.
        Sqlite => "sqlite",
        /// PostgreSQL.
        Postgres => "postgres",
    }
}

label_values! {
    /// `cdssd_feedback_total{outcome}`.
    pub enum FeedbackOutcome {
        /// The clinician accepted the card.
        Accepted => "accepted",
        /// The clinician overrode the card.
        Overridden => "overridden",
    }
}

/// One finished gRPC call.
pub fn grpc_request(method: &'static str, code: tonic::Code, elapsed: Duration) {
    counter!("cdssd_grpc_requests_total", "method" => method, "code" => code_name(code)).increment(1);
    histogram!("cdssd_grpc_request_duration_seconds", "method" => method).record(elapsed.as_secs_f64());
}

/// One evaluation started, by trigger.
pub fn evaluation(trigger: Trigger) {
    counter!("cdssd_evaluations_total", "trigger" => trigger.label()).increment(1);
}

/// An evaluation was shed (`server.max_in_flight_evaluations` reached).
pub fn evaluation_shed() {
    counter!("cdssd_evaluations_shed_total").increment(1);
}

label_values! {
    /// The kind label of `cdssd_data_quality_notices_total`.
    pub enum DataQualityKind {
        /// An accepted item no rule can read (its codes match no value set or mapping).
        UnmatchedCode => "unmatched_code",
        /// An observation left out because its value is physiologically impossible.
        ImplausibleValue => "implausible_value",
    }
}

/// A data-quality notice (`rules::quality`): by kind, list and code-system label (all
/// from fixed sets; local systems are all `LOCAL`).
pub fn data_quality_notice(kind: DataQualityKind, list: &'static str, code_system: &'static str) {
    counter!("cdssd_data_quality_notices_total", "list" => list, "code_system" => code_system, "kind" => kind.label())
        .increment(1);
}

/// An encounter failed validation.
pub fn validation_failed() {
    counter!("cdssd_validation_errors_total").increment(1);
}

/// One rule evaluated.
pub fn rule_evaluated(rule_id: &str, status: pb::FindingStatus) {
    RuleCounters::new(rule_id).record(status);
}

/// The counters of one rule (`cdssd_rule_evaluations_total` by status, and
/// `cdssd_rule_errors_total`), each registered on its first use and then kept: a rule
/// set holds one per rule, so a request counts its ~40 findings without formatting
/// labels or looking series up in the registry. A series appears once it has counted.
#[derive(Debug)]
pub struct RuleCounters {
    rule_id: String,
    by_status: [std::sync::OnceLock<metrics::Counter>; 8],
    errors: std::sync::OnceLock<metrics::Counter>,
}

impl RuleCounters {
    pub fn new(rule_id: &str) -> Self {
        Self { rule_id: rule_id.to_string(), by_status: Default::default(), errors: Default::default() }
    }

    /// Count one evaluation of the rule with `status`.
    pub fn record(&self, status: pb::FindingStatus) {
        let slot = (status as usize).min(self.by_status.len() - 1);
        self.by_status[slot]
            .get_or_init(|| {
                counter!("cdssd_rule_evaluations_total", "rule_id" => self.rule_id.clone(), "status" => status_label(status))
            })
            .increment(1);
        if status == pb::FindingStatus::Error {
            self.errors
                .get_or_init(|| counter!("cdssd_rule_errors_total", "rule_id" => self.rule_id.clone()))
                .increment(1);
        }
    }
}

/// Time spent on one pack for one encounter.
pub fn rule_pack_duration(pack: &str, elapsed: Duration) {
    histogram!("cdssd_rule_duration_seconds", "pack" => pack.to_string()).record(elapsed.as_secs_f64());
}

/// The rule and pack series of one rule set, kept with the set (see [`RuleCounters`]).
#[derive(Debug, Default)]
pub struct RuleSetMetrics {
    rules: std::collections::HashMap<String, RuleCounters>,
    packs: std::collections::HashMap<String, std::sync::OnceLock<metrics::Histogram>>,
}

impl RuleSetMetrics {
    pub fn new<'a>(rule_ids: impl Iterator<Item = &'a str>, pack_ids: impl Iterator<Item = &'a str>) -> Self {
        Self {
            rules: rule_ids.map(|id| (id.to_string(), RuleCounters::new(id))).collect(),
            packs: pack_ids.map(|id| (id.to_string(), std::sync::OnceLock::new())).collect(),
        }
    }

    /// [`rule_evaluated`] through the set's kept counters.
    pub fn rule_evaluated(&self, rule_id: &str, status: pb::FindingStatus) {
        match self.rules.get(rule_id) {
            Some(c) => c.record(status),
            None => rule_evaluated(rule_id, status),
        }
    }

    /// A rule of the set was quarantined (see [`crate::rules::quarantine`]): rare, so no kept series.
    pub fn rule_quarantined(&self, rule_id: &str) {
        let id = self.rules.get_key_value(rule_id).map_or_else(|| rule_id.to_string(), |(k, _)| k.clone());
        counter!("cdssd_rule_quarantines_total", "rule_id" => id).increment(1);
    }

    /// [`rule_pack_duration`] through the set's kept histograms.
    pub fn pack_duration(&self, pack: &str, elapsed: Duration) {
        match self.packs.get_key_value(pack) {
            Some((id, h)) => h
                .get_or_init(|| histogram!("cdssd_rule_duration_seconds", "pack" => id.clone()))
                .record(elapsed.as_secs_f64()),
            None => rule_pack_duration(pack, elapsed),
        }
    }
}

/// A rule set went into force. The `cdssd_rule_set_info` series of the
/// version it replaces drops to 0, so `cdssd_rule_set_info == 1` names the
/// version in force.
pub fn rule_set_loaded(version: &str, rules: usize) {
    static IN_FORCE: Mutex<Option<String>> = Mutex::new(None);
    gauge!("cdssd_rule_set_loaded_rules").set(rules as f64);
    let mut in_force = IN_FORCE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = in_force.as_deref().filter(|old| *old != version) {
        gauge!("cdssd_rule_set_info", "version" => old.to_string()).set(0.0);
    }
    gauge!("cdssd_rule_set_info", "version" => version.to_string()).set(1.0);
    *in_force = Some(version.to_string());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    gauge!("cdssd_rule_set_last_reload_success_timestamp_seconds").set(now.as_secs_f64());
}

label_values! {
    /// Why a rule pack in force is not verified: the `reason` label of
    /// `cdssd_rule_packs_unverified` (see [`crate::rules::verify::PackCases::unverified`]).
    pub enum UnverifiedReason {
        /// Some of its cases did not run: their base encounter was not found (`rules.examples_dir`).
        CasesNotFound => "cases_not_found",
        /// Some of its cases ran and failed (only in force with `rules.require_passing_tests = false`).
        CasesFailing => "cases_failing",
        /// The pack has no test cases at all.
        NoTestCases => "no_test_cases",
    }
}

/// Rule packs of the set in force that are not verified, by reason (every reason set, 0
/// included): above 0 is the CdssdRulesUnverified alert and makes `/readyz` say so.
pub fn rule_packs_unverified(reasons: impl IntoIterator<Item = UnverifiedReason>) {
    let mut counts = [0usize; UnverifiedReason::ALL.len()];
    for r in reasons {
        counts[UnverifiedReason::ALL.iter().position(|x| *x == r).unwrap_or(0)] += 1;
    }
    for (r, n) in UnverifiedReason::ALL.iter().zip(counts) {
        gauge!("cdssd_rule_packs_unverified", "reason" => r.label()).set(n as f64);
    }
}

/// A rule set left force: its `cdssd_rule_set_info` series drops to 0
/// ([`rule_set_loaded`] also does this for the version it replaces).
pub fn rule_set_replaced(version: &str) {
    gauge!("cdssd_rule_set_info", "version" => version.to_string()).set(0.0);
}

/// One model inference.
pub fn model_inference(model_id: &str, device: ModelDevice, outcome: ModelOutcome, elapsed: Duration) {
    let device = device.label();
    counter!("cdssd_model_inferences_total", "model_id" => model_id.to_string(), "device" => device, "outcome" => outcome.label())
        .increment(1);
    histogram!("cdssd_model_inference_duration_seconds", "model_id" => model_id.to_string(), "device" => device)
        .record(elapsed.as_secs_f64());
}

/// A feature was imputed for a model (feature names come from the manifest).
pub fn model_imputed(model_id: &str, feature: &str) {
    counter!("cdssd_model_imputed_features_total", "model_id" => model_id.to_string(), "feature" => feature.to_string())
        .increment(1);
}

label_values! {
    /// A route of the HTTP listener, as the `route` label.
    pub enum HttpRoute {
        /// `POST /v1/evaluate`.
        Evaluate => "evaluate",
        /// `POST /cds-services/...`.
        CdsHooks => "cds_hooks",
    }
}

label_values! {
    /// Why the HTTP listener refused a body before decoding it, as the `reason` label.
    pub enum HttpRefusal {
        /// Larger than `server.max_request_bytes`.
        TooLarge => "too_large",
        /// The body could not be read (the client broke off, bad chunking).
        Unreadable => "unreadable",
    }
}

/// The HTTP listener refused a request body (`cdssd_http_refused_requests_total`).
pub fn http_request_refused(route: HttpRoute, reason: HttpRefusal) {
    counter!("cdssd_http_refused_requests_total", "route" => route.label(), "reason" => reason.label()).increment(1);
}

/// A gRPC request the transport could not read, rewritten by `server::malformed`.
pub fn grpc_malformed_request(reason: MalformedReason) {
    counter!("cdssd_grpc_malformed_requests_total", "reason" => reason.label()).increment(1);
}

/// Number of models in force, and of model directories configured (loaded + failed):
/// `loaded < configured` is the CdssdModelsNotLoaded alert and makes `/readyz` say so.
pub fn models_loaded(loaded: usize, configured: usize) {
    gauge!("cdssd_models_loaded").set(loaded as f64);
    gauge!("cdssd_models_configured").set(configured as f64);
}

/// One LLM call finished.
pub fn llm_request(outcome: LlmOutcome, elapsed: Duration) {
    counter!("cdssd_llm_requests_total", "outcome" => outcome.label()).increment(1);
    histogram!("cdssd_llm_request_duration_seconds").record(elapsed.as_secs_f64());
}

/// Time to the first token of a streamed LLM answer.
pub fn llm_time_to_first_token(elapsed: Duration) {
    histogram!("cdssd_llm_time_to_first_token_seconds").record(elapsed.as_secs_f64());
}

/// Tokens sent (prompt) or received (completion).
pub fn llm_tokens(direction: TokenDirection, n: u64) {
    counter!("cdssd_llm_tokens_total", "direction" => direction.label()).increment(n);
}

/// Circuit-breaker state: 0 closed, 1 half-open, 2 open.
pub fn llm_circuit_state(state: u8) {
    gauge!("cdssd_llm_circuit_state").set(f64::from(state));
}

/// LLM calls in flight (+1 / -1).
pub fn llm_in_flight(delta: f64) {
    gauge!("cdssd_llm_in_flight").increment(delta);
}

/// The gRPC status code name used as a label.
pub fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The one spelling of a finding status: the `status` label of
/// `cdssd_rule_evaluations_total`, and what rule authors, decks and reports write
/// (`rules::finding::Status::as_str` reads it from here).
pub fn status_label(status: pb::FindingStatus) -> &'static str {
    match status {
        pb::FindingStatus::Unspecified => "unspecified",
        pb::FindingStatus::Met => "met",
        pb::FindingStatus::NotMet => "not_met",
        pb::FindingStatus::Excluded => "excluded",
        pb::FindingStatus::NotApplicable => "not_applicable",
        pb::FindingStatus::Pending => "pending",
        pb::FindingStatus::Error => "error",
        pb::FindingStatus::MissingData => "missing_data",
    }
}

// --- audit (src/audit/): group commits, calls failed closed, clinician feedback.

/// One group commit of `records` decisions to the audit store.
pub fn audit_commit(backend: AuditBackend, records: usize, elapsed: Duration, ok: bool) {
    let backend = backend.label();
    let outcome = if ok { "ok" } else { "error" };
    counter!("cdssd_audit_commits_total", "backend" => backend, "outcome" => outcome).increment(1);
    if ok {
        counter!("cdssd_audit_records_total", "backend" => backend).increment(records as u64);
    }
    histogram!("cdssd_audit_commit_duration_seconds", "backend" => backend).record(elapsed.as_secs_f64());
}

/// A call refused with UNAVAILABLE because its decision could not be recorded.
pub fn audit_failed_closed() {
    counter!("cdssd_audit_failed_closed_total").increment(1);
}

/// Clinician feedback on a card of rule/model `source_id` (an id of the loaded set, so the
/// label is bounded), by outcome (`accepted`, `overridden`); override ratio = overridden / all.
pub fn feedback(source_id: &str, outcome: FeedbackOutcome) {
    counter!("cdssd_feedback_total", "source_id" => source_id.to_string(), "outcome" => outcome.label()).increment(1);
}
