//! cdssd's own overhead on an LLM call (target: <= 5 ms per call), measured
//! on the STEMI example with its real findings and risk scores:
//!
//! - `prepare`: de-identified prompt, request body, prompt hash;
//! - `accept`: schema validation, ICD-10 check, grounding, cross-checks;
//! - `assemble`: merging the draft into the decision and its cards;
//! - `roundtrip`: the whole `draft_for` against a loopback server that answers
//!   at once (HTTP client, SSE parsing, breaker, semaphore included; the
//!   LLM's own time is zero), streaming and non-streaming.
//!
//! Run: `cargo bench --bench llm` (release build; ~1 min).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use cdssd::{
    config::{Settings, Sources},
    decision,
    llm::LlmService,
    pipeline::Pipeline,
    proto::v1 as pb,
};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings(base_url: &str, stream: bool) -> Settings {
    let env = vec![
        ("CDSSD__RULES__DIR".to_string(), root().join("rules").display().to_string()),
        ("CDSSD__RISK__DIR".to_string(), root().join("models").display().to_string()),
        ("CDSSD__METRICS__LISTEN".to_string(), String::new()),
        ("CDSSD__LLM__BASE_URL".to_string(), base_url.to_string()),
        ("CDSSD__LLM__PROMPT_TEMPLATE".to_string(), root().join("prompts/draft.toml").display().to_string()),
        ("CDSSD__LLM__CACHE_TTL_S".to_string(), "0".to_string()),
        ("CDSSD__LLM__STREAM".to_string(), stream.to_string()),
        ("CDSSD__RULES__WATCH".to_string(), "false".to_string()),
    ];
    Settings::load(&Sources { file: None, env }).expect("bench settings are valid")
}

fn draft_json() -> String {
    serde_json::json!({
        "differential": [
            {"condition": "Acute anterior STEMI", "icd10": "I21.0", "likelihood": "high",
             "supporting": ["diagnoses/1", "labs/1", "assessments/1"], "contradicting": []},
            {"condition": "Takotsubo cardiomyopathy", "icd10": "I51.81", "likelihood": "low",
             "supporting": ["labs/1"], "contradicting": ["procedures/2", "labs/99"]},
            {"condition": "Acute pericarditis", "icd10": "I30.9", "likelihood": "low",
             "supporting": [], "contradicting": ["assessments/1"]}
        ],
        "next_steps": ["Serial troponin", "Echocardiography"],
        "red_flags": ["Ongoing ST elevation"],
        "summary": "Synthetic benchmark draft: ST elevation with rising troponin; reperfusion documented."
    })
    .to_string()
}

/// A loopback server answering every request at once with a valid draft.
async fn instant_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let content = draft_json();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let content = content.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 16];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = sock.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&have[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0);
                    if have.len() < end + 4 + len {
                        continue;
                    }
                    let stream = String::from_utf8_lossy(&have[end + 4..end + 4 + len]).contains("\"stream\":true");
                    have.drain(..end + 4 + len);
                    let (ctype, body) = if stream {
                        let mut b = String::new();
                        for piece in content.as_bytes().chunks(24) {
                            let ev = serde_json::json!({"model": "bench", "choices": [{"delta": {"content": String::from_utf8_lossy(piece)}}]});
                            b.push_str(&format!("data: {ev}\n\n"));
                        }
                        b.push_str(
                            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
                        );
                        ("text/event-stream", b)
                    } else {
                        let b = serde_json::json!({"model": "bench", "choices": [{"message": {"content": content}, "finish_reason": "stop"}]});
                        ("application/json", b.to_string())
                    };
                    let head =
                        format!("HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n", body.len());
                    if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(body.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    base
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = rt.block_on(instant_server());
    let pipeline = Pipeline::new(Arc::new(settings(&base, true))).expect("pipeline builds");
    let text = std::fs::read_to_string(root().join("examples/encounters/stemi_primary_pci.json")).unwrap();
    let req = pb::EvaluateRequest {
        encounter: Some(cdssd::encounter::encounter_from_json(&text).unwrap()),
        trigger: pb::Trigger::Discharge as i32,
        options: Some(pb::EvaluateOptions { llm: pb::LlmMode::Request as i32, ..Default::default() }),
        evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }),
    };
    let ctx = pipeline.prepare(&req, "bench".into(), None).expect("valid");
    let fast = rt.block_on(pipeline.fast(&ctx)).expect("fast part");
    let llm = LlmService::new(&settings(&base, true)).expect("llm");
    let prepared = llm.prepare(&ctx.encounter, &fast);
    let content = draft_json();
    let accepted = llm.accept(&prepared, &ctx.encounter, &fast, &content).expect("valid draft");
    eprintln!(
        "stemi: {} findings, {} risks; prompt {} chars; {} flags",
        fast.findings.len(),
        fast.risks.len(),
        prepared.prompt.system.len() + prepared.prompt.user.len(),
        accepted.flags.len()
    );

    let mut g = c.benchmark_group("llm_overhead");
    g.bench_function("prepare", |b| b.iter(|| llm.prepare(&ctx.encounter, &fast)));
    g.bench_function("accept", |b| b.iter(|| llm.accept(&prepared, &ctx.encounter, &fast, &content).unwrap()));
    g.bench_function("assemble", |b| {
        b.iter(|| decision::assemble(&ctx.header(), &fast, accepted.clone(), Pipeline::timings(&ctx, 0)))
    });
    for stream in [true, false] {
        let svc = LlmService::new(&settings(&base, stream)).expect("llm");
        let name = if stream { "roundtrip_sse" } else { "roundtrip_json" };
        g.bench_function(name, |b| {
            b.iter(|| {
                let s =
                    rt.block_on(svc.draft_for(&ctx.encounter, &fast, Instant::now() + Duration::from_secs(5), None));
                assert_eq!(s.status(), pb::SuggestionStatus::Ok, "{}", s.message);
                s
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
