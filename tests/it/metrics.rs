//! Metrics end to end: the real `cdssd serve` binary (one process per test, so
//! that counters are not shared with other tests), real gRPC calls over a
//! socket, `/metrics` scraped over HTTP. Asserts exact counter deltas and label
//! values, that no encounter data reaches the exposition, that the families
//! match `deploy/metrics.txt`, and that `promtool check metrics` accepts it.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Command, Stdio},
    time::Duration,
};

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};

use crate::daemon::{binding_families, copy_tree, invalid, kill, request, root, Daemon};

#[tokio::test]
async fn known_traffic_moves_the_counters_by_exactly_that_much() {
    let daemon = Daemon::start(&[]);
    let (status, _, body) = daemon.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = daemon.get("/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    let before = daemon.scrape().await;
    let mut client = daemon.client().await;
    client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("valid request");
    let err = client
        .evaluate(invalid(request("heart_failure.json", pb::Trigger::Discharge)))
        .await
        .expect_err("invalid request");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut stream = client
        .evaluate_stream(request("pneumonia_cap.json", pb::Trigger::Discharge))
        .await
        .expect("stream starts")
        .into_inner();
    while stream.message().await.expect("stream message").is_some() {}
    let packs =
        client.list_rule_packs(pb::ListRulePacksRequest::default()).await.expect("list rule packs").into_inner();
    let after = daemon.scrape().await;
    // Each valid evaluation counts one finding per rule that runs on its trigger.
    let runs_on =
        |t: &str| packs.packs.iter().flat_map(|p| &p.rules).filter(|r| r.triggers.iter().any(|x| x == t)).count();
    let rules_run = (runs_on("TRIGGER_ADMISSION") + runs_on("TRIGGER_DISCHARGE")) as f64;
    let rule_findings: f64 = after
        .series
        .keys()
        .filter(|k| k.starts_with("cdssd_rule_evaluations_total{"))
        .map(|k| after.get(k) - before.get(k))
        .sum();
    assert_eq!(rule_findings, rules_run, "one cdssd_rule_evaluations_total count per rule run");

    let delta = |s: &str| after.get(s) - before.get(s);
    let expect = [
        (r#"cdssd_grpc_requests_total{method="Evaluate",code="OK"}"#, 1.0),
        (r#"cdssd_grpc_requests_total{method="Evaluate",code="INVALID_ARGUMENT"}"#, 1.0),
        (r#"cdssd_grpc_requests_total{method="EvaluateStream",code="OK"}"#, 1.0),
        (r#"cdssd_grpc_requests_total{method="ListRulePacks",code="OK"}"#, 1.0),
        (r#"cdssd_grpc_request_duration_seconds_count{method="Evaluate"}"#, 2.0),
        (r#"cdssd_grpc_request_duration_seconds_bucket{method="Evaluate",le="+Inf"}"#, 2.0),
        (r#"cdssd_grpc_request_duration_seconds_count{method="EvaluateStream"}"#, 1.0),
        // Evaluations are counted once validated: the invalid request is not one.
        (r#"cdssd_evaluations_total{trigger="admission"}"#, 1.0),
        (r#"cdssd_evaluations_total{trigger="discharge"}"#, 1.0),
        ("cdssd_validation_errors_total", 1.0),
        // Both answered decisions recorded (the stream without LLM once, FAST = FINAL), one commit each.
        (r#"cdssd_audit_records_total{backend="sqlite"}"#, 2.0),
        (r#"cdssd_audit_commits_total{backend="sqlite",outcome="ok"}"#, 2.0),
        ("cdssd_audit_failed_closed_total", 0.0),
        (r#"cdssd_llm_requests_total{outcome="ok"}"#, 0.0),
        // The STEMI admission is scored by the AMI mortality model; no other model applies.
        (r#"cdssd_model_inferences_total{model_id="ami-1y-mortality",device="cpu",outcome="ok"}"#, 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(delta(series), want, "{series}: before {} after {}", before.get(series), after.get(series));
    }
    // Nothing else counted anything: every other counter series is unchanged.
    let changed: Vec<&String> = after
        .series
        .keys()
        .filter(|k| k.starts_with("cdssd_") && !k.starts_with("cdssd_process_"))
        .filter(|k| !k.contains("_bucket{") && !k.contains("_sum") && !k.contains("_count"))
        .filter(|k| after.text.contains(&format!("# TYPE {} counter", k.split('{').next().unwrap())))
        .filter(|k| delta(k) != 0.0)
        .filter(|k| !expect.iter().any(|(s, _)| s == k))
        .filter(|k| !k.starts_with("cdssd_rule_evaluations_total{"))
        .collect();
    assert!(changed.is_empty(), "unexpected counter changes: {changed:?}");

    let build = format!(r#"cdssd_build_info{{version="{}",git_sha="{}"}}"#, cdssd::VERSION, cdssd::metrics::GIT_SHA);
    assert_eq!(after.get(&build), 1.0, "{build} in\n{}", after.text);
    assert_eq!(after.get("cdssd_llm_circuit_state"), 0.0);
    assert!(after.get("cdssd_process_resident_memory_bytes") > 1e6);
    assert!(after.get("cdssd_process_open_fds") >= 3.0);
    assert!(after.series.contains_key("cdssd_process_cpu_seconds_total"));

    // An open channel would hold the drain until its grace period ends: drop it, and
    // wait off the runtime so that the connection can close meanwhile.
    drop((client, stream));
    let status = tokio::task::spawn_blocking(move || daemon.stop()).await.unwrap();
    assert!(status.success(), "SIGTERM ends cdssd cleanly");
}

#[tokio::test]
async fn exported_families_are_exactly_those_of_deploy_metrics_txt() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("valid request");
    let scrape = daemon.scrape().await;
    let binding = binding_families();
    for (family, labels) in scrape.families() {
        let (kind, want) = binding.get(&family).unwrap_or_else(|| panic!("{family} is not in deploy/metrics.txt"));
        assert_eq!(&labels, want, "label names of {family}");
        assert!(scrape.text.contains(&format!("# TYPE {family} {kind}")), "{family} is not a {kind}");
        assert!(scrape.text.contains(&format!("# HELP {family} ")), "{family} has no HELP text");
    }
    // Families that exist after one STEMI evaluation (before any rule error or LLM traffic).
    for family in [
        "cdssd_grpc_requests_total",
        "cdssd_grpc_request_duration_seconds",
        "cdssd_evaluations_total",
        "cdssd_reloads_total",
        "cdssd_llm_requests_total",
        "cdssd_llm_tokens_total",
        "cdssd_llm_circuit_state",
        "cdssd_llm_in_flight",
        "cdssd_validation_errors_total",
        "cdssd_rule_evaluations_total",
        "cdssd_rule_duration_seconds",
        "cdssd_rule_set_loaded_rules",
        "cdssd_rule_set_info",
        "cdssd_rule_set_last_reload_success_timestamp_seconds",
        "cdssd_models_loaded",
        "cdssd_models_configured",
        "cdssd_model_inferences_total",
        "cdssd_model_inference_duration_seconds",
        "cdssd_build_info",
        "cdssd_process_resident_memory_bytes",
        "cdssd_process_cpu_seconds_total",
        "cdssd_process_open_fds",
    ] {
        assert!(scrape.families().contains_key(family), "{family} missing from\n{}", scrape.text);
    }
}

/// Distinctive strings seeded into every kind of encounter field.
const SEEDS: &[&str] = &[
    "pt-METRICSEED-4711",
    "enc-METRICSEED-0815",
    "dept-METRICSEED",
    "dx-METRICSEED",
    "lab-METRICSEED-1",
    "med-METRICSEED",
    "note METRICSEED 李四 13800138000",
    "4242.125",
];

fn seeded(name: &str, trigger: pb::Trigger) -> pb::EvaluateRequest {
    let mut req = request(name, trigger);
    let enc = req.encounter.as_mut().unwrap();
    enc.id = SEEDS[1].into();
    enc.patient.as_mut().unwrap().id = SEEDS[0].into();
    enc.department = SEEDS[2].into();
    if let Some(code) = enc.diagnoses.first_mut().and_then(|d| d.code.as_mut()) {
        code.display = SEEDS[3].into();
    }
    if let Some(lab) = enc.labs.first_mut() {
        lab.id = SEEDS[4].into();
    }
    if let Some(m) = enc.medication_orders.first_mut() {
        m.name = SEEDS[5].into();
    }
    enc.notes.push(pb::Note {
        id: "n-seed".into(),
        text: SEEDS[6].into(),
        authored_time: enc.arrival_time,
        ..Default::default()
    });
    if let Some(pb::observation::Value::Quantity(q)) = enc.vitals.first_mut().and_then(|v| v.value.as_mut()) {
        q.value = 4242.125;
    }
    req
}

#[tokio::test]
async fn no_label_value_carries_encounter_data() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    for name in ["stemi_primary_pci.json", "septic_shock.json", "outpatient_visit.json"] {
        let req = seeded(name, pb::Trigger::Discharge);
        client.evaluate(req.clone()).await.expect("valid seeded request");
        client.evaluate(invalid(req.clone())).await.expect_err("invalid seeded request");
        let mut s = client.evaluate_stream(req).await.expect("stream").into_inner();
        while s.message().await.expect("stream message").is_some() {}
    }
    let scrape = daemon.scrape().await;
    assert!(scrape.get(r#"cdssd_grpc_requests_total{method="Evaluate",code="INVALID_ARGUMENT"}"#) == 3.0);
    for seed in SEEDS {
        assert!(!scrape.text.contains(seed), "/metrics contains seeded encounter data {seed:?}:\n{}", scrape.text);
    }
    for value in scrape.label_values() {
        assert!(!value.contains("METRICSEED"), "label value {value:?} carries encounter data");
    }
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("valid request");
    let _ = client.evaluate(invalid(request("stemi_primary_pci.json", pb::Trigger::Admission))).await;
    let (_, _, body) = daemon.get("/metrics").await;
    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(p) => p,
        Err(e) => panic!(
            "promtool is needed for this test and was not found ({e}); install it with \
             `apt-get install -y prometheus` (.ci/run does)"
        ),
    };
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), body.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics rejected the exposition:\n{}{}\n---\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cdssd serve` on the shipped rules and models with JSON logs on stderr (its lines returned),
/// metrics on `metrics_listen` ("" = off), no audit, no LLM.
fn serve_with_json_logs(
    metrics_listen: &str,
) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["serve"])
        .env("CDSSD__SERVER__LISTEN", "127.0.0.1:0")
        .env("CDSSD__METRICS__LISTEN", metrics_listen)
        .env("CDSSD__AUDIT__BACKEND", "off")
        .env("CDSSD__LOG__FORMAT", "json")
        .env("CDSSD__RULES__DIR", root().join("rules"))
        .env("CDSSD__RISK__DIR", root().join("models"))
        .env("CDSSD__LLM__ENABLED", "false")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, lines)
}

#[tokio::test]
async fn disabled_metrics_listener_still_serves_grpc() {
    // metrics.listen = "" turns the listener (and recording) off; the daemon works as before.
    let (mut child, mut lines) = serve_with_json_logs("");
    let mut saw_metrics = false;
    let grpc: SocketAddr = loop {
        let line = lines.next().expect("cdssd logs its gRPC address").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let msg = v.pointer("/fields/message").and_then(|m| m.as_str()).unwrap_or_default();
        saw_metrics |= msg.starts_with("Serving metrics");
        if msg.starts_with("Serving gRPC") {
            break v.pointer("/fields/addr").and_then(|a| a.as_str()).unwrap().parse().unwrap();
        }
    };
    assert!(!saw_metrics, "no metrics listener when metrics.listen is empty");
    let mut client = CdsServiceClient::connect(format!("http://{grpc}")).await.unwrap();
    client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("valid request");
    drop(client);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { kill(child.id() as i32, 15) };
    assert!(tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap().success());
}

#[tokio::test]
async fn model_metrics_follow_inferences_imputations_and_reloads() {
    let models = copy_tree(&root().join("models"));
    let dir = models.path().display().to_string();
    let daemon = Daemon::start(&[("CDSSD__RISK__DIR", &dir)]);
    let before = daemon.scrape().await;
    assert_eq!(before.get("cdssd_models_loaded"), 2.0, "both shipped models are in force");

    // A STEMI without any heart rate: the AMI model imputes it (and says so).
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Admission);
    req.encounter.as_mut().unwrap().vitals.retain(|v| v.code.as_ref().is_none_or(|c| c.code != "8867-4"));
    let mut client = daemon.client().await;
    client.evaluate(req.clone()).await.expect("valid request");
    let mut admin = daemon.admin().await;
    let ok = admin.reload_models(pb::ReloadModelsRequest::default()).await.expect("reload").into_inner();
    assert_eq!(ok.status(), pb::LoadStatus::Loaded, "{ok:?}");
    // A corrupt model file: the reload is rejected and the old models keep answering.
    std::fs::write(models.path().join("ami-1y-mortality/model.onnx"), b"not an onnx model").unwrap();
    let bad = admin.reload_models(pb::ReloadModelsRequest::default()).await.expect("reload").into_inner();
    assert_eq!(bad.status(), pb::LoadStatus::Failed, "{bad:?}");
    client.evaluate(req).await.expect("valid request with the old models");
    let after = daemon.scrape().await;

    let delta = |s: &str| after.get(s) - before.get(s);
    let ami = r#"model_id="ami-1y-mortality",device="cpu""#;
    for (series, want) in [
        (format!(r#"cdssd_model_inferences_total{{{ami},outcome="ok"}}"#), 2.0),
        (format!(r#"cdssd_model_inference_duration_seconds_count{{{ami}}}"#), 2.0),
        (r#"cdssd_model_imputed_features_total{model_id="ami-1y-mortality",feature="heart_rate"}"#.into(), 2.0),
        (r#"cdssd_reloads_total{component="models",outcome="success"}"#.into(), 1.0),
        (r#"cdssd_reloads_total{component="models",outcome="failure"}"#.into(), 1.0),
        (r#"cdssd_grpc_requests_total{method="ReloadModels",code="OK"}"#.into(), 2.0),
    ] {
        assert_eq!(delta(&series), want, "{series}: before {} after {}", before.get(&series), after.get(&series));
    }
    assert_eq!(after.get("cdssd_models_loaded"), 2.0, "the rejected reload changed nothing");
    let pce = after.series.keys().filter(|k| k.contains(r#"model_id="ascvd-pce-10y""#)).count();
    assert_eq!(pce, 0, "the outpatient model does not apply to a STEMI admission");
}

#[tokio::test]
async fn request_logs_carry_the_callers_w3c_trace_id() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut req = tonic::Request::new(invalid(request("stemi_primary_pci.json", pb::Trigger::Admission)));
    req.metadata_mut().insert("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01").parse().unwrap());
    client.evaluate(req).await.expect_err("invalid request");
    // A malformed traceparent is ignored, not an error.
    let mut req = tonic::Request::new(request("stemi_primary_pci.json", pb::Trigger::Admission));
    req.metadata_mut().insert("traceparent", "00-not-a-trace-01".parse().unwrap());
    client.evaluate(req).await.expect("a bad traceparent does not fail the call");

    let refused = loop {
        let line = daemon.logs.recv_timeout(Duration::from_secs(30)).expect("the refusal is logged");
        if line.contains("Request refused") {
            break line;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(v.pointer("/span/trace_id").and_then(|t| t.as_str()), Some(trace_id), "{refused}");
    assert_eq!(v.pointer("/span/parent_span_id").and_then(|t| t.as_str()), Some("b7ad6b7169203331"), "{refused}");
}

const PROBE_PACK: &str = r#"id = "ops_probe"
title = "Metrics probe"
description = "A rule that fails at run time on STEMI encounters (tests/it/metrics.rs)."
"#;

/// Passes the load-time probe (empty encounter: not applicable), fails on a STEMI.
const PROBE_RULE: &str = r#"// Fails at run time on a STEMI encounter, to test the rule-error metrics.
fn meta() {
    #{
        id: "ops_probe.fails_on_stemi",
        title: "Fails on STEMI",
        measure: "none (test probe)",
        measure_set: "LOCAL",
        measure_id: "PROBE",
        measure_version: "1",
        version: "1.0.0",
        severity: "info",
        triggers: ["admission"],
    }
}

fn evaluate(enc) {
    if enc.has_diagnosis("stemi") {
        throw "probe failure";
    }
    not_applicable("No STEMI diagnosis")
}
"#;

#[tokio::test]
async fn rule_metrics_count_errors_and_accepted_and_rejected_reloads() {
    let rules = copy_tree(&root().join("rules"));
    std::fs::create_dir_all(rules.path().join("ops_probe")).unwrap();
    std::fs::write(rules.path().join("ops_probe/pack.toml"), PROBE_PACK).unwrap();
    let probe = rules.path().join("ops_probe/fails_on_stemi.rhai");
    std::fs::write(&probe, PROBE_RULE).unwrap();
    let dir = rules.path().display().to_string();
    let daemon = Daemon::start(&[("CDSSD__RULES__DIR", &dir)]);
    let mut client = daemon.client().await;
    let mut admin = daemon.admin().await;
    let list = |c: &mut CdsServiceClient<tonic::transport::Channel>| {
        let mut c = c.clone();
        async move { c.list_rule_packs(pb::ListRulePacksRequest::default()).await.expect("list").into_inner() }
    };
    let v0 = list(&mut client).await.rule_set_version;
    let before = daemon.scrape().await;
    let loaded = before.get("cdssd_rule_set_loaded_rules");
    assert!(loaded > 35.0, "the shipped measures plus the probe are in force: {loaded}");
    assert_eq!(before.get(&format!(r#"cdssd_rule_set_info{{version="{v0}"}}"#)), 1.0, "{}", before.text);

    // 1. A rule error on a real request: that rule says `error`, the request succeeds.
    let decision = client
        .evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission))
        .await
        .expect("a failing rule does not fail the request")
        .into_inner()
        .decision
        .unwrap();
    let probe_finding = decision.findings.iter().find(|f| f.rule_id == "ops_probe.fails_on_stemi").expect("probe ran");
    assert_eq!(probe_finding.status(), pb::FindingStatus::Error);

    // 2. A broken edit: the reload is rejected, the old set stays in force.
    std::fs::write(&probe, PROBE_RULE.replace("fn evaluate(enc) {", "fn evaluate(enc) {\n    let = ;")).unwrap();
    let rejected = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    assert_eq!(rejected.status(), pb::LoadStatus::Failed, "{rejected:?}");
    let mid = daemon.scrape().await;
    assert_eq!(mid.get(&format!(r#"cdssd_rule_set_info{{version="{v0}"}}"#)), 1.0, "old set still in force");
    assert_eq!(mid.get("cdssd_rule_set_loaded_rules"), loaded);

    // 3. The probe removed: the reload is accepted and the new version replaces the old one.
    std::fs::remove_dir_all(rules.path().join("ops_probe")).unwrap();
    let accepted = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    assert_eq!(accepted.status(), pb::LoadStatus::Loaded, "{accepted:?}");
    let v1 = list(&mut client).await.rule_set_version;
    assert_ne!(v0, v1);
    let after = daemon.scrape().await;

    let delta = |s: &str| after.get(s) - before.get(s);
    for (series, want) in [
        (r#"cdssd_rule_evaluations_total{rule_id="ops_probe.fails_on_stemi",status="error"}"#.to_string(), 1.0),
        (r#"cdssd_rule_errors_total{rule_id="ops_probe.fails_on_stemi"}"#.into(), 1.0),
        (r#"cdssd_rule_duration_seconds_count{pack="ops_probe"}"#.into(), 1.0),
        (r#"cdssd_reloads_total{component="rules",outcome="failure"}"#.into(), 1.0),
        (r#"cdssd_reloads_total{component="rules",outcome="success"}"#.into(), 1.0),
        (r#"cdssd_grpc_requests_total{method="ReloadRules",code="OK"}"#.into(), 2.0),
        (r#"cdssd_grpc_requests_total{method="Evaluate",code="OK"}"#.into(), 1.0),
    ] {
        assert_eq!(delta(&series), want, "{series}: before {} after {}", before.get(&series), after.get(&series));
    }
    // Only the probe errored.
    let errors: Vec<&String> =
        after.series.keys().filter(|k| k.starts_with("cdssd_rule_errors_total{") && delta(k) != 0.0).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(after.get(&format!(r#"cdssd_rule_set_info{{version="{v1}"}}"#)), 1.0);
    assert_eq!(after.get(&format!(r#"cdssd_rule_set_info{{version="{v0}"}}"#)), 0.0, "the replaced version drops to 0");
    assert_eq!(after.get("cdssd_rule_set_loaded_rules"), loaded - 1.0);
    assert!(
        after.get("cdssd_rule_set_last_reload_success_timestamp_seconds")
            >= before.get("cdssd_rule_set_last_reload_success_timestamp_seconds")
    );
}

/// SIGTERM while rules and models are still loading (right after the metrics listener is
/// up, /readyz saying "loading") drains and exits 0 once loaded; it used to kill the daemon
/// with the default action (signal 15), because the handler was installed only when the
/// gRPC server first polled it (the rules_readiness flake under load).
#[tokio::test]
async fn sigterm_during_start_up_is_a_clean_exit() {
    let (mut child, mut lines) = serve_with_json_logs("127.0.0.1:0");
    loop {
        let line = lines.next().expect("cdssd logs its metrics address").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let msg = v.pointer("/fields/message").and_then(|m| m.as_str()).unwrap_or_default();
        assert!(!msg.starts_with("Serving gRPC"), "the signal is meant to come before the rules are loaded");
        if msg.starts_with("Serving metrics") {
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { kill(child.id() as i32, 15) };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    let logs = rest.join().unwrap();
    assert!(status.success(), "exited with {status}; logged after the signal:\n{}", logs.join("\n"));
}
