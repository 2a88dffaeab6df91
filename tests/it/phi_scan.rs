//! Patient data never leaves through a side channel. One real `cdssd serve` (JSON logs at
//! trace level, gRPC, HTTP and metrics listeners, the LLM pointed at a recording fake) gets
//! an encounter with seeded identifiers and values over every transport, valid and invalid
//! (the invalid ones carry seeds in the bad fields); then every log line, the metric
//! exposition, every error answer, every request the LLM received and the CLI's stderr are
//! searched for the seeds. Identifiers must be absent everywhere; clinical values may reach
//! the LLM (the draft needs them) but nothing else.

use std::process::Command;

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};
use prost::Message;
use serde_json::{json, Value};

use crate::{
    daemon::{root, Daemon},
    errors::http1,
    llm_support::{llm_request, Fault, FaultServer},
    web::to_json,
};

/// Identifiers: absent from logs, metrics, error texts AND the LLM's requests.
const IDENTIFIERS: &[&str] =
    &["pt-SEEDED-7731", "enc-SEEDED-5529", "lab-SEEDED-11", "obs-SEEDED-42", "MRN-SEEDED-3141", "Zhang San 张三"];
/// Clinical values: absent from logs, metrics and error texts; the LLM draft may see them.
const VALUES: &[&str] = &["987.654", "NOTE-SEEDED-4410"];

fn all_seeds() -> Vec<&'static str> {
    IDENTIFIERS.iter().chain(VALUES).copied().collect()
}

/// The one seeding helper: an example encounter carrying every seed.
fn seeded(name: &str) -> pb::EvaluateRequest {
    let mut req = llm_request(name, 10_000);
    let enc = req.encounter.as_mut().unwrap();
    enc.id = IDENTIFIERS[1].into();
    enc.patient.as_mut().unwrap().id = IDENTIFIERS[0].into();
    enc.labs[0].id = IDENTIFIERS[2].into();
    enc.notes.push(pb::Note {
        id: "n-seed".into(),
        text: format!("{} chest pain", VALUES[1]),
        authored_time: enc.arrival_time,
        ..Default::default()
    });
    if let Some(pb::observation::Value::Quantity(q)) = enc.vitals[0].value.as_mut() {
        q.value = 987.654;
    }
    req
}

/// The same request with seeds in a field that fails validation.
fn seeded_invalid(name: &str) -> pb::EvaluateRequest {
    let mut bad = seeded(name);
    let enc = bad.encounter.as_mut().unwrap();
    enc.labs[0].code.as_mut().unwrap().system = format!("{} {} {}", IDENTIFIERS[0], IDENTIFIERS[5], VALUES[0]);
    bad
}

/// A CDS Hooks patient-view call whose FHIR prefetch carries the seeds; `invalid` breaks
/// the patient's birth date with seeded text.
fn hooks_call(invalid: bool) -> Value {
    let (pt, enc, obs, mrn) = (IDENTIFIERS[0], IDENTIFIERS[1], IDENTIFIERS[3], IDENTIFIERS[4]);
    let t = |h: i64| (chrono::Utc::now() - chrono::Duration::hours(h)).to_rfc3339();
    let subject = json!({"reference": format!("Patient/{pt}")});
    let enc_ref = json!({"reference": format!("Encounter/{enc}")});
    let birth = if invalid { format!("{mrn} {}", VALUES[0]) } else { "1958-04-02".into() };
    let bundle = |r: Vec<Value>| {
        json!({"resourceType": "Bundle", "type": "searchset",
               "entry": r.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()})
    };
    let prefetch = json!({
        "patient": {"resourceType": "Patient", "id": pt, "gender": "male", "birthDate": birth,
            "identifier": [{"system": "urn:oid:1.2.3", "value": mrn}],
            "name": [{"text": IDENTIFIERS[5], "family": "张三"}]},
        "encounter": {"resourceType": "Encounter", "id": enc, "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": subject, "period": {"start": t(30)}},
        "conditions": bundle(vec![json!({
            "resourceType": "Condition", "id": "c-seed", "subject": subject, "encounter": enc_ref,
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.0"}]},
            "recordedDate": t(29)})]),
        "observations": bundle(vec![json!({
            "resourceType": "Observation", "id": obs, "status": "final", "subject": subject, "encounter": enc_ref,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": t(29),
            "valueQuantity": {"value": 987.654, "unit": "/min", "code": "/min", "system": "http://unitsofmeasure.org"}})]),
        "medicationRequests": bundle(vec![]),
        "medicationAdministrations": bundle(vec![]),
        "procedures": bundle(vec![]),
        "allergies": null,
    });
    json!({"hook": "patient-view", "hookInstance": uuid::Uuid::new_v4().to_string(),
           "context": {"userId": "Practitioner/dr-1", "patientId": pt, "encounterId": enc}, "prefetch": prefetch})
}

/// Everything collected for the scan: (where, text, the seeds that must be absent there).
#[derive(Default)]
struct Haystack {
    items: Vec<(String, String, Vec<&'static str>)>,
    requests: std::collections::BTreeMap<&'static str, usize>,
}

impl Haystack {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>, seeds: &[&'static str]) {
        self.items.push((place.into(), text.into(), seeds.to_vec()));
    }

    fn sent(&mut self, transport: &'static str) {
        *self.requests.entry(transport).or_default() += 1;
    }

    /// (place, seed) for every seed found, and the bytes scanned.
    fn scan(&self) -> (Vec<(String, &'static str)>, usize) {
        let found = self
            .items
            .iter()
            .flat_map(|(place, text, seeds)| seeds.iter().filter(|s| text.contains(**s)).map(|s| (place.clone(), *s)))
            .collect();
        (found, self.items.iter().map(|(_, t, _)| t.len()).sum())
    }
}

fn status_text(s: &tonic::Status) -> String {
    format!("{} | {} | {:?} | {}", s.message(), String::from_utf8_lossy(s.details()), s.metadata(), s)
}

fn grpc_web_frame(req: &pb::EvaluateRequest) -> Vec<u8> {
    let msg = req.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    frame
}

async fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (String, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\naccept-language: en\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    http1(addr, &head, body).await
}

/// The whole answer to one HTTP/1.1 POST, bytes as received (header case kept).
async fn raw_post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\naccept-language: en\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

/// Every `grpc-status-details-bin` value in `raw` (headers or a grpc-web trailer frame), decoded.
fn status_details_bin(raw: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let text = String::from_utf8_lossy(raw);
    let lower = text.to_ascii_lowercase();
    let key = "grpc-status-details-bin:";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(key) {
        let start = from + at + key.len();
        let value: String = text[start..].chars().take_while(|c| *c != '\r' && *c != '\n').collect();
        let value = value.trim().trim_end_matches('=');
        out.push(base64::engine::general_purpose::STANDARD_NO_PAD.decode(value).expect("details are base64"));
        from = start;
    }
    out
}

/// The CLI path: `cdssd evaluate FILE --format json` on a seeded file and a seeded broken one.
fn cli(hay: &mut Haystack) {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("seeded.json");
    let bad = dir.path().join("seeded-bad.json");
    let enc = |r: pb::EvaluateRequest| serde_json::to_string_pretty(&r.encounter.unwrap()).unwrap();
    std::fs::write(&good, enc(seeded("septic_shock.json"))).unwrap();
    std::fs::write(&bad, enc(seeded_invalid("septic_shock.json"))).unwrap();
    for (name, file) in [("valid", &good), ("invalid", &bad)] {
        let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
            .arg("evaluate")
            .arg(file)
            .args(["--format", "json"])
            .env("CDSSD__AUDIT__DIR", dir.path())
            .env("CDSSD__RULES__DIR", root().join("rules"))
            .env("CDSSD__RISK__DIR", root().join("models"))
            .env("CDSSD__LOG__LEVEL", "cdssd=trace,info,ort=warn")
            .env("CDSSD__LOG__FORMAT", "json")
            .env_remove("RUST_LOG")
            .env_remove("CDSSD_CONFIG")
            .output()
            .unwrap();
        hay.sent("cli");
        assert_eq!(out.status.success(), name == "valid", "cli {name}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        hay.add(format!("cli {name} stderr"), stderr, &all_seeds());
        if name == "valid" {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(IDENTIFIERS[1]), "control: the scanner sees the id in the CLI's decision");
        }
    }
}

#[tokio::test]
async fn no_seeded_patient_data_in_logs_metrics_errors_or_llm_requests() {
    let llm = FaultServer::start(vec![Fault::Ok]).await;
    let prompt = root().join("prompts/draft.toml").display().to_string();
    let prompt_zh = root().join("prompts/draft.zh-CN.toml").display().to_string();
    let daemon = Daemon::start(&[
        ("CDSSD__HTTP__LISTEN", "127.0.0.1:0"),
        ("CDSSD__LOG__LEVEL", "cdssd=trace,info,ort=warn"),
        ("CDSSD__LLM__ENABLED", "true"),
        ("CDSSD__LLM__BASE_URL", &llm.base),
        ("CDSSD__LLM__PROMPT_TEMPLATE", &prompt),
        ("CDSSD__LLM__PROMPT_TEMPLATE_ZH", &prompt_zh),
        ("CDSSD__LLM__KNOWLEDGE_BASE", ""),
        ("CDSSD__LLM__RETRIES", "0"),
        ("CDSSD__LLM__CACHE_TTL_S", "0"),
    ]);
    let seeds = all_seeds();
    let mut hay = Haystack::default();
    let mut controls = Vec::new();
    let good = seeded("septic_shock.json");
    let bad = seeded_invalid("septic_shock.json");

    // gRPC unary and stream.
    let mut client: CdsServiceClient<_> = daemon.client().await;
    let ok = client.evaluate(good.clone()).await.expect("valid request").into_inner();
    controls.push(("grpc response", format!("{ok:?}")));
    hay.sent("grpc unary");
    let err = client.evaluate(bad.clone()).await.expect_err("invalid request");
    hay.add("grpc unary error", status_text(&err), &seeds);
    hay.sent("grpc unary");
    let mut stream = client.evaluate_stream(good.clone()).await.expect("stream").into_inner();
    while let Some(item) = stream.message().await.transpose() {
        if let Err(e) = item {
            hay.add("grpc stream error", status_text(&e), &seeds);
            break;
        }
    }
    hay.sent("grpc stream");
    match client.evaluate_stream(bad.clone()).await {
        Err(e) => hay.add("grpc stream error (invalid)", status_text(&e), &seeds),
        Ok(s) => {
            let mut s = s.into_inner();
            let mut refused = false;
            while let Some(item) = s.message().await.transpose() {
                if let Err(e) = item {
                    refused = true;
                    hay.add("grpc stream error (invalid)", status_text(&e), &seeds);
                    break;
                }
            }
            assert!(refused, "the invalid stream request is refused");
        }
    }
    hay.sent("grpc stream");

    // gRPC-Web (binary) on the gRPC port.
    let web = "/cdss.v1.CdsService/Evaluate";
    let ct = "application/grpc-web+proto";
    let (head, body) = post(daemon.grpc_addr(), web, ct, &grpc_web_frame(&good)).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    controls.push(("grpc-web response", body));
    hay.sent("grpc-web");
    let (head, body) = post(daemon.grpc_addr(), web, ct, &grpc_web_frame(&bad)).await;
    assert!(format!("{head}{body}").replace(' ', "").contains("grpc-status:3"), "grpc-web refusal: {head}\n{body}");
    hay.add("grpc-web error", format!("{head}\n{body}"), &seeds);
    hay.sent("grpc-web");
    // The field violations travel base64-encoded in `grpc-status-details-bin` (a header of
    // a trailers-only answer, or the trailer frame of the body): scan them decoded.
    let raw = raw_post(daemon.grpc_addr(), web, ct, &grpc_web_frame(&bad)).await;
    let details = status_details_bin(&raw);
    assert!(!details.is_empty(), "the grpc-web refusal carries its details:\n{}", String::from_utf8_lossy(&raw));
    for d in details {
        assert!(String::from_utf8_lossy(&d).contains("BadRequest"), "decoded details are a BadRequest");
        hay.add("grpc-web error details (decoded)", String::from_utf8_lossy(&d).to_string(), &seeds);
    }
    hay.sent("grpc-web");

    // JSON `POST /v1/evaluate`.
    let http = daemon.http_addr();
    let (head, body) = post(http, "/v1/evaluate", "application/json", to_json(&good).as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}\n{body}");
    controls.push(("json response", body));
    hay.sent("json");
    let (head, body) = post(http, "/v1/evaluate", "application/json", to_json(&bad).as_bytes()).await;
    assert!(head.starts_with("http/1.1 400"), "{head}\n{body}");
    hay.add("json error", format!("{head}\n{body}"), &seeds);
    let mut v: Value = serde_json::from_str(&to_json(&good)).unwrap();
    v["encounter"]["arrivalTime"] = format!("{} {}", IDENTIFIERS[1], VALUES[0]).into();
    let (head, body) = post(http, "/v1/evaluate", "application/json", v.to_string().as_bytes()).await;
    assert!(head.starts_with("http/1.1 400"), "{head}\n{body}");
    hay.add("json error (bad time)", format!("{head}\n{body}"), &seeds);
    hay.sent("json");
    hay.sent("json");

    // CDS Hooks with a FHIR prefetch.
    let hooks = "/cds-services/patient-view";
    let (head, body) = post(http, hooks, "application/json", hooks_call(false).to_string().as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}\n{body}");
    hay.sent("cds hooks");
    let (head, body) = post(http, hooks, "application/json", hooks_call(true).to_string().as_bytes()).await;
    assert!(head.starts_with("http/1.1 4"), "{head}\n{body}");
    hay.add("hooks error", format!("{head}\n{body}"), &seeds);
    hay.sent("cds hooks");

    // The exposition, the LLM's requests, the CLI.
    let (status, _, metrics) = daemon.get("/metrics").await;
    assert_eq!(status, 200);
    hay.add("/metrics", metrics, &seeds);
    let bodies = llm.bodies.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "the LLM was asked (the scan saw its requests)");
    for (i, b) in bodies.iter().enumerate() {
        hay.add(format!("llm request {i}"), b.clone(), IDENTIFIERS);
    }
    cli(&mut hay);
    let (exit, lines) = daemon.stop_with_logs();
    assert!(exit.success(), "SIGTERM leads to a clean exit: {exit:?}");
    let logs = lines.join("\n");
    assert!(logs.contains("Request refused"), "the refusals were logged (the scan saw the logs)");
    hay.add("daemon stderr", logs, &seeds);

    // The scanner works: the successful answers carry the ids they were sent.
    for (place, text) in &controls {
        assert!(text.contains(IDENTIFIERS[1]), "control: the scanner finds the encounter id in the {place}");
    }
    let (found, bytes) = hay.scan();
    println!(
        "phi scan: requests {:?}; {} places, {bytes} bytes scanned ({} LLM requests); found {}",
        hay.requests,
        hay.items.len(),
        bodies.len(),
        found.len()
    );
    let report: Vec<String> = found
        .iter()
        .map(|(place, seed)| {
            let text = &hay.items.iter().find(|(p, _, _)| p == place).unwrap().1;
            let at = text.find(seed).unwrap();
            let mut from = at.saturating_sub(120);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + seed.len() + 120).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            format!("{seed:?} in {place}: …{}…", &text[from..to])
        })
        .collect();
    assert!(found.is_empty(), "seeded patient data found:\n{}", report.join("\n"));
}
