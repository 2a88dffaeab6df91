use std::time::Duration;

use super::*;
use crate::proto::v1 as pb;
use crate::reload::{Cause, Component};

/// Record through a recorder configured like the daemon's, then render.
fn render_with(f: impl FnOnce()) -> String {
    let recorder = exporter::recorder().expect("recorder");
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, f);
    handle.render()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn grpc_request_counts_by_method_and_canonical_code_and_uses_the_duration_buckets() {
    let out = render_with(|| {
        grpc_request("Evaluate", tonic::Code::Ok, Duration::from_micros(300));
        grpc_request("Evaluate", tonic::Code::InvalidArgument, Duration::from_millis(2));
        grpc_request("Evaluate", tonic::Code::InvalidArgument, Duration::from_millis(2));
    });
    assert!(has_line(&out, r#"cdssd_grpc_requests_total{method="Evaluate",code="OK"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_grpc_requests_total{method="Evaluate",code="INVALID_ARGUMENT"} 2"#), "{out}");
    // A real histogram with the configured bounds, 0.1 ms .. 30 s.
    assert!(has_line(&out, r#"cdssd_grpc_request_duration_seconds_bucket{method="Evaluate",le="0.0001"} 0"#), "{out}");
    assert!(has_line(&out, r#"cdssd_grpc_request_duration_seconds_bucket{method="Evaluate",le="0.0005"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_grpc_request_duration_seconds_bucket{method="Evaluate",le="0.5"} 3"#), "{out}");
    assert!(has_line(&out, r#"cdssd_grpc_request_duration_seconds_bucket{method="Evaluate",le="30"} 3"#), "{out}");
    assert!(has_line(&out, r#"cdssd_grpc_request_duration_seconds_count{method="Evaluate"} 3"#), "{out}");
}

#[test]
fn every_grpc_code_has_its_canonical_name() {
    assert_eq!(code_name(tonic::Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
    assert_eq!(code_name(tonic::Code::Unavailable), "UNAVAILABLE");
    assert_eq!(code_name(tonic::Code::DataLoss), "DATA_LOSS");
}

#[test]
fn triggers_and_statuses_are_short_lowercase_labels() {
    let out = render_with(|| {
        evaluation(crate::evaluation::Trigger::Admission);
        evaluation(crate::evaluation::Trigger::OrderSign);
        rule_evaluated("stemi.aspirin_arrival", pb::FindingStatus::NotMet);
        rule_evaluated("stemi.aspirin_arrival", pb::FindingStatus::Error);
        rule_evaluated("stemi.aspirin_arrival", pb::FindingStatus::MissingData);
        rule_evaluated("stemi.aspirin_arrival", pb::FindingStatus::MissingData);
    });
    assert!(has_line(&out, r#"cdssd_evaluations_total{trigger="admission"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_evaluations_total{trigger="order_sign"} 1"#), "{out}");
    assert!(
        has_line(&out, r#"cdssd_rule_evaluations_total{rule_id="stemi.aspirin_arrival",status="not_met"} 1"#),
        "{out}"
    );
    assert!(
        has_line(&out, r#"cdssd_rule_evaluations_total{rule_id="stemi.aspirin_arrival",status="error"} 1"#),
        "{out}"
    );
    // An error finding is also a rule error, counted in the same place; missing data is
    // a documentation gap with its own status, not a rule error.
    assert!(has_line(&out, r#"cdssd_rule_errors_total{rule_id="stemi.aspirin_arrival"} 1"#), "{out}");
    assert!(
        has_line(&out, r#"cdssd_rule_evaluations_total{rule_id="stemi.aspirin_arrival",status="missing_data"} 2"#),
        "{out}"
    );
    for t in crate::evaluation::Trigger::NAMED {
        let name = t.label();
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
    }
    assert_eq!(status_label(pb::FindingStatus::NotApplicable), "not_applicable");
    assert_eq!(status_label(pb::FindingStatus::Pending), "pending");
}

#[test]
fn rule_set_gauges_name_the_version_in_force() {
    let out = render_with(|| rule_set_loaded("2026.11.1", 37));
    assert!(has_line(&out, "cdssd_rule_set_loaded_rules 37"), "{out}");
    assert!(has_line(&out, r#"cdssd_rule_set_info{version="2026.11.1"} 1"#), "{out}");
    let ts = out
        .lines()
        .find_map(|l| l.strip_prefix("cdssd_rule_set_last_reload_success_timestamp_seconds "))
        .expect("timestamp gauge");
    assert!(ts.parse::<f64>().unwrap() > 1.7e9, "{ts}");
}

#[test]
fn a_new_rule_set_version_replaces_the_old_info_series() {
    let out = render_with(|| {
        rule_set_loaded("v1", 3);
        rule_set_loaded("v2", 4);
    });
    assert!(has_line(&out, r#"cdssd_rule_set_info{version="v2"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_rule_set_info{version="v1"} 0"#), "{out}");
}

#[test]
fn llm_metrics_have_their_fixed_label_values() {
    let out = render_with(|| {
        llm_request(LlmOutcome::Timeout, Duration::from_secs(3));
        llm_request(LlmOutcome::Error, Duration::from_millis(3));
        llm_tokens(TokenDirection::In, 100);
        llm_tokens(TokenDirection::In, 20);
        llm_tokens(TokenDirection::Out, 40);
        llm_circuit_state(2);
        llm_in_flight(1.0);
        llm_in_flight(1.0);
        llm_in_flight(-1.0);
    });
    assert!(has_line(&out, r#"cdssd_llm_requests_total{outcome="timeout"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_llm_requests_total{outcome="error"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_llm_tokens_total{direction="in"} 120"#), "{out}");
    assert!(has_line(&out, r#"cdssd_llm_tokens_total{direction="out"} 40"#), "{out}");
    assert!(has_line(&out, "cdssd_llm_circuit_state 2"), "{out}");
    assert!(has_line(&out, "cdssd_llm_in_flight 1"), "{out}");
    assert!(has_line(&out, r#"cdssd_llm_request_duration_seconds_bucket{le="5"} 2"#), "{out}");
    assert!(has_line(&out, r#"cdssd_llm_request_duration_seconds_bucket{le="2"} 1"#), "{out}");
}

#[test]
fn model_metrics_are_labelled_by_model_device_and_feature() {
    let out = render_with(|| {
        model_inference("ami-mortality-1y", ModelDevice::Cpu, ModelOutcome::Ok, Duration::from_micros(40));
        model_imputed("ami-mortality-1y", "sysbp");
        models_loaded(2, 3);
        crate::reload::finish(crate::reload::Outcome::failed(
            Component::Models,
            Cause::Admin,
            String::new(),
            Vec::new(),
        ));
    });
    assert!(
        has_line(&out, r#"cdssd_model_inferences_total{model_id="ami-mortality-1y",device="cpu",outcome="ok"} 1"#),
        "{out}"
    );
    assert!(
        has_line(&out, r#"cdssd_model_imputed_features_total{model_id="ami-mortality-1y",feature="sysbp"} 1"#),
        "{out}"
    );
    assert!(has_line(&out, "cdssd_models_loaded 2"), "{out}");
    assert!(has_line(&out, "cdssd_models_configured 3"), "{out}");
    assert!(has_line(&out, r#"cdssd_reloads_total{component="models",outcome="failure"} 1"#), "{out}");
}

#[test]
fn vm_rss_is_read_in_bytes() {
    let status = "Name:\tcdssd\nVmPeak:\t  200000 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
    assert_eq!(process::parse_vm_rss(status), Some(51234 * 1024));
    assert_eq!(process::parse_vm_rss("VmRSS: lots\n"), None);
    assert_eq!(process::parse_vm_rss("Name: x\n"), None);
}

#[test]
fn cpu_seconds_skip_a_command_name_with_spaces_and_parentheses() {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    let stat = "4242 (cdssd (worker) 1) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0";
    assert_eq!(process::parse_cpu_seconds(stat), Some(3.8));
    assert_eq!(process::parse_cpu_seconds("garbage"), None);
}

#[test]
fn process_families_render_with_help_and_type() {
    let mut out = String::new();
    process::render(
        &process::Sample { resident_bytes: Some(1024), cpu_seconds: Some(1.5), open_fds: Some(12) },
        &mut out,
    );
    assert!(has_line(&out, "# TYPE cdssd_process_resident_memory_bytes gauge"), "{out}");
    assert!(has_line(&out, "cdssd_process_resident_memory_bytes 1024"), "{out}");
    assert!(has_line(&out, "# TYPE cdssd_process_cpu_seconds_total counter"), "{out}");
    assert!(has_line(&out, "cdssd_process_cpu_seconds_total 1.5"), "{out}");
    assert!(has_line(&out, "cdssd_process_open_fds 12"), "{out}");
    let mut none = String::new();
    process::render(&process::Sample { resident_bytes: None, cpu_seconds: None, open_fds: None }, &mut none);
    assert!(none.is_empty());
}

#[test]
fn this_process_can_be_sampled_on_linux() {
    if cfg!(target_os = "linux") {
        let s = process::sample();
        assert!(s.resident_bytes.unwrap() > 0);
        assert!(s.cpu_seconds.is_some());
        assert!(s.open_fds.unwrap() >= 3);
    }
}

#[test]
fn readiness_fails_while_the_check_fails_and_once_draining() {
    let loaded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let l = loaded.clone();
    let r = http::Readiness::new(move || {
        if l.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err("no rule set loaded".into())
        }
    });
    assert_eq!(r.status(), Err("no rule set loaded".to_string()));
    loaded.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r.status(), Ok(()));
    r.clone().set_draining();
    assert_eq!(r.status(), Err("draining".to_string()));
}

#[test]
fn git_sha_is_known_or_says_unknown() {
    assert!(!GIT_SHA.is_empty());
    assert!(GIT_SHA == "unknown" || GIT_SHA.chars().all(|c| c.is_ascii_hexdigit()), "{GIT_SHA}");
}

#[test]
fn reloads_are_one_family_labelled_by_component_and_outcome() {
    let ok = |c| crate::reload::Outcome {
        loaded: true,
        ..crate::reload::Outcome::failed(c, Cause::Admin, String::new(), Vec::new())
    };
    let out = render_with(|| {
        crate::reload::finish(ok(Component::Rules));
        crate::reload::finish(ok(Component::Rules));
        crate::reload::finish(crate::reload::Outcome::failed(
            Component::Rules,
            Cause::FileChange,
            "v".into(),
            Vec::new(),
        ));
        crate::reload::finish(crate::reload::Outcome::failed(
            Component::LlmAssets,
            Cause::Sighup,
            "v".into(),
            Vec::new(),
        ));
    });
    assert!(has_line(&out, r#"cdssd_reloads_total{component="rules",outcome="success"} 2"#), "{out}");
    assert!(has_line(&out, r#"cdssd_reloads_total{component="rules",outcome="failure"} 1"#), "{out}");
    assert!(has_line(&out, r#"cdssd_reloads_total{component="llm_assets",outcome="failure"} 1"#), "{out}");
    let labels: Vec<&str> = Component::ALL.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["rules", "models", "llm_assets", "security"]);
}

/// Every typed label's values are distinct, lower snake case, and (where the family has a
/// fixed value set in `deploy/metrics.txt`'s dashboards and alerts) spelled as before.
#[test]
fn typed_label_values_are_distinct_snake_case() {
    let sets: [(&str, Vec<&str>); 10] = [
        ("llm outcome", LlmOutcome::ALL.iter().map(|v| v.label()).collect()),
        ("token direction", TokenDirection::ALL.iter().map(|v| v.label()).collect()),
        ("model outcome", ModelOutcome::ALL.iter().map(|v| v.label()).collect()),
        ("model device", ModelDevice::ALL.iter().map(|v| v.label()).collect()),
        ("malformed reason", MalformedReason::ALL.iter().map(|v| v.label()).collect()),
        ("audit backend", AuditBackend::ALL.iter().map(|v| v.label()).collect()),
        ("feedback outcome", FeedbackOutcome::ALL.iter().map(|v| v.label()).collect()),
        ("data quality kind", DataQualityKind::ALL.iter().map(|v| v.label()).collect()),
        ("unverified reason", UnverifiedReason::ALL.iter().map(|v| v.label()).collect()),
        ("http refusal", HttpRefusal::ALL.iter().map(|v| v.label()).collect()),
    ];
    for (name, values) in &sets {
        let unique: std::collections::BTreeSet<_> = values.iter().collect();
        assert_eq!(unique.len(), values.len(), "{name}: {values:?}");
        for v in values {
            assert!(!v.is_empty() && v.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}: {v}");
        }
    }
    assert_eq!(sets[0].1, ["ok", "cache_hit", "timeout", "error", "invalid", "circuit_open"]);
    assert_eq!(sets[3].1, ["cpu", "cuda"]);
    assert_eq!(sets[5].1, ["sqlite", "postgres"]);
}
