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
//! - `first_message`: p50/p99 of the first `EvaluateStream` message (FAST) over a
//!   real gRPC socket without LLM traffic and with `max_concurrency` LLM calls of
//!   5 s in flight (target: p99 within 10 %).
//!
//! Run: `cargo bench --bench llm` (release build); `-- first_message` runs only the latter.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use cdssd::proto::v1::cds_service_client::CdsServiceClient;
use cdssd::{
    config::{Settings, Sources},
    decision,
    llm::LlmService,
    pipeline::Pipeline,
    proto::v1 as pb,
};
use criterion::{criterion_group, Criterion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings(base_url: &str, stream: bool) -> Settings {
    let env = vec![
        ("CDSSD__RULES__DIR".to_string(), root().join("rules").display().to_string()),
        ("CDSSD__RISK__DIR".to_string(), root().join("models").display().to_string()),
        ("CDSSD__METRICS__LISTEN".to_string(), String::new()),
        ("CDSSD__LLM__BASE_URL".to_string(), base_url.to_string()),
        ("CDSSD__LLM__KNOWLEDGE_BASE".to_string(), root().join("kb").display().to_string()),
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
             "supporting": ["diagnoses/1", "labs/1", "assessments/1"], "contradicting": [], "citations": ["stemi.reperfusion"]},
            {"condition": "Takotsubo cardiomyopathy", "icd10": "I51.81", "likelihood": "low",
             "supporting": ["labs/1"], "contradicting": ["procedures/2", "labs/99"], "citations": []},
            {"condition": "Acute pericarditis", "icd10": "I30.9", "likelihood": "low",
             "supporting": [], "contradicting": ["assessments/1"], "citations": []}
        ],
        "next_steps": [{"step": "Serial troponin", "citations": []}, {"step": "Echocardiography", "citations": []}],
        "red_flags": ["Ongoing ST elevation"],
        "summary": "Synthetic benchmark draft: ST elevation with rising troponin; reperfusion documented."
    })
    .to_string()
}

/// A loopback server answering every request after `delay` with a valid draft.
async fn instant_server(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let content = draft_json();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let _ = sock.set_nodelay(true);
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
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
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

/// The STEMI example, evaluated at a fixed time.
fn request(mode: pb::LlmMode) -> pb::EvaluateRequest {
    let text = std::fs::read_to_string(root().join("examples/encounters/stemi_primary_pci.json")).unwrap();
    pb::EvaluateRequest {
        encounter: Some(cdssd::encounter::encounter_from_json(&text).unwrap()),
        trigger: pb::Trigger::Discharge as i32,
        options: Some(pb::EvaluateOptions { llm: mode as i32, ..Default::default() }),
        evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = rt.block_on(instant_server(Duration::ZERO));
    let pipeline = Pipeline::new(Arc::new(settings(&base, true))).expect("pipeline builds");
    let req = request(pb::LlmMode::Request);
    let ctx = pipeline
        .prepare(
            &req,
            cdssd::pipeline::Call {
                request_id: "bench".into(),
                deadline: None,
                budget: cdssd::pipeline::Budget::Decision,
                caller: "test".into(),
            },
        )
        .expect("valid");
    let fast = rt.block_on(pipeline.fast(&ctx)).expect("fast part");
    let llm = LlmService::new(&settings(&base, true)).expect("llm");
    let input = |svc: &LlmService| cdssd::llm::DraftInput {
        encounter: ctx.evaluation().encounter.clone(),
        fast: Arc::new(fast.clone()),
        locale: cdssd::locale::Locale::En,
        assets: svc.assets(),
        value_sets: Some(ctx.snapshot().rules.value_sets.clone()),
    };
    let draft_input = input(&llm);
    let prepared = llm.prepare(&draft_input);
    let content = draft_json();
    let accepted = llm.validate(&prepared, &draft_input, &content).expect("valid draft");
    eprintln!(
        "stemi: {} findings, {} risks; prompt {} chars; {} flags",
        fast.findings.len(),
        fast.risks.len(),
        prepared.prompt.system.len() + prepared.prompt.user.len(),
        accepted.flags.len()
    );

    let mut g = c.benchmark_group("llm_overhead");
    // The knowledge-base lookup alone (query from the encounter + BM25 + gate); target <= 2 ms.
    let assets = llm.assets();
    g.bench_function("retrieve", |b| {
        b.iter(|| {
            let q = cdssd::kb::RetrievalQuery::from_encounter(
                &ctx.evaluation().encounter,
                &fast,
                Some(&ctx.snapshot().rules.value_sets),
            );
            assets.kb.retrieve(&q, 4, 2.0)
        })
    });
    g.bench_function("prepare", |b| b.iter(|| llm.prepare(&draft_input)));
    g.bench_function("accept", |b| b.iter(|| llm.validate(&prepared, &draft_input, &content).unwrap()));
    g.bench_function("assemble", |b| {
        b.iter(|| decision::assemble(&ctx.header(), &fast, accepted.clone(), Pipeline::timings(ctx.evaluation(), 0)))
    });
    for stream in [true, false] {
        let svc = LlmService::new(&settings(&base, stream)).expect("llm");
        let name = if stream { "roundtrip_sse" } else { "roundtrip_json" };
        g.bench_function(name, |b| {
            b.iter(|| {
                let s = rt.block_on(svc.draft_with(input(&svc), Instant::now() + Duration::from_secs(5), None));
                assert_eq!(s.status(), pb::SuggestionStatus::Ok, "{}", s.message);
                s
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

/// First `EvaluateStream` message latency (FAST: rules + risk) over a real gRPC socket,
/// without LLM traffic and with `llm.max_concurrency` LLM calls of 5 s in flight.
/// Target: p99 under LLM load within 10 % of p99 without it.
fn first_message_under_llm_load() {
    const N: usize = 300;
    const LLM_DELAY: Duration = Duration::from_secs(5);
    const CONCURRENCY: usize = 4;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let base = instant_server(LLM_DELAY).await;
        let mut s = settings(&base, true);
        s.llm.max_concurrency = CONCURRENCY;
        s.llm.first_token_timeout_ms = 30_000;
        s.llm.total_timeout_ms = 30_000;
        let pipeline = Arc::new(Pipeline::new(Arc::new(s)).expect("pipeline builds"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cdssd::server::run(listener, pipeline, async {
            let _ = stop_rx.await;
        }));
        let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();
        let client = CdsServiceClient::new(channel);
        let req = request(pb::LlmMode::Skip);

        let measure = |mode: pb::LlmMode| {
            let mut client = client.clone();
            let req = pb::EvaluateRequest { options: Some(pb::EvaluateOptions { llm: mode as i32, ..Default::default() }), ..req.clone() };
            async move {
                let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                for _ in 0..N {
                    let t = Instant::now();
                    let mut stream = client.evaluate_stream(req.clone()).await.unwrap().into_inner();
                    let first = stream.next().await.unwrap().unwrap();
                    assert_eq!(first.kind(), pb::UpdateKind::Fast);
                    h.record(t.elapsed().as_micros() as u64).unwrap();
                }
                h
            }
        };
        let _ = measure(pb::LlmMode::Skip).await; // warm-up
        let quiet = measure(pb::LlmMode::Skip).await;

        // Keep CONCURRENCY LLM calls of 5 s in flight for the whole measurement.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut load = Vec::new();
        for _ in 0..CONCURRENCY {
            let (mut client, stop, req) = (client.clone(), stop.clone(), request(pb::LlmMode::Request));
            load.push(tokio::spawn(async move {
                let mut drafts = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut stream = client.evaluate_stream(req.clone()).await.unwrap().into_inner();
                    while let Some(u) = stream.next().await {
                        if u.unwrap().kind() == pb::UpdateKind::Suggestion {
                            drafts += 1;
                        }
                    }
                }
                drafts
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let loaded = measure(pb::LlmMode::Skip).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut drafts = 0;
        for l in load {
            drafts += l.await.unwrap();
        }
        let _ = stop_tx.send(());
        let _ = server.await;
        let p = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "first_message (FAST) over gRPC, {N} streams each: without LLM traffic p50 {:.2} ms p99 {:.2} ms; \
             with {CONCURRENCY} LLM calls of {} s in flight ({drafts} drafts completed) p50 {:.2} ms p99 {:.2} ms; p99 ratio {:.3}",
            p(&quiet, 0.5), p(&quiet, 0.99), LLM_DELAY.as_secs(), p(&loaded, 0.5), p(&loaded, 0.99), p(&loaded, 0.99) / p(&quiet, 0.99)
        );
    });
}

fn main() {
    // `cargo bench --bench llm -- first_message` runs only the gRPC measurement;
    // LLM_BENCH_SKIP_FIRST_MESSAGE=1 skips it.
    let only_first_message = std::env::args().skip(1).any(|a| a.contains("first_message"));
    if !only_first_message {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    if std::env::var_os("LLM_BENCH_SKIP_FIRST_MESSAGE").is_none() {
        first_message_under_llm_load();
    }
}
