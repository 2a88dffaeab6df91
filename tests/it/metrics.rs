//! Metrics end to end: the real `cdssd serve` binary (one process per test, so
//! that counters are not shared with other tests), real gRPC calls over a
//! socket, `/metrics` scraped over HTTP. Asserts exact counter deltas and label
//! values, that no encounter data reaches the exposition, that the families
//! match `deploy/metrics.txt`, and that `promtool check metrics` accepts it.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use cdssd::proto::v1::{self as pb, admin_service_client::AdminServiceClient, cds_service_client::CdsServiceClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `cdssd serve` process with gRPC and metrics on free loopback ports.
pub(crate) struct Daemon {
    child: Child,
    grpc: SocketAddr,
    metrics: SocketAddr,
    pub(crate) logs: mpsc::Receiver<String>,
}

impl Daemon {
    /// `env`: `CDSSD__*` overrides of the defaults below (file watchers are off,
    /// so that reloads happen only when a test asks for one).
    pub(crate) fn start(env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdssd"));
        cmd.arg("serve")
            .env("CDSSD__SERVER__LISTEN", "127.0.0.1:0")
            .env("CDSSD__METRICS__LISTEN", "127.0.0.1:0")
            .env("CDSSD__LOG__FORMAT", "json")
            .env("CDSSD__LOG__LEVEL", "info,ort=warn")
            .env("CDSSD__RULES__DIR", root().join("rules"))
            .env("CDSSD__RISK__DIR", root().join("models"))
            .env("CDSSD__RULES__WATCH", "false")
            .env("CDSSD__RISK__WATCH", "false")
            .env("CDSSD__LLM__ENABLED", "false")
            .env_remove("RUST_LOG")
            .env_remove("CDSSD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cdssd starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, logs) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut grpc, mut metrics) = (None, None);
        let mut seen = Vec::new();
        while grpc.is_none() || metrics.is_none() {
            let line = logs
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("cdssd logs both listen addresses; it printed:\n{}", seen.join("\n")));
            seen.push(line.clone());
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let addr = v.pointer("/fields/addr").and_then(|a| a.as_str()).and_then(|a| a.parse().ok());
            match v.pointer("/fields/message").and_then(|m| m.as_str()) {
                Some(m) if m.starts_with("Serving gRPC") => grpc = addr,
                Some(m) if m.starts_with("Serving metrics") => metrics = addr,
                _ => {}
            }
        }
        Self { child, grpc: grpc.unwrap(), metrics: metrics.unwrap(), logs }
    }

    pub(crate) async fn client(&self) -> CdsServiceClient<tonic::transport::Channel> {
        CdsServiceClient::connect(format!("http://{}", self.grpc)).await.expect("gRPC connects")
    }

    async fn admin(&self) -> AdminServiceClient<tonic::transport::Channel> {
        AdminServiceClient::connect(format!("http://{}", self.grpc)).await.expect("gRPC connects")
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        http_get(self.metrics, path).await
    }

    async fn scrape(&self) -> Scrape {
        let (status, headers, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{headers}");
        Scrape::parse(&body)
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(self) -> std::process::ExitStatus {
        self.stop_with_logs().0
    }

    /// SIGTERM, then the exit status and everything logged after start-up.
    pub(crate) fn stop_with_logs(mut self) -> (std::process::ExitStatus, Vec<String>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { kill(self.child.id() as i32, 15) };
        let status = self.child.wait().expect("cdssd exits");
        let mut lines = Vec::new();
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while self.logs.try_recv().is_ok() {}
    }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// A plain HTTP/1.0 GET: status, header block, body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("metrics port connects");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status code");
    (status, head.to_string(), body.to_string())
}

/// The exposition, as series -> value ("name{labels}" exactly as rendered).
struct Scrape {
    text: String,
    series: BTreeMap<String, f64>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("malformed line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("malformed value in {line:?}"));
            assert!(series.insert(name.to_string(), value).is_none(), "duplicate series {name}");
        }
        Self { text: text.to_string(), series }
    }

    fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// Family name -> label names, for every `cdssd_` series.
    fn families(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for key in self.series.keys().filter(|k| k.starts_with("cdssd_")) {
            let (name, labels) = match key.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (key.as_str(), ""),
            };
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| self.text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name);
            let names = out.entry(family.to_string()).or_default();
            for pair in split_labels(labels) {
                let (k, _) = pair.split_once('=').unwrap();
                if k != "le" {
                    names.insert(k.to_string());
                }
            }
        }
        out
    }

    /// Every label value of every series.
    fn label_values(&self) -> Vec<String> {
        self.series
            .keys()
            .filter_map(|k| k.split_once('{'))
            .flat_map(|(_, l)| split_labels(l.trim_end_matches('}')))
            .map(|pair| pair.split_once('=').unwrap().1.trim_matches('"').to_string())
            .collect()
    }
}

/// `a="x",b="y"` -> [`a="x"`, `b="y"`] (values here never contain `",`).
fn split_labels(labels: &str) -> Vec<String> {
    if labels.is_empty() {
        return Vec::new();
    }
    labels.split("\",").map(|p| if p.ends_with('"') { p.to_string() } else { format!("{p}\"") }).collect()
}

/// deploy/metrics.txt: family -> (type, label names).
fn binding_families() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("deploy/metrics.txt")).expect("deploy/metrics.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let labels = if f[2] == "-" { BTreeSet::new() } else { f[2].split(',').map(String::from).collect() };
            (f[0].to_string(), (f[1].to_string(), labels))
        })
        .collect()
}

fn example(name: &str) -> pb::Encounter {
    let text = std::fs::read_to_string(root().join("examples/encounters").join(name)).expect("example exists");
    cdssd::encounter::encounter_from_json(&text).expect("example parses")
}

pub(crate) fn request(name: &str, trigger: pb::Trigger) -> pb::EvaluateRequest {
    pb::EvaluateRequest {
        encounter: Some(example(name)),
        trigger: trigger as i32,
        options: Some(pb::EvaluateOptions { llm: pb::LlmMode::Skip as i32, ..Default::default() }),
        // 2026-09-21: after every time in the examples (the outpatient prescriptions run into June).
        evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
    }
}

/// An encounter that fails validation: discharged before arrival.
fn invalid(mut req: pb::EvaluateRequest) -> pb::EvaluateRequest {
    let enc = req.encounter.as_mut().unwrap();
    let arrival = enc.arrival_time.expect("examples have an arrival time");
    enc.discharge_time = Some(pbjson_types::Timestamp { seconds: arrival.seconds - 3600, nanos: 0 });
    req
}

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
    // Families that exist after one STEMI evaluation (before any rule or LLM traffic).
    for family in [
        "cdssd_grpc_requests_total",
        "cdssd_grpc_request_duration_seconds",
        "cdssd_evaluations_total",
        "cdssd_rule_reloads_total",
        "cdssd_model_reloads_total",
        "cdssd_llm_requests_total",
        "cdssd_llm_tokens_total",
        "cdssd_llm_circuit_state",
        "cdssd_llm_in_flight",
        "cdssd_validation_errors_total",
        "cdssd_models_loaded",
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

#[tokio::test]
async fn disabled_metrics_listener_still_serves_grpc() {
    // metrics.listen = "" turns the listener (and recording) off; the daemon works as before.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["serve"])
        .env("CDSSD__SERVER__LISTEN", "127.0.0.1:0")
        .env("CDSSD__METRICS__LISTEN", "")
        .env("CDSSD__LOG__FORMAT", "json")
        .env("CDSSD__RULES__DIR", root().join("rules"))
        .env("CDSSD__RISK__DIR", root().join("models"))
        .env("CDSSD__LLM__ENABLED", "false")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
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

/// A copy of a directory tree (the shipped rules or models), to change under a running daemon.
fn copy_tree(from: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    copy(from, tmp.path());
    tmp
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
        (r#"cdssd_model_reloads_total{outcome="success"}"#.into(), 1.0),
        (r#"cdssd_model_reloads_total{outcome="failure"}"#.into(), 1.0),
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
