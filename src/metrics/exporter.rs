//! The Prometheus recorder: installed once per process by `cdssd serve`,
//! rendered by the `/metrics` endpoint ([`super::http`]). Without it every
//! recording call in [`super`] is a no-op.

use std::sync::Mutex;

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Upper bounds of every `*_seconds` histogram: 0.1 ms (a rule, a small ONNX
/// model) to 30 s (an LLM draft), dense around the 500 ms CDS budget.
pub const DURATION_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// The metrics exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot configure the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
    #[error("another metrics recorder is already installed in this process")]
    AlreadyInstalled,
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// A recorder configured like the daemon's (histogram buckets), not installed:
/// for tests that record through `metrics::with_local_recorder`.
pub fn recorder() -> Result<PrometheusRecorder, MetricsError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)?
        .build_recorder())
}

/// Install the process-wide recorder on the first call and return its handle;
/// later calls return the same handle. Describes every family (HELP and unit)
/// and sets the series that must exist before any traffic: build info, LLM
/// circuit state and in-flight calls, zeroed counters of the fixed outcomes.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = recorder()?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    describe();
    initial_series();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// HELP text and unit of every family cdssd exports (deploy/metrics.txt).
pub fn describe() {
    describe_counter!("cdssd_grpc_requests_total", "gRPC calls by method and status code.");
    describe_histogram!("cdssd_grpc_request_duration_seconds", Unit::Seconds, "gRPC call duration by method.");
    describe_counter!("cdssd_evaluations_total", "Evaluations by EMR trigger.");
    describe_counter!(
        "cdssd_http_refused_requests_total",
        "HTTP listener bodies refused before decoding, by route (evaluate, cds_hooks) and reason (too_large, unreadable)."
    );
    describe_counter!(
        "cdssd_evaluations_shed_total",
        "Evaluations refused at once with RESOURCE_EXHAUSTED because server.max_in_flight_evaluations were in flight."
    );
    describe_counter!("cdssd_rule_evaluations_total", "Rule findings by rule id and status.");
    describe_histogram!(
        "cdssd_rule_duration_seconds",
        Unit::Seconds,
        "Time to evaluate one rule pack on one encounter."
    );
    describe_counter!("cdssd_rule_errors_total", "Rules that errored or exceeded their budget, by rule id.");
    describe_counter!(
        "cdssd_rule_quarantines_total",
        "Rules quarantined (skipped for rules.quarantine_cool_down_s) after repeated budget overruns, by rule id."
    );
    describe_counter!(
        "cdssd_reloads_total",
        "Loads and reloads (start-up, file change, SIGHUP, admin RPC) by component (rules, models, llm_assets, security) and outcome (success, failure)."
    );
    describe_gauge!("cdssd_rule_set_loaded_rules", "Rules in the rule set in force.");
    describe_gauge!("cdssd_rule_set_info", "Version of the rule set in force (value 1).");
    describe_gauge!(
        "cdssd_rule_packs_unverified",
        "Rule packs in force whose own test cases did not all run and pass, by reason (cases_not_found, cases_failing, no_test_cases)."
    );
    describe_gauge!(
        "cdssd_rule_set_last_reload_success_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last successful rule-set (re)load."
    );
    describe_counter!("cdssd_model_inferences_total", "Risk-model inferences by model, device used and outcome.");
    describe_histogram!(
        "cdssd_model_inference_duration_seconds",
        Unit::Seconds,
        "Feature extraction and inference time by model and device."
    );
    describe_counter!("cdssd_model_imputed_features_total", "Features imputed because the encounter lacked them.");
    describe_counter!(
        "cdssd_grpc_malformed_requests_total",
        "Requests the transport could not read, by reason (undecodable: INVALID_ARGUMENT; too_large: RESOURCE_EXHAUSTED)."
    );
    describe_gauge!("cdssd_models_loaded", "Risk models in force.");
    describe_gauge!(
        "cdssd_models_configured",
        "Model directories configured (loaded + failed); above cdssd_models_loaded when a model failed to load."
    );
    describe_counter!("cdssd_llm_requests_total", "LLM calls by outcome.");
    describe_histogram!("cdssd_llm_request_duration_seconds", Unit::Seconds, "LLM call duration.");
    describe_histogram!(
        "cdssd_llm_time_to_first_token_seconds",
        Unit::Seconds,
        "Time to the first streamed LLM token."
    );
    describe_counter!("cdssd_llm_tokens_total", "LLM tokens by direction (in: prompt, out: completion).");
    describe_gauge!("cdssd_llm_circuit_state", "LLM circuit breaker: 0 closed, 1 half-open, 2 open.");
    describe_gauge!("cdssd_llm_in_flight", "LLM calls in progress.");
    describe_counter!("cdssd_validation_errors_total", "Requests rejected because the encounter failed validation.");
    describe_counter!(
        "cdssd_data_quality_notices_total",
        "Data-quality notices: accepted items that no loaded value set or mapping can match (kind unmatched_code) and observations left out as physiologically impossible (kind implausible_value), by list and code system."
    );
    describe_gauge!("cdssd_build_info", "Build of the running binary (value 1).");
    describe_counter!("cdssd_audit_commits_total", "Audit group commits by backend and outcome (ok, error).");
    describe_counter!("cdssd_audit_records_total", "Decisions durably recorded in the audit store, by backend.");
    describe_histogram!(
        "cdssd_audit_commit_duration_seconds",
        Unit::Seconds,
        "Time of one audit group commit (insert + fsync), by backend."
    );
    describe_counter!(
        "cdssd_audit_failed_closed_total",
        "Calls refused (UNAVAILABLE) because the audit store could not record them."
    );
    describe_counter!(
        "cdssd_connections_refused_total",
        "Connections closed before serving, by listener and reason (limit, accept_error, handshake, handshake_timeout, request_read_timeout, header_too_large)."
    );
    describe_gauge!("cdssd_connections_open", "Connections open, by listener.");
    describe_counter!(
        "cdssd_auth_refusals_total",
        "Calls refused by caller authentication or authorisation, by reason."
    );
    describe_counter!(
        "cdssd_feedback_total",
        "Clinician feedback on cards by rule/model id and outcome (accepted, overridden)."
    );
}

/// Series that exist from the start, so that dashboards and alerts see zeros
/// rather than nothing.
fn initial_series() {
    gauge!("cdssd_build_info", "version" => crate::VERSION, "git_sha" => super::GIT_SHA).set(1.0);
    gauge!("cdssd_llm_circuit_state").set(0.0);
    gauge!("cdssd_llm_in_flight").set(0.0);
    metrics::counter!("cdssd_validation_errors_total").increment(0);
    metrics::counter!("cdssd_audit_failed_closed_total").increment(0);
    for c in crate::reload::Component::ALL {
        for r in crate::reload::Verdict::ALL {
            metrics::counter!("cdssd_reloads_total", "component" => c.label(), "outcome" => r.label()).increment(0);
        }
    }
    for outcome in super::LlmOutcome::ALL {
        metrics::counter!("cdssd_llm_requests_total", "outcome" => outcome.label()).increment(0);
    }
    for l in crate::listen::ListenerName::ALL {
        for r in crate::listen::ConnRefusal::ALL {
            metrics::counter!("cdssd_connections_refused_total", "listener" => l.label(), "reason" => r.label())
                .increment(0);
        }
    }
    for r in crate::auth::Refusal::ALL {
        metrics::counter!("cdssd_auth_refusals_total", "reason" => r.label()).increment(0);
    }
    for direction in super::TokenDirection::ALL {
        metrics::counter!("cdssd_llm_tokens_total", "direction" => direction.label()).increment(0);
    }
}
