//! The JSON endpoint (`POST /v1/evaluate` on the HTTP listener) and gRPC-Web on the
//! gRPC port, over real sockets: the example evaluates, and every error case of the
//! contract gets the same code and field path as over gRPC.

use std::{process::Stdio, sync::Arc};

use cdssd::{pipeline::Pipeline, proto::v1 as pb};
use std::io::Write;

use crate::{
    errors::{cases, check, http1, Answer},
    support::{request, root, settings_with, TestServer},
};

/// A real HTTP listener on 127.0.0.1:0.
async fn http_listener() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let pipeline = Arc::new(Pipeline::new(Arc::new(settings_with(&[]))).expect("pipeline builds"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let security = cdssd::listen::Security::from_settings(pipeline.settings()).unwrap();
    tokio::spawn(cdssd::web::run(listener, pipeline, security, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

async fn post_json(addr: std::net::SocketAddr, body: &str, id: &str, content_type: &str) -> (String, String) {
    let head = format!(
        "POST /v1/evaluate HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\nx-request-id: {id}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    http1(addr, &head, body.as_bytes()).await
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// The contract's view of a JSON answer.
fn answer(head: &str, body: &str) -> Answer {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}"));
    let ok = head.starts_with("http/1.1 200");
    Answer {
        code: if ok { "OK".into() } else { v["code"].as_str().unwrap_or("?").to_string() },
        message: v["message"].as_str().unwrap_or_default().to_string(),
        fields: v["details"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["fieldViolations"].as_array().cloned().unwrap_or_default())
            .map(|f| f["field"].as_str().unwrap_or_default().to_string())
            .collect(),
        request_id: header(head, "x-request-id").map(str::to_string),
    }
}

/// Proto3 JSON of a request; enum numbers the generated serialiser refuses are written raw.
pub(crate) fn to_json(req: &pb::EvaluateRequest) -> String {
    let mut clean = req.clone();
    let (trigger, llm) = (clean.trigger, clean.options.as_ref().map_or(0, |o| o.llm));
    if pb::Trigger::try_from(trigger).is_err() {
        clean.trigger = 1;
    }
    if pb::LlmMode::try_from(llm).is_err() {
        clean.options.as_mut().unwrap().llm = 1;
    }
    let mut v = serde_json::to_value(&clean).unwrap();
    if clean.trigger != trigger {
        v["trigger"] = trigger.into();
    }
    if clean.options.as_ref().map_or(0, |o| o.llm) != llm {
        v["options"]["llm"] = llm.into();
    }
    v.to_string()
}

#[tokio::test]
async fn json_endpoint_evaluates_the_example() {
    let (addr, _stop) = http_listener().await;
    let (head, body) =
        post_json(addr, &to_json(&request("stemi_primary_pci.json")), "json-ok", "application/json").await;
    assert!(head.starts_with("http/1.1 200"), "{head}\n{body}");
    assert_eq!(header(&head, "x-request-id"), Some("json-ok"));
    let resp: pb::EvaluateResponse = serde_json::from_str(&body).expect("proto3 JSON EvaluateResponse");
    let d = resp.decision.unwrap();
    assert_eq!(d.encounter_id, "enc-stemi-001");
    assert_eq!(d.request_id, "json-ok");
    assert!(!d.findings.is_empty());
}

#[tokio::test]
async fn json_error_contract() {
    let (addr, _stop) = http_listener().await;
    for (i, (name, req, code, field)) in cases().into_iter().enumerate() {
        let id = format!("json-case-{i}");
        let (head, body) = post_json(addr, &to_json(&req), &id, "application/json").await;
        check("json", name, &answer(&head, &body), code, field, &id);
        let status = head.split_whitespace().nth(1).unwrap_or("");
        let want = match code {
            "OK" => "200",
            "INVALID_ARGUMENT" => "400",
            _ => "504",
        };
        assert_eq!(status, want, "json / {name}: HTTP status");
    }
    // JSON-only cases: a time without offset, shape errors, the wrong content type.
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&request("stemi_primary_pci.json"))).unwrap();
    v["encounter"]["arrivalTime"] = "2026-05-01T08:00:00".into();
    let (head, body) = post_json(addr, &v.to_string(), "json-tz", "application/json").await;
    let a = answer(&head, &body);
    check("json", "time without offset", &a, "INVALID_ARGUMENT", Some("encounter.arrivalTime"), "json-tz");
    assert!(body.contains("offset is required"), "{body}");
    assert!(!body.contains("premature end of input: premature end of input"), "{body}");
    let (head, body) = post_json(addr, "{\"trigger\": [", "json-syntax", "application/json").await;
    check("json", "not JSON", &answer(&head, &body), "INVALID_ARGUMENT", None, "json-syntax");
    let (head, body) = post_json(addr, "{}", "json-ct", "text/plain").await;
    assert!(head.starts_with("http/1.1 415"), "{head}");
    check("json", "content type", &answer(&head, &body), "INVALID_ARGUMENT", None, "json-ct");
}

fn buf() -> std::path::PathBuf {
    root().join(".cache/buf/node_modules/.bin/buf")
}

/// `buf curl --protocol grpcweb` (HTTP/1.1) against the gRPC port: exit code, stdout, stderr.
async fn buf_grpcweb(server: &TestServer, body: &str, id: &str) -> (bool, String, String) {
    let (url, body, id) = (format!("{}/cdss.v1.CdsService/Evaluate", server.url()), body.to_string(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(buf())
            .args(["curl", "--protocol", "grpcweb", "-v", "-H", &format!("x-request-id: {id}"), "-d", "@-"])
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("buf is installed by scripts/setup.sh into .cache/buf");
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn buf_curl_grpcweb_evaluates_the_example_and_gets_the_error_contract() {
    let server = TestServer::start(settings_with(&[])).await;
    let (ok, out, err) = buf_grpcweb(&server, &to_json(&request("stemi_primary_pci.json")), "web-ok").await;
    assert!(ok, "{err}");
    let resp: pb::EvaluateResponse = serde_json::from_str(&out).expect("buf prints the JSON response");
    assert_eq!(resp.decision.unwrap().encounter_id, "enc-stemi-001");
    assert!(err.to_ascii_lowercase().contains("x-request-id: web-ok"), "{err}");
    // The error cases that proto3 JSON can express (buf refuses unknown enum numbers itself).
    for (i, (name, req, code, field)) in cases().into_iter().enumerate().skip(1) {
        if name.contains("number") {
            continue;
        }
        let id = format!("web-case-{i}");
        let (ok, _out, err) = buf_grpcweb(&server, &to_json(&req), &id).await;
        assert!(!ok, "grpcweb / {name}: {err}");
        let lower = err.to_ascii_lowercase();
        assert!(lower.contains(&code.to_ascii_lowercase()), "grpcweb / {name}: {err}");
        if let Some(f) = field {
            // buf resolves detail types only from the service's own imports, so it prints the
            // BadRequest as base64; the status message names the field.
            let message = err.lines().find(|l| l.trim_start().starts_with("\"message\":")).unwrap_or_default();
            assert!(message.contains(f), "grpcweb / {name}: {err}");
            assert!(err.contains("google.rpc.BadRequest"), "grpcweb / {name}: {err}");
        }
        assert!(lower.contains(&format!("x-request-id: {id}")), "grpcweb / {name}: {err}");
    }
    server.shutdown().await;
}
