//! The CDS Hooks 2.0 service as a CDS Client sees it, over a real socket against the real
//! `cdssd serve` binary: discovery; each hook with full, partial and missing prefetch (412
//! naming the keys); bad calls (400 with the field); feedback stored in the audit and read
//! back; CORS preflight; JWT on every hooks route. The discovery document and the cards are
//! also parsed by an independent CDS Hooks model (healthchain's pydantic models from PyPI,
//! installed into .cache/cdshooks-venv by scripts/setup.sh; `cds_hooks_check.py`).

use std::{path::Path, process::Command};

use cdssd::{
    audit::{self, AuditStore},
    proto::v1 as pb,
};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::daemon::{root, Daemon};

const HOOKS: [&str; 5] = ["patient-view", "order-select", "order-sign", "encounter-start", "encounter-discharge"];
const KEYS: [&str; 8] = [
    "patient",
    "encounter",
    "conditions",
    "observations",
    "medicationRequests",
    "medicationAdministrations",
    "procedures",
    "allergies",
];
const MEASURE_URL: &str = "https://qc.example.org/measures/{measure_set}/{measure_id}";
const REASON_URL: &str = "https://emr.example.org/reason?card={card_uuid}";

fn daemon(extra: &[(&str, &str)]) -> Daemon {
    let mut env = vec![
        ("CDSSD__HTTP__LISTEN", "127.0.0.1:0"),
        ("CDSSD__HTTP__CDS_MEASURE_URL", MEASURE_URL),
        ("CDSSD__HTTP__CDS_REASON_URL", REASON_URL),
        ("CDSSD__HTTP__CORS_ALLOWED_ORIGINS", "https://emr.example.org,http://localhost:3000"),
    ];
    env.extend_from_slice(extra);
    Daemon::start(&env)
}

fn bundle(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources.into_iter().map(|r| json!({"resource": r})).collect();
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entry})
}

/// A STEMI admitted 30 h ago with no aspirin given: the aspirin-at-arrival window is closed.
fn prefetch() -> Value {
    let t = |h: i64| (Utc::now() - Duration::hours(h)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let subject = json!({"reference": "Patient/p-hooks-1"});
    let enc_ref = json!({"reference": "Encounter/e-hooks-1"});
    json!({
        "patient": {"resourceType": "Patient", "id": "p-hooks-1", "gender": "male", "birthDate": "1958-04-02"},
        "encounter": {
            "resourceType": "Encounter", "id": "e-hooks-1", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": subject, "period": {"start": t(30)},
            "diagnosis": [{"condition": {"reference": "Condition/c-stemi"}, "rank": 1}]
        },
        "conditions": bundle(vec![json!({
            "resourceType": "Condition", "id": "c-stemi", "subject": subject, "encounter": enc_ref,
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.0"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "recordedDate": t(29)
        })]),
        "observations": bundle(vec![json!({
            "resourceType": "Observation", "id": "o-hr", "status": "final", "subject": subject, "encounter": enc_ref,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": t(29), "valueQuantity": {"value": 88, "unit": "/min", "code": "/min", "system": "http://unitsofmeasure.org"}
        })]),
        "medicationRequests": bundle(vec![]),
        "medicationAdministrations": bundle(vec![]),
        "procedures": bundle(vec![]),
        // A search the client found nothing for: null is an empty result.
        "allergies": null,
    })
}

fn call_body(hook: &str, prefetch: Value) -> Value {
    let mut context = json!({"userId": "Practitioner/dr-1", "patientId": "p-hooks-1", "encounterId": "e-hooks-1"});
    if hook.starts_with("order-") {
        context["draftOrders"] = bundle(vec![]);
        if hook == "order-select" {
            context["selections"] = json!([]);
        }
    }
    json!({"hook": hook, "hookInstance": uuid::Uuid::new_v4().to_string(), "context": context, "prefetch": prefetch})
}

/// A plain-HTTP client (reqwest is built without a default TLS provider: install ring's).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<Box<dyn Fn() -> String + Send + Sync>>,
}

impl Client {
    fn new(d: &Daemon) -> Self {
        Client { base: format!("http://{}", d.http_addr()), http: http_client(), token: None }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base)).header("accept-language", "en");
        match &self.token {
            Some(t) => r.bearer_auth(t()),
            None => r,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.request(reqwest::Method::GET, path).send().await.expect("GET answers");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST answers");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

/// Parse `doc` with the independent CDS Hooks model; panics with its error.
fn independent_model(kind: &str, doc: &Value) -> String {
    let python = root().join(".cache/cdshooks-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it installs healthchain from PyPI)",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(python)
        .arg(root().join("tests/it/cds_hooks_check.py"))
        .arg(kind)
        .arg(&file)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{kind} rejected by the CDS Hooks model:\n{}\n{doc:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn discovery_lists_one_service_per_hook_in_the_callers_language() {
    let d = daemon(&[]);
    let c = Client::new(&d);
    let (status, doc) = c.get("/cds-services").await;
    assert_eq!(status, 200, "{doc}");
    let services = doc["services"].as_array().unwrap();
    let hooks: Vec<&str> = services.iter().map(|s| s["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, HOOKS);
    for s in services {
        let keys: Vec<&str> = s["prefetch"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = KEYS.to_vec();
        want.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, want);
        assert_eq!(s["prefetch"]["patient"], "Patient/{{context.patientId}}");
        assert!(s["description"].as_str().unwrap().contains("never propose orders"), "{s}");
        assert!(!s["usageRequirements"].as_str().unwrap().is_empty());
    }
    assert_eq!(independent_model("discovery", &doc), "ok discovery 5");
    let zh = http_client()
        .get(format!("{}/cds-services", c.base))
        .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(zh.headers()["content-language"], "zh-CN");
    let zh: Value = zh.json().await.unwrap();
    assert!(zh["services"][0]["title"].as_str().unwrap().contains("单病种质控"), "{zh}");
    d.stop();
}

#[tokio::test]
async fn each_hook_answers_full_partial_and_missing_prefetch() {
    let d = daemon(&[]);
    let c = Client::new(&d);
    for hook in HOOKS {
        let path = format!("/cds-services/{hook}");
        // Full prefetch: cards, exactly per the specification (the independent model agrees).
        let (status, resp) = c.post(&path, &call_body(hook, prefetch()).to_string()).await;
        assert_eq!(status, 200, "{hook}: {resp}");
        let cards = resp["cards"].as_array().unwrap();
        assert!(!cards.is_empty(), "{hook}: a STEMI without aspirin has cards");
        assert_eq!(independent_model("response", &resp), format!("ok response {}", cards.len()));
        for card in cards {
            assert!(card["summary"].as_str().unwrap().chars().count() < 140);
            assert!(["info", "warning", "critical"].contains(&card["indicator"].as_str().unwrap()));
            assert!(card.get("suggestions").is_none() && card.get("selectionBehavior").is_none(), "{card}");
        }
        let rule = cards
            .iter()
            .find(|c| c["source"]["topic"]["system"] == "urn:cdssd:rule" && c["indicator"] != "info")
            .unwrap_or_else(|| panic!("{hook}: a rule card that needs attention: {resp:#}"));
        assert!(rule["source"]["url"].as_str().unwrap().starts_with("https://qc.example.org/measures/"), "{rule}");
        let links = rule["links"].as_array().unwrap();
        assert!(links.iter().all(|l| l["type"] == "absolute"));
        assert!(links.iter().any(|l| l["url"] == REASON_URL.replace("{card_uuid}", rule["uuid"].as_str().unwrap())));
        assert_eq!(rule["overrideReasons"][0]["system"], cdssd::web::hooks::OVERRIDE_SYSTEM);
        // Partial: two search keys not sent. 412 names exactly those.
        let mut partial = prefetch();
        partial.as_object_mut().unwrap().remove("observations");
        partial.as_object_mut().unwrap().remove("procedures");
        let (status, err) = c.post(&path, &call_body(hook, partial).to_string()).await;
        assert_eq!(status, 412, "{hook}: {err}");
        assert_eq!(err["missingPrefetch"], json!(["observations", "procedures"]), "{err}");
        assert!(err["message"].as_str().unwrap().contains("fhirServer"), "{err}");
        // Missing: no prefetch at all; the encounter read as null counts as missing too.
        let (status, err) = c.post(&path, &call_body(hook, Value::Null).to_string()).await;
        assert_eq!(status, 412);
        assert_eq!(err["missingPrefetch"], json!(KEYS), "{err}");
        let mut no_encounter = prefetch();
        no_encounter["encounter"] = Value::Null;
        let (status, err) = c.post(&path, &call_body(hook, no_encounter).to_string()).await;
        assert_eq!((status, &err["missingPrefetch"]), (412, &json!(["encounter"])));
    }
    // The same cards (same deterministic ids) as the same encounter over gRPC.
    let (_, resp) = c.post("/cds-services/patient-view", &call_body("patient-view", prefetch()).to_string()).await;
    let p = prefetch();
    let labelled: Vec<(&str, &Value)> = KEYS.iter().map(|k| (*k, &p[*k])).filter(|(_, v)| !v.is_null()).collect();
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let focus = cdssd::fhir::Focus { patient_id: Some("p-hooks-1"), encounter_id: Some("e-hooks-1") };
    let enc = cdssd::fhir::map_resources(labelled, &cdssd::fhir::Options::new(focus, zone)).unwrap().encounter;
    let req = pb::EvaluateRequest {
        encounter: Some(enc),
        trigger: pb::Trigger::PatientView as i32,
        options: Some(pb::EvaluateOptions { llm: pb::LlmMode::Skip as i32, locale: "en".into(), ..Default::default() }),
        ..Default::default()
    };
    let decision = d.client().await.evaluate(req).await.unwrap().into_inner().decision.unwrap();
    let grpc: Vec<&str> = decision.cards.iter().map(|c| c.uuid.as_str()).collect();
    let hooks: Vec<&str> = resp["cards"].as_array().unwrap().iter().map(|c| c["uuid"].as_str().unwrap()).collect();
    assert_eq!(hooks, grpc, "CDS Hooks and gRPC answer the same cards");
    d.stop();
}

#[tokio::test]
async fn malformed_calls_get_400_with_the_field_and_unknown_services_404() {
    let d = daemon(&[]);
    let c = Client::new(&d);
    let (status, err) = c.post("/cds-services/patient-view", "{not json").await;
    assert_eq!((status, err["code"].as_str()), (400, Some("INVALID_ARGUMENT")), "{err}");
    assert_eq!(err["details"][0]["fieldViolations"][0]["field"], "body");
    let mut body = call_body("patient-view", prefetch());
    body["context"].as_object_mut().unwrap().remove("encounterId");
    body["hookInstance"] = json!("not-a-uuid");
    let (status, err) = c.post("/cds-services/patient-view", &body.to_string()).await;
    assert_eq!(status, 400, "{err}");
    let fields: Vec<&str> =
        err["details"][0]["fieldViolations"].as_array().unwrap().iter().map(|v| v["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["hookInstance", "context.encounterId"]);
    let (status, _) = c.post("/cds-services/order-sign", &call_body("patient-view", prefetch()).to_string()).await;
    assert_eq!(status, 400, "the hook must match the service");
    let mut bad_fhir = prefetch();
    bad_fhir["conditions"]["entry"][0]["resource"]["recordedDate"] = json!("yesterday");
    let (status, err) = c.post("/cds-services/patient-view", &call_body("patient-view", bad_fhir).to_string()).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["operationOutcome"]["resourceType"], "OperationOutcome", "{err}");
    let (status, err) = c.post("/cds-services/medication-prescribe", "{}").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("NOT_FOUND")));
    d.stop();
}

fn store_of(d: &Daemon) -> std::sync::Arc<dyn AuditStore> {
    let settings = crate::support::settings_with(&[("CDSSD__AUDIT__DIR", d.audit_dir.path().to_str().unwrap())]);
    audit::open(&settings.audit).unwrap().unwrap()
}

#[tokio::test]
async fn feedback_is_stored_against_the_card_and_read_back() {
    let d = daemon(&[]);
    let c = Client::new(&d);
    let (_, resp) = c.post("/cds-services/patient-view", &call_body("patient-view", prefetch()).to_string()).await;
    let card = resp["cards"][0]["uuid"].as_str().unwrap().to_string();
    let feedback = json!({"feedback": [
        {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-05-01T08:00:00+08:00",
         "overrideReason": {"reason": {"system": cdssd::web::hooks::OVERRIDE_SYSTEM, "code": "contraindicated"},
                            "userComment": "documented elsewhere"}},
        {"card": card, "outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": "2026-05-01T08:05:00+08:00"},
    ]});
    let (status, ok) = c.post("/cds-services/patient-view/feedback", &feedback.to_string()).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["stored"], 2);
    let rows = store_of(&d).feedback(0, i64::MAX).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].card_id.as_str(), rows[0].outcome.as_str()), (card.as_str(), "overridden"));
    assert_eq!(rows[0].reason_code, "contraindicated");
    assert_eq!(
        rows[0].time_us,
        chrono::DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z").unwrap().timestamp_micros()
    );
    assert_eq!(rows[1].outcome, "accepted");
    assert!(!rows[0].source_id.is_empty(), "resolved to the card's source through the decision");
    // An uncoded reason, and a card no decision showed.
    let bad = json!({"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-05-01T08:00:00Z",
                                    "overrideReason": {"reason": {"system": "http://other", "code": "x"}}}]});
    let (status, err) = c.post("/cds-services/patient-view/feedback", &bad.to_string()).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["details"][0]["fieldViolations"][0]["field"], "feedback[0].overrideReason.reason");
    let unknown = json!({"feedback": [{"card": uuid::Uuid::new_v4().to_string(), "outcome": "accepted",
                                        "outcomeTimestamp": "2026-05-01T08:00:00Z"}]});
    let (status, _) = c.post("/cds-services/patient-view/feedback", &unknown.to_string()).await;
    assert_eq!(status, 404);
    assert_eq!(store_of(&d).feedback(0, i64::MAX).unwrap().len(), 2, "nothing stored for refused feedback");
    d.stop();
}

/// (status, access-control-allow-origin) of a browser preflight from `origin`.
async fn preflight(base: &str, origin: &str) -> (u16, Option<String>) {
    let r = http_client()
        .request(reqwest::Method::OPTIONS, format!("{base}/cds-services/patient-view"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    let acao = r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), acao)
}

fn jwt_config(dir: &Path) -> (std::path::PathBuf, jsonwebtoken::EncodingKey) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.join("emr.pem"), kp.public_key_pem()).unwrap();
    let file = dir.join("cdssd.toml");
    std::fs::write(
        &file,
        format!(
            "[auth]\nmode = \"jwt\"\n[[auth.issuers]]\nissuer = \"https://emr.test/\"\naudience = \"https://cdssd.test/\"\n\
             keys_file = \"{}\"\nalgorithms = [\"ES256\"]\n",
            dir.join("emr.pem").display()
        ),
    )
    .unwrap();
    (file, jsonwebtoken::EncodingKey::from_ec_der(&kp.serialize_der()))
}

#[tokio::test]
async fn every_hooks_route_needs_a_token_and_browsers_get_cors_for_allowed_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let (config, key) = jwt_config(dir.path());
    let d = daemon(&[("CDSSD_CONFIG", config.to_str().unwrap())]);
    let mut c = Client::new(&d);
    let body = call_body("patient-view", prefetch()).to_string();
    let fb = json!({"feedback": [{"card": uuid::Uuid::new_v4().to_string(), "outcome": "accepted",
                                   "outcomeTimestamp": "2026-05-01T08:00:00Z"}]})
    .to_string();
    // No token: 401 on discovery, the service and feedback, before anything is read.
    assert_eq!(c.get("/cds-services").await.0, 401);
    let (status, err) = c.post("/cds-services/patient-view", &body).await;
    assert_eq!((status, err["message"].as_str()), (401, Some("authentication required")));
    assert_eq!(c.post("/cds-services/patient-view/feedback", &fb).await.0, 401);
    // A browser's preflight carries no token: answered by CORS for a listed origin only.
    let (status, acao) = preflight(&c.base, "https://emr.example.org").await;
    assert_eq!((status, acao.as_deref()), (200, Some("https://emr.example.org")));
    let (_, acao) = preflight(&c.base, "https://evil.example.com").await;
    assert_eq!(acao, None, "an origin not listed gets no CORS grant");
    // With a token (a fresh jti per call: replays are refused) every route answers.
    let n = std::sync::atomic::AtomicU64::new(0);
    c.token = Some(Box::new(move || {
        let now = Utc::now().timestamp();
        let jti = format!("hooks-{}", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let claims = json!({"iss": "https://emr.test/", "aud": "https://cdssd.test/", "sub": "emr-1",
                            "iat": now - 5, "exp": now + 120, "jti": jti});
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), &claims, &key).unwrap()
    }));
    assert_eq!(c.get("/cds-services").await.0, 200);
    let (status, resp) = c.post("/cds-services/patient-view", &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(c.post("/cds-services/patient-view/feedback", &fb).await.0, 404, "authenticated; the card is unknown");
    // The actual cross-origin call carries the grant too.
    let r = c
        .request(reqwest::Method::GET, "/cds-services")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://localhost:3000");
    d.stop();
}
