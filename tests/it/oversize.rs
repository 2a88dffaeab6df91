//! An oversized request on every transport (issue 15 item 4, one error contract): gRPC,
//! gRPC-Web, `POST /v1/evaluate` and CDS Hooks each answer RESOURCE_EXHAUSTED (HTTP 413)
//! with a QuotaFailure naming `server.max_request_bytes`, echo `x-request-id`, log the
//! refusal without the payload, count it, and keep serving. The real daemon, real sockets.

use cdssd::proto::v1 as pb;
use prost::Message;
use tonic_types::StatusExt;

use crate::daemon::{request, Daemon};
use crate::errors::http1;
use crate::web::to_json;

const LIMIT: &str = "60000";
/// A valid request padded past the limit with a long department name (no patient data).
fn oversized() -> pb::EvaluateRequest {
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Admission);
    req.encounter.as_mut().unwrap().department = "PADDING".repeat(12000);
    req
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

async fn post(addr: std::net::SocketAddr, path: &str, ct: &str, id: &str, body: &[u8]) -> (String, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {ct}\r\nx-request-id: {id}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    http1(addr, &head, body).await
}

/// The JSON error of the HTTP listener: 413, RESOURCE_EXHAUSTED, QuotaFailure, id echoed.
fn check_json(transport: &str, head: &str, body: &str, id: &str) {
    assert!(head.starts_with("http/1.1 413"), "{transport}: {head}\n{body}");
    assert_eq!(header(head, "x-request-id"), Some(id), "{transport}: {head}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{transport}: {e}: {body}"));
    assert_eq!(v["code"], "RESOURCE_EXHAUSTED", "{transport}: {v}");
    assert!(v["message"].as_str().unwrap().contains(&format!("limit of {LIMIT} bytes")), "{transport}: {v}");
    let quota =
        v["details"].as_array().unwrap().iter().find(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure");
    assert_eq!(
        quota.map(|q| &q["violations"][0]["subject"]),
        Some(&"server.max_request_bytes".into()),
        "{transport}: {v}"
    );
    assert!(!body.contains("PADDING"), "{transport}: no payload echoed");
}

#[tokio::test]
async fn an_oversized_request_gets_resource_exhausted_on_every_transport_and_the_daemon_keeps_serving() {
    let daemon = Daemon::start(&[("CDSSD__SERVER__MAX_REQUEST_BYTES", LIMIT), ("CDSSD__HTTP__LISTEN", "127.0.0.1:0")]);
    let big = oversized();
    assert!(big.encoded_len() > 80_000);

    // gRPC (HTTP/2).
    let mut client = daemon.client().await;
    let mut r = tonic::Request::new(big.clone());
    r.metadata_mut().insert("x-request-id", "over-grpc".parse().unwrap());
    let s = client.evaluate(r).await.expect_err("too large");
    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "grpc: {s:?}");
    assert!(s.message().contains(&format!("limit of {LIMIT} bytes")), "grpc: {}", s.message());
    let quota = s.get_details_quota_failure().expect("grpc: QuotaFailure");
    assert_eq!(quota.violations[0].subject, "server.max_request_bytes");
    assert_eq!(s.metadata().get("x-request-id").and_then(|v| v.to_str().ok()), Some("over-grpc"));

    // gRPC-Web (HTTP/1.1, binary) on the gRPC port.
    let msg = big.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let (head, body) =
        post(daemon.grpc_addr(), "/cdss.v1.CdsService/Evaluate", "application/grpc-web+proto", "over-web", &frame)
            .await;
    let all = format!("{head}\n{body}");
    assert!(all.replace(' ', "").contains("grpc-status:8"), "grpc-web: RESOURCE_EXHAUSTED: {all}");
    assert!(all.contains("server.max_request_bytes"), "grpc-web: the limit is named: {all}");
    assert_eq!(header(&head, "x-request-id"), Some("over-web"), "grpc-web: {head}");

    // JSON on the HTTP listener.
    let http = daemon.http_addr();
    let (head, body) = post(http, "/v1/evaluate", "application/json", "over-json", to_json(&big).as_bytes()).await;
    check_json("json", &head, &body, "over-json");

    // CDS Hooks on the HTTP listener.
    let hook = serde_json::json!({
        "hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "1"},
        "prefetch": {"padding": "PADDING".repeat(12000)},
    });
    let (head, body) =
        post(http, "/cds-services/patient-view", "application/json", "over-hooks", hook.to_string().as_bytes()).await;
    check_json("cds hooks", &head, &body, "over-hooks");

    // Still serving on every transport.
    client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await.expect("grpc after");
    let ok = to_json(&request("stemi_primary_pci.json", pb::Trigger::Admission));
    let (head, _) = post(http, "/v1/evaluate", "application/json", "after-json", ok.as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // Counted, each on its transport's family.
    let scrape = daemon.scrape().await;
    assert_eq!(scrape.get("cdssd_grpc_malformed_requests_total{reason=\"too_large\"}"), 2.0, "grpc + grpc-web");
    for route in ["evaluate", "cds_hooks"] {
        let (want_route, want_reason) = (format!("route=\"{route}\""), "reason=\"too_large\"");
        let counted: f64 = scrape
            .series
            .iter()
            .filter(|(k, _)| k.starts_with("cdssd_http_refused_requests_total{"))
            .filter(|(k, _)| k.contains(&want_route) && k.contains(want_reason))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(counted, 1.0, "{route}:\n{}", scrape.text);
    }
    // Logged, without the payload.
    let (status, logs) = daemon.stop_with_logs();
    assert!(status.success());
    let grpc_lines = logs.iter().filter(|l| l.contains("Request refused by the transport.")).count();
    let http_lines = logs.iter().filter(|l| l.contains("Request refused by the HTTP listener.")).count();
    assert_eq!((grpc_lines, http_lines), (2, 2), "{logs:#?}");
    assert!(logs.iter().all(|l| !l.contains("PADDING")), "no payload in the logs");
}
