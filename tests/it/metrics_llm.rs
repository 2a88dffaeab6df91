//! LLM metrics end to end: the real daemon against a scripted OpenAI-compatible
//! HTTP server on loopback (a valid streamed draft, then HTTP 500s): outcomes,
//! tokens, time to first token, in-flight calls and the circuit-breaker gauge.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

use cdssd::proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::daemon::{request, Daemon};

/// A draft that passes the schema: one differential, nothing else.
const DRAFT: &str = r#"{"differential":[{"condition":"Acute myocardial infarction","icd10":"I21.0","likelihood":"high","supporting":["diagnoses/1"],"contradicting":[],"citations":["stemi.reperfusion"]}],"next_steps":[],"red_flags":[],"summary":"Draft for clinician review."}"#;

/// Scripted LLM: answers a streamed draft while `healthy`, HTTP 500 otherwise.
#[derive(Clone, Default)]
struct FakeLlm {
    healthy: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl FakeLlm {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.serve(conn).await });
            }
        });
        format!("http://{addr}/v1")
    }

    async fn serve(&self, mut conn: tokio::net::TcpStream) {
        // Read the request head and its Content-Length body.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let Ok(n) = conn.read(&mut chunk).await else { return };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let Ok(n) = conn.read(&mut chunk).await else { return };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.healthy.load(Ordering::SeqCst) {
            let _ = conn
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
        let (a, b) = DRAFT.split_at(DRAFT.len() / 2);
        let event = |v: serde_json::Value| format!("data: {v}\n\n");
        let delta = |s: &str| {
            event(serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "fake-llm",
                "choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null}]}))
        };
        let mut body = String::new();
        body += &delta(a);
        body += &delta(b);
        body += &event(serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "fake-llm",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
        body += &event(serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "fake-llm",
            "choices": [], "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375}}));
        body += "data: [DONE]\n\n";
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(resp.as_bytes()).await;
    }
}

fn with_llm(name: &str) -> pb::EvaluateRequest {
    let mut req = request(name, pb::Trigger::Admission);
    req.options.as_mut().unwrap().llm = pb::LlmMode::Request as i32;
    req
}

#[tokio::test]
async fn llm_metrics_follow_outcomes_tokens_and_the_breaker() {
    let llm = FakeLlm::default();
    llm.healthy.store(true, Ordering::SeqCst);
    let base_url = llm.start().await;
    let daemon = Daemon::start(&[
        ("CDSSD__LLM__ENABLED", "true"),
        ("CDSSD__LLM__BASE_URL", &base_url),
        ("CDSSD__LLM__STREAM", "true"),
        ("CDSSD__LLM__RETRIES", "0"),
        ("CDSSD__LLM__BREAKER_FAILURES", "2"),
        ("CDSSD__LLM__BREAKER_OPEN_MS", "600000"),
        ("CDSSD__LLM__CACHE_TTL_S", "0"),
    ]);
    let mut client = daemon.client().await;
    let before = daemon.scrape().await;
    assert_eq!(before.get("cdssd_llm_circuit_state"), 0.0);

    // 1. A valid streamed draft.
    let d = client.evaluate(with_llm("stemi_primary_pci.json")).await.expect("evaluate").into_inner();
    let s = d.decision.unwrap().suggestion.unwrap();
    assert_eq!(s.status(), pb::SuggestionStatus::Ok, "{s:?}");
    let mid = daemon.scrape().await;

    // 2. The LLM fails: two errors open the breaker, the third call is not made.
    llm.healthy.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        let d = client.evaluate(with_llm("stemi_primary_pci.json")).await.expect("the fast answer still comes");
        assert_ne!(d.into_inner().decision.unwrap().suggestion.unwrap().status(), pb::SuggestionStatus::Ok);
    }
    assert_eq!(llm.calls.load(Ordering::SeqCst), 3, "one good call, two failed ones, then the breaker refuses");
    let after = daemon.scrape().await;

    let d1 = |s: &str| mid.get(s) - before.get(s);
    for (series, want) in [
        (r#"cdssd_llm_requests_total{outcome="ok"}"#, 1.0),
        (r#"cdssd_llm_tokens_total{direction="in"}"#, 321.0),
        (r#"cdssd_llm_tokens_total{direction="out"}"#, 54.0),
        ("cdssd_llm_time_to_first_token_seconds_count", 1.0),
        ("cdssd_llm_request_duration_seconds_count", 1.0),
    ] {
        assert_eq!(d1(series), want, "{series} after the good call");
    }
    let d2 = |s: &str| after.get(s) - mid.get(s);
    for (series, want) in [
        (r#"cdssd_llm_requests_total{outcome="ok"}"#, 0.0),
        (r#"cdssd_llm_requests_total{outcome="error"}"#, 2.0),
        (r#"cdssd_llm_requests_total{outcome="circuit_open"}"#, 1.0),
        ("cdssd_llm_request_duration_seconds_count", 3.0),
        ("cdssd_llm_time_to_first_token_seconds_count", 0.0),
        (r#"cdssd_grpc_requests_total{method="Evaluate",code="OK"}"#, 3.0),
    ] {
        assert_eq!(d2(series), want, "{series} after the failures");
    }
    assert_eq!(after.get("cdssd_llm_circuit_state"), 2.0, "open");
    assert_eq!(after.get("cdssd_llm_in_flight"), 0.0, "no call left in flight");
    assert!(!after.text.contains("outcome=\"unavailable\""), "{}", after.text);
}
