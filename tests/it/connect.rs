//! The Connect protocol on the gRPC port, over real sockets: `buf curl` (connect-go, buf's
//! default protocol) and hand-written HTTP/1.1 requests, for unary calls in JSON and
//! protobuf, the `EvaluateStream` server stream, and every error case of the contract
//! (the same code and field path as over gRPC, the Connect error JSON, the HTTP status of
//! the code, `x-request-id` echoed).

use std::io::Write as _;
use std::process::Stdio;

use cdssd::proto::v1 as pb;
use prost::Message as _;

use crate::{
    errors::{cases, check, Answer},
    support::{request, root, settings_with, TestServer},
    web::to_json,
};

fn post(path: &str, content_type: &str, id: &str, extra: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\nx-request-id: {id}\r\n\
         connect-protocol-version: 1\r\n{extra}content-length: {len}\r\nconnection: close\r\n\r\n"
    )
}

/// A raw HTTP/1.1 response: status line and headers lower-cased, and the body as bytes.
async fn http1_bytes(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    let mut body = out[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// The contract's view of a Connect error JSON (or "OK" for HTTP 200).
fn answer(head: &str, body: &[u8]) -> Answer {
    let ok = head.starts_with("http/1.1 200");
    let v: serde_json::Value = if ok { serde_json::json!({}) } else { serde_json::from_slice(body).unwrap() };
    error_answer(ok, &v, header(head, "x-request-id"))
}

fn error_answer(ok: bool, v: &serde_json::Value, id: Option<&str>) -> Answer {
    Answer {
        code: if ok { "OK".into() } else { v["code"].as_str().unwrap_or("?").to_ascii_uppercase() },
        message: v["message"].as_str().unwrap_or_default().to_string(),
        fields: v["details"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["debug"]["fieldViolations"].as_array().cloned().unwrap_or_default())
            .map(|f| f["field"].as_str().unwrap_or_default().to_string())
            .collect(),
        request_id: id.map(str::to_string),
    }
}

/// Envelopes of a Connect stream body: (flags, payload).
fn envelopes(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 5 {
        let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
        out.push((b[0], b[5..5 + len].to_vec()));
        b = &b[5 + len..];
    }
    assert!(b.is_empty(), "trailing bytes after the last envelope");
    out
}

fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

const EVALUATE: &str = "/cdss.v1.CdsService/Evaluate";
const STREAM: &str = "/cdss.v1.CdsService/EvaluateStream";

#[tokio::test]
async fn connect_unary_json_and_proto_evaluate_the_example() {
    let server = TestServer::start(settings_with(&[])).await;
    let body = to_json(&request("stemi_primary_pci.json"));
    let (head, out) =
        http1_bytes(server.addr, &post(EVALUATE, "application/json", "c-json", "", body.len()), body.as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}\n{}", String::from_utf8_lossy(&out));
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(header(&head, "x-request-id"), Some("c-json"));
    let resp: pb::EvaluateResponse = serde_json::from_slice(&out).expect("proto3 JSON EvaluateResponse");
    let d = resp.decision.unwrap();
    assert_eq!((d.encounter_id.as_str(), d.request_id.as_str()), ("enc-stemi-001", "c-json"));
    assert!(!d.findings.is_empty());

    let proto = request("stemi_primary_pci.json").encode_to_vec();
    let (head, out) =
        http1_bytes(server.addr, &post(EVALUATE, "application/proto", "c-proto", "", proto.len()), &proto).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/proto"));
    let resp = pb::EvaluateResponse::decode(out.as_slice()).expect("protobuf EvaluateResponse, unframed");
    assert_eq!(resp.decision.unwrap().findings.len(), d.findings.len());

    // gzip request body.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(body.as_bytes()).unwrap();
    let gz = z.finish().unwrap();
    let head_gz = post(EVALUATE, "application/json", "c-gzip", "content-encoding: gzip\r\n", gz.len());
    let (head, out) = http1_bytes(server.addr, &head_gz, &gz).await;
    assert!(head.starts_with("http/1.1 200"), "{head}\n{}", String::from_utf8_lossy(&out));
    server.shutdown().await;
}

#[tokio::test]
async fn connect_error_contract() {
    let server = TestServer::start(settings_with(&[])).await;
    for (i, (name, req, code, field)) in cases().into_iter().enumerate() {
        let id = format!("connect-case-{i}");
        let body = to_json(&req);
        let (head, out) =
            http1_bytes(server.addr, &post(EVALUATE, "application/json", &id, "", body.len()), body.as_bytes()).await;
        check("connect", name, &answer(&head, &out), code, field, &id);
        let status = head.split_whitespace().nth(1).unwrap_or("");
        let want = match code {
            "OK" => "200",
            "INVALID_ARGUMENT" => "400",
            "DEADLINE_EXCEEDED" => "504",
            other => panic!("no HTTP status written down for {other}"),
        };
        assert_eq!(status, want, "connect / {name}: HTTP status of the code");
        if code != "OK" {
            assert_eq!(header(&head, "content-type"), Some("application/json"), "connect / {name}");
        }
    }
    // Connect's own refusals.
    type Refusal<'a> = (&'a str, &'a str, &'a str, &'a [u8], &'a str, &'a str);
    let refusals: &[Refusal] = &[
        ("unknown method", "/cdss.v1.CdsService/Nope", "application/json", b"{}", "501", "unimplemented"),
        ("health is gRPC only", "/grpc.health.v1.Health/Check", "application/json", b"{}", "501", "unimplemented"),
        (
            "stream content type on a unary method",
            EVALUATE,
            "application/connect+json",
            b"{}",
            "415",
            "invalid_argument",
        ),
        ("unary content type on the stream", STREAM, "application/json", b"{}", "415", "invalid_argument"),
        ("not JSON", EVALUATE, "application/json", b"{\"trigger\": [", "400", "invalid_argument"),
        ("not protobuf", EVALUATE, "application/proto", b"\xff\xff\xff", "400", "invalid_argument"),
    ];
    for (i, (name, path, ct, body, http, code)) in refusals.iter().enumerate() {
        let id = format!("connect-refusal-{i}");
        let (head, out) = http1_bytes(server.addr, &post(path, ct, &id, "", body.len()), body).await;
        assert!(head.starts_with(&format!("http/1.1 {http}")), "{name}: {head}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v["code"], *code, "{name}: {v}");
        assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{name}: {v}");
        assert_eq!(header(&head, "x-request-id"), Some(id.as_str()), "{name}");
    }
    let (head, out) =
        http1_bytes(server.addr, &post(EVALUATE, "application/json", "c-t", "connect-timeout-ms: soon\r\n", 2), b"{}")
            .await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(String::from_utf8_lossy(&out).contains("connect-timeout-ms"));
    server.shutdown().await;
}

#[tokio::test]
async fn connect_oversize_request_is_resource_exhausted_429() {
    let server = TestServer::start(settings_with(&[("CDSSD__SERVER__MAX_REQUEST_BYTES", "4096")])).await;
    let body = to_json(&request("septic_shock.json"));
    assert!(body.len() > 4096);
    let (head, out) =
        http1_bytes(server.addr, &post(EVALUATE, "application/json", "c-big", "", body.len()), body.as_bytes()).await;
    assert!(head.starts_with("http/1.1 429"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["code"], "resource_exhausted");
    assert_eq!(v["details"][0]["type"], "google.rpc.QuotaFailure");
    assert_eq!(v["details"][0]["debug"]["violations"][0]["subject"], "server.max_request_bytes");
    server.shutdown().await;
}

#[tokio::test]
async fn connect_stream_sends_each_update_then_the_end_stream_message() {
    let server = TestServer::start(settings_with(&[])).await;
    let body = envelope(0, to_json(&request("stemi_primary_pci.json")).as_bytes());
    let (head, out) =
        http1_bytes(server.addr, &post(STREAM, "application/connect+json", "c-s", "", body.len()), &body).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/connect+json"));
    let env = envelopes(&out);
    assert!(env.len() >= 3, "at least the fast update, the final one and the end: {}", env.len());
    let (last_flags, last) = env.last().unwrap();
    assert_eq!(*last_flags, 2, "the last envelope is the end-stream message");
    let end: serde_json::Value = serde_json::from_slice(last).unwrap();
    assert!(end.get("error").is_none(), "{end}");
    let updates: Vec<pb::EvaluateUpdate> = env[..env.len() - 1]
        .iter()
        .map(|(f, p)| {
            assert_eq!(*f, 0);
            serde_json::from_slice(p).expect("each envelope is one EvaluateUpdate in proto3 JSON")
        })
        .collect();
    assert_eq!(updates[0].kind(), pb::UpdateKind::Fast, "the fast part comes first");
    assert_eq!(updates.last().unwrap().kind(), pb::UpdateKind::Final);

    // An invalid request: HTTP 200, the error in the end-stream message.
    let mut bad = request("stemi_primary_pci.json");
    bad.trigger = 0;
    let body = envelope(0, to_json(&bad).as_bytes());
    let (head, out) =
        http1_bytes(server.addr, &post(STREAM, "application/connect+json", "c-s-bad", "", body.len()), &body).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let env = envelopes(&out);
    assert_eq!(env.len(), 1);
    let end: serde_json::Value = serde_json::from_slice(&env[0].1).unwrap();
    let a = error_answer(false, &end["error"], header(&head, "x-request-id"));
    check("connect stream", "TRIGGER_UNSPECIFIED", &a, "INVALID_ARGUMENT", Some("trigger"), "c-s-bad");

    // Binary codec, and a body that is not one envelope.
    let body = envelope(0, &request("stemi_primary_pci.json").encode_to_vec());
    let (head, out) =
        http1_bytes(server.addr, &post(STREAM, "application/connect+proto", "c-s-p", "", body.len()), &body).await;
    assert_eq!(header(&head, "content-type"), Some("application/connect+proto"));
    let env = envelopes(&out);
    assert!(pb::EvaluateUpdate::decode(env[0].1.as_slice()).is_ok());
    assert_eq!(env.last().unwrap().0, 2);
    let (_, out) = http1_bytes(server.addr, &post(STREAM, "application/connect+json", "c-s-raw", "", 2), b"{}").await;
    let end: serde_json::Value = serde_json::from_slice(&envelopes(&out)[0].1).unwrap();
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    server.shutdown().await;
}

/// `buf curl` with its default protocol (Connect), the schema from this repository.
async fn buf_connect(server: &TestServer, method: &str, body: &str, extra: &[&str]) -> (bool, String, String) {
    let url = format!("{}/cdss.v1.CdsService/{method}", server.url());
    let (body, extra): (String, Vec<String>) = (body.to_string(), extra.iter().map(|s| s.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(root().join(".cache/buf/node_modules/.bin/buf"))
            .current_dir(root())
            .args(["curl", "--schema", ".", "-v", "-H", "x-request-id: buf-connect", "-d", "@-"])
            .args(&extra)
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
async fn buf_curl_connect_unary_and_stream_over_http1_and_h2c() {
    let server = TestServer::start(settings_with(&[])).await;
    let body = to_json(&request("pneumonia_cap.json"));
    for extra in [&[][..], &["--http2-prior-knowledge"][..]] {
        let (ok, out, err) = buf_connect(&server, "Evaluate", &body, extra).await;
        assert!(ok, "{extra:?}: {err}");
        assert!(err.contains("Content-Type: application/proto"), "buf speaks Connect: {err}");
        let resp: pb::EvaluateResponse = serde_json::from_str(&out).expect("buf prints the JSON response");
        assert_eq!(resp.decision.unwrap().encounter_id, "enc-cap-001");
        assert!(err.to_ascii_lowercase().contains("x-request-id: buf-connect"), "{err}");

        let (ok, out, err) = buf_connect(&server, "EvaluateStream", &body, extra).await;
        assert!(ok, "{extra:?}: {err}");
        assert!(err.contains("application/connect+proto"), "{err}");
        let stream = serde_json::Deserializer::from_str(&out).into_iter::<pb::EvaluateUpdate>();
        let updates: Vec<_> = stream.map(|u| u.expect("each printed message is an EvaluateUpdate")).collect();
        assert!(updates.len() >= 2, "{out}");
    }
    let mut bad = request("pneumonia_cap.json");
    bad.options.as_mut().unwrap().rule_packs = vec!["no-such-pack".into()];
    let (ok, _out, err) = buf_connect(&server, "Evaluate", &to_json(&bad), &[]).await;
    assert!(!ok);
    assert!(err.contains("invalid_argument") && err.contains("options.rule_packs[0]"), "{err}");
    server.shutdown().await;
}
