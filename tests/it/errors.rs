//! The error contract, per transport, over real sockets: request ids on every
//! response, INVALID_ARGUMENT with field paths for unknown names and enum values,
//! DEADLINE_EXCEEDED when the fast part misses the budget, gzip, error detail
//! types in reflection, and a clear status for non-gRPC content types.

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::CompressionEncoding;
use tonic_types::StatusExt;

use crate::support::{request, settings_with, TestServer};

/// What a transport answered, reduced to what the contract fixes.
#[derive(Debug)]
pub struct Answer {
    /// Canonical gRPC code name, e.g. "INVALID_ARGUMENT" ("OK" on success).
    pub code: String,
    pub message: String,
    /// Field paths of the BadRequest violations.
    pub fields: Vec<String>,
    pub request_id: Option<String>,
}

fn code_name(c: tonic::Code) -> String {
    format!("{c:?}")
        .chars()
        .enumerate()
        .flat_map(|(i, ch)| {
            let sep = (i > 0 && ch.is_uppercase()).then_some('_');
            sep.into_iter().chain(ch.to_uppercase())
        })
        .collect()
}

/// Evaluate over gRPC (HTTP/2) with a request id.
pub async fn grpc(server: &TestServer, req: pb::EvaluateRequest, id: &str) -> Answer {
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut r = tonic::Request::new(req);
    r.metadata_mut().insert("x-request-id", id.parse().unwrap());
    match client.evaluate(r).await {
        Ok(resp) => Answer {
            code: "OK".into(),
            message: String::new(),
            fields: Vec::new(),
            request_id: resp.metadata().get("x-request-id").map(|v| v.to_str().unwrap().to_string()),
        },
        Err(s) => answer_of(&s),
    }
}

/// The contract's view of a gRPC status.
pub fn answer_of(s: &tonic::Status) -> Answer {
    Answer {
        code: code_name(s.code()),
        message: s.message().to_string(),
        fields: s
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default(),
        request_id: s.metadata().get("x-request-id").map(|v| v.to_str().unwrap().to_string()),
    }
}

/// The cases of the contract: (name, request, expected code, expected field path).
pub fn cases() -> Vec<(&'static str, pb::EvaluateRequest, &'static str, Option<&'static str>)> {
    let ok = request("stemi_primary_pci.json");
    let mut unknown_model = ok.clone();
    unknown_model.options.as_mut().unwrap().models = vec!["no-such-model".into()];
    let mut unknown_pack = ok.clone();
    unknown_pack.options.as_mut().unwrap().rule_packs = vec!["stemi".into(), "no-such-pack".into()];
    let mut unspecified = ok.clone();
    unspecified.trigger = 0;
    let mut trigger_99 = ok.clone();
    trigger_99.trigger = 99;
    let mut llm_42 = ok.clone();
    llm_42.options.as_mut().unwrap().llm = 42;
    let mut no_encounter = ok.clone();
    no_encounter.encounter = None;
    let mut budget = large_request();
    budget.options.as_mut().unwrap().budget_ms = 1;
    vec![
        ("ok", ok, "OK", None),
        ("unknown model", unknown_model, "INVALID_ARGUMENT", Some("options.models[0]")),
        ("unknown rule pack", unknown_pack, "INVALID_ARGUMENT", Some("options.rule_packs[1]")),
        ("TRIGGER_UNSPECIFIED", unspecified, "INVALID_ARGUMENT", Some("trigger")),
        ("trigger number 99", trigger_99, "INVALID_ARGUMENT", Some("trigger")),
        ("LLM mode number 42", llm_42, "INVALID_ARGUMENT", Some("options.llm")),
        ("no encounter", no_encounter, "INVALID_ARGUMENT", Some("encounter")),
        ("budget of 1 ms on a large encounter", budget, "DEADLINE_EXCEEDED", None),
    ]
}

/// An encounter of about 4,000 observations (the size that once returned OK within a 1 ms budget).
pub fn large_request() -> pb::EvaluateRequest {
    let mut req = request("septic_shock.json");
    let enc = req.encounter.as_mut().unwrap();
    let (vital, lab) = (enc.vitals[0].clone(), enc.labs[0].clone());
    let t0 = enc.arrival_time.unwrap().seconds;
    enc.vitals = (0..1990)
        .map(|i| {
            let mut v = vital.clone();
            v.id = format!("v-{i}");
            v.effective_time = Some(pbjson_types::Timestamp { seconds: t0 + i, nanos: 0 });
            v
        })
        .collect();
    enc.labs = (0..1990)
        .map(|i| {
            let mut l = lab.clone();
            l.id = format!("l-{i}");
            l.effective_time = Some(pbjson_types::Timestamp { seconds: t0 + i, nanos: 0 });
            l
        })
        .collect();
    req
}

/// Checks one answer against its case; the message never blames "the encounter" for an option.
pub fn check(transport: &str, name: &str, a: &Answer, code: &str, field: Option<&str>, id: &str) {
    assert_eq!(a.code, code, "{transport} / {name}: {a:?}");
    if let Some(f) = field {
        assert!(a.fields.iter().any(|g| g == f), "{transport} / {name}: {f} not in {:?}", a.fields);
        assert!(a.message.contains(f), "{transport} / {name}: the message names the field: {}", a.message);
    }
    assert!(!a.message.contains("encounter is invalid"), "{transport} / {name}: {}", a.message);
    assert_eq!(a.request_id.as_deref(), Some(id), "{transport} / {name}: x-request-id echoed");
}

#[tokio::test]
async fn grpc_error_contract() {
    let server = TestServer::start(settings_with(&[])).await;
    for (i, (name, req, code, field)) in cases().into_iter().enumerate() {
        let id = format!("grpc-case-{i}");
        let a = grpc(&server, req, &id).await;
        check("grpc", name, &a, code, field, &id);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_rpc_echoes_the_request_id_and_makes_one_when_absent() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut r = tonic::Request::new(pb::ListRulePacksRequest {});
    r.metadata_mut().insert("x-request-id", "list-1".parse().unwrap());
    let resp = client.list_rule_packs(r).await.unwrap();
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "list-1");
    let mut r = tonic::Request::new(pb::ListModelsRequest {});
    r.metadata_mut().insert("x-request-id", "list-2".parse().unwrap());
    let resp = client.list_models(r).await.unwrap();
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "list-2");
    // Without one, the server's own id is returned and is the decision's request id.
    let resp = client.evaluate(request("stemi_primary_pci.json")).await.unwrap();
    let made = resp.metadata().get("x-request-id").expect("made one").to_str().unwrap().to_string();
    assert_eq!(resp.into_inner().decision.unwrap().request_id, made);
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let mut r = tonic::Request::new(tonic_health::pb::HealthCheckRequest { service: String::new() });
    r.metadata_mut().insert("x-request-id", "health-1".parse().unwrap());
    let resp = health.check(r).await.unwrap();
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "health-1");
    server.shutdown().await;
}

#[tokio::test]
async fn gzip_requests_are_accepted_and_answered() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let d = client.evaluate(request("stemi_primary_pci.json")).await.expect("gzip accepted").into_inner();
    assert_eq!(d.decision.unwrap().encounter_id, "enc-stemi-001");
    server.shutdown().await;
}

#[tokio::test]
async fn error_detail_types_are_served_by_reflection() {
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
        server_reflection_response::MessageResponse, ServerReflectionRequest,
    };
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    for symbol in ["google.rpc.BadRequest", "google.rpc.ErrorInfo"] {
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(symbol.into())),
        };
        let mut stream = client.server_reflection_info(tokio_stream::iter([req])).await.unwrap().into_inner();
        let resp = stream.message().await.unwrap().expect("one answer");
        match resp.message_response {
            Some(MessageResponse::FileDescriptorResponse(f)) => assert!(!f.file_descriptor_proto.is_empty()),
            other => panic!("{symbol} not served: {other:?}"),
        }
    }
    server.shutdown().await;
}

/// One raw HTTP/1.1 request; returns the status line and headers, lower-cased, and the body.
pub async fn http1(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (h.to_ascii_lowercase(), b.to_string())
}

#[tokio::test]
async fn json_on_the_grpc_port_is_connect_and_other_types_get_a_clear_status_not_internal() {
    let server = TestServer::start(settings_with(&[])).await;
    let body = br#"{"encounter":{}}"#;
    // application/json is a Connect unary call (tests/it/connect.rs): the validation answer.
    let head = format!(
        "POST /cdss.v1.CdsService/Evaluate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-request-id: json-1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (h, b) = http1(server.addr, &head, body).await;
    assert!(h.starts_with("http/1.1 400"), "{h}");
    assert!(h.contains("x-request-id: json-1"), "{h}");
    assert!(b.contains(r#""code":"invalid_argument""#), "{b}");
    // Anything else: 415 naming what is served where.
    let head = head.replace("application/json", "text/plain").replace("json-1", "text-1");
    let (h, b) = http1(server.addr, &head, body).await;
    assert!(h.starts_with("http/1.1 415"), "{h}");
    assert!(h.contains("grpc-status: 3"), "{h}");
    assert!(h.contains("x-request-id: text-1"), "{h}");
    assert!(b.contains("POST /v1/evaluate") && b.contains("Connect"), "the answer says where JSON is served: {b}");
    server.shutdown().await;
}
