//! LLM fault paths against the fault-injecting loopback server: each fault
//! yields the right status within its deadline, the fast answer is never
//! delayed, the breaker opens and closes, nothing leaks, and no seeded
//! identifier reaches the wire.

use std::time::{Duration, Instant};

use cdssd::{
    decision::FastPart,
    llm::{breaker::BreakerState, LlmService},
    proto::v1::{self as pb, cds_service_client::CdsServiceClient, SuggestionStatus as S},
};
use tokio_stream::StreamExt;

use super::{
    llm_support::{encounter, llm_request, llm_settings, Fault, FaultServer},
    support::TestServer,
};

fn service(base: &str, extra: &[(&str, &str)]) -> LlmService {
    LlmService::new(&llm_settings(base, extra)).expect("service builds")
}

const QUICK: &[(&str, &str)] = &[
    ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "300"),
    ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "1500"),
    ("CDSSD__LLM__RETRY_BACKOFF_MS", "10"),
];

async fn draft(svc: &LlmService, budget: Duration) -> (pb::DraftSuggestion, Duration) {
    let enc = encounter("stemi_primary_pci.json");
    let t = Instant::now();
    let s = svc.draft_for(&enc, &FastPart::default(), t + budget, None).await;
    (s, t.elapsed())
}

fn assert_provenance(s: &pb::DraftSuggestion) {
    assert!(s.draft, "always a draft");
    assert_eq!(s.prompt_hash.len(), 64, "sha-256 hex prompt hash");
    assert!(s.template_version.starts_with("2.0.0+"), "{}", s.template_version);
}

#[tokio::test]
async fn ok_response_is_validated_grounded_and_flagged_streaming_and_not() {
    let server = FaultServer::start(vec![Fault::Ok]).await;
    for stream in ["true", "false"] {
        let mut extra = QUICK.to_vec();
        extra.push(("CDSSD__LLM__STREAM", stream));
        let (s, _) = draft(&service(&server.base, &extra), Duration::from_secs(5)).await;
        assert_eq!(s.status(), S::Ok, "stream={stream}: {}", s.message);
        assert_provenance(&s);
        assert_eq!(s.model, "fault-model");
        assert_eq!(s.differentials[0].supporting, vec!["diagnoses/dx-1".to_string()], "alias mapped back");
        assert!(s.flags.iter().any(|f| f.contains("labs/999")), "hallucinated reference flagged: {:?}", s.flags);
    }
    let bodies = server.bodies.lock().unwrap().clone();
    assert!(bodies[0].contains("\"stream\":true") && !bodies[1].contains("\"stream\":true"));
    assert!(bodies[0].contains("\"json_schema\""), "structured output requested");
}

#[tokio::test]
async fn hang_and_slow_first_byte_time_out_at_the_first_token_deadline() {
    for fault in [Fault::Hang, Fault::SlowFirstByte(Duration::from_secs(3))] {
        let server = FaultServer::start(vec![fault.clone()]).await;
        let (s, took) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
        assert_eq!(s.status(), S::Timeout, "{fault:?}: {}", s.message);
        assert!(s.message.contains("first token"), "{}", s.message);
        assert!(took < Duration::from_millis(1200), "{fault:?} answered after {took:?}");
        assert_eq!(server.request_count(), 1, "timeouts are not retried");
        server.wait_all_closed().await;
    }
    // A slow first byte within the first-token timeout is fine.
    let server = FaultServer::start(vec![Fault::SlowFirstByte(Duration::from_millis(100))]).await;
    let (s, _) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Ok, "{}", s.message);
}

#[tokio::test]
async fn endless_stream_times_out_at_the_total_deadline_and_is_closed() {
    let server = FaultServer::start(vec![Fault::EndlessStream]).await;
    let (s, took) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Timeout, "{}", s.message);
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(2500), "took {took:?}");
    server.wait_all_closed().await;
}

#[tokio::test]
async fn request_deadline_shorter_than_configured_timeouts_wins() {
    let server = FaultServer::start(vec![Fault::EndlessStream]).await;
    let (s, took) = draft(&service(&server.base, QUICK), Duration::from_millis(400)).await;
    assert_eq!(s.status(), S::Timeout, "{}", s.message);
    assert!(took < Duration::from_millis(900), "took {took:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_then_reported_unavailable() {
    for fault in [Fault::Reset, Fault::Status(429), Fault::Status(500), Fault::Status(503)] {
        let server = FaultServer::start(vec![fault.clone()]).await;
        let (s, _) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
        assert_eq!(s.status(), S::Unavailable, "{fault:?}: {}", s.message);
        assert_eq!(server.request_count(), 3, "{fault:?}: 1 try + 2 retries");
        assert_provenance(&s);
    }
    // A transient failure followed by success: the retry delivers the draft.
    let server = FaultServer::start(vec![Fault::Status(429), Fault::Ok]).await;
    let (s, _) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert_eq!(server.request_count(), 2);
    // Client errors are not retried.
    let server = FaultServer::start(vec![Fault::Status(400)]).await;
    let (s, _) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Unavailable);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn invalid_and_schema_violating_output_is_retried_once_then_invalid() {
    for (fault, stream) in [
        (Fault::InvalidJson, "true"),
        (Fault::InvalidJson, "false"),
        (Fault::SchemaViolating, "true"),
        (Fault::SchemaViolating, "false"),
    ] {
        let server = FaultServer::start(vec![fault.clone()]).await;
        let mut extra = QUICK.to_vec();
        extra.push(("CDSSD__LLM__STREAM", stream));
        let svc = service(&server.base, &extra);
        let (s, _) = draft(&svc, Duration::from_secs(5)).await;
        assert_eq!(s.status(), S::Invalid, "{fault:?} stream={stream}: {}", s.message);
        assert_eq!(server.request_count(), 2, "{fault:?}: exactly one retry");
        assert!(s.differentials.is_empty() && s.summary.is_empty(), "nothing of an invalid draft is shown");
        assert_eq!(svc.breaker_state(), BreakerState::Closed, "bad output does not open the breaker");
    }
    let server = FaultServer::start(vec![Fault::SchemaViolating, Fault::Ok]).await;
    let (s, _) = draft(&service(&server.base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Ok, "the retry succeeds: {}", s.message);
}

#[tokio::test]
async fn breaker_opens_after_failures_and_closes_after_a_successful_probe() {
    let server = FaultServer::start(vec![Fault::Status(500)]).await;
    let mut extra = QUICK.to_vec();
    extra.extend([
        ("CDSSD__LLM__RETRIES", "0"),
        ("CDSSD__LLM__BREAKER_FAILURES", "2"),
        ("CDSSD__LLM__BREAKER_OPEN_MS", "300"),
    ]);
    let svc = service(&server.base, &extra);
    for _ in 0..2 {
        assert_eq!(draft(&svc, Duration::from_secs(5)).await.0.status(), S::Unavailable);
    }
    assert_eq!(svc.breaker_state(), BreakerState::Open);
    let (s, took) = draft(&svc, Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::CircuitOpen, "{}", s.message);
    assert!(took < Duration::from_millis(100), "refused at once: {took:?}");
    assert_eq!(server.request_count(), 2, "an open breaker sends nothing");

    // After the open period one probe goes through; a failed probe re-opens.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(svc.breaker_state(), BreakerState::HalfOpen);
    assert_eq!(draft(&svc, Duration::from_secs(5)).await.0.status(), S::Unavailable);
    assert_eq!(svc.breaker_state(), BreakerState::Open);

    // The endpoint recovers: the next probe succeeds and closes the breaker.
    server.set(vec![Fault::Ok]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(draft(&svc, Duration::from_secs(5)).await.0.status(), S::Ok);
    assert_eq!(svc.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn stopped_server_is_unavailable_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: connections are refused
    let base = format!("http://127.0.0.1:{port}/v1");
    let (s, took) = draft(&service(&base, QUICK), Duration::from_secs(5)).await;
    assert_eq!(s.status(), S::Unavailable, "{}", s.message);
    assert!(took < Duration::from_millis(300), "not retried, answered at once: took {took:?}");
}

#[tokio::test]
async fn cache_answers_a_repeated_prompt_without_calling_the_llm() {
    let server = FaultServer::start(vec![Fault::Ok]).await;
    let mut extra = QUICK.to_vec();
    extra.push(("CDSSD__LLM__CACHE_TTL_S", "60"));
    let svc = service(&server.base, &extra);
    let (a, _) = draft(&svc, Duration::from_secs(5)).await;
    let (b, _) = draft(&svc, Duration::from_secs(5)).await;
    assert_eq!((a.status(), b.status()), (S::Ok, S::Ok));
    assert_eq!(server.request_count(), 1);
    assert_eq!(a.prompt_hash, b.prompt_hash);
    assert!(b.message.contains("cached"));
}

#[tokio::test]
async fn concurrency_limit_queues_calls_within_the_deadline() {
    let server = FaultServer::start(vec![Fault::Hang]).await;
    let mut extra = QUICK.to_vec();
    extra.extend([("CDSSD__LLM__MAX_CONCURRENCY", "1"), ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "1000")]);
    let svc = std::sync::Arc::new(service(&server.base, &extra));
    let enc = encounter("stemi_primary_pci.json");
    let fast = FastPart::default();
    let t = Instant::now();
    let (a, b) = tokio::join!(
        svc.draft_for(&enc, &fast, t + Duration::from_millis(600), None),
        svc.draft_for(&enc, &fast, t + Duration::from_millis(600), None)
    );
    assert_eq!((a.status(), b.status()), (S::Timeout, S::Timeout));
    assert_eq!(server.request_count(), 1, "the second call waited for the only slot");
    assert!(a.message.contains("slot") || b.message.contains("slot"), "{} / {}", a.message, b.message);
}

#[tokio::test]
async fn fast_answer_is_not_delayed_by_a_hanging_llm_and_nothing_leaks() {
    // The first request succeeds (warming up connection pools and their idle timers), then the LLM hangs.
    let server = FaultServer::start(vec![Fault::Ok, Fault::Hang]).await;
    let settings = llm_settings(&server.base, &[("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "60000")]);
    let ts = TestServer::start(settings).await;
    let mut client = CdsServiceClient::new(ts.channel().await);
    let warm = client.evaluate(llm_request("stemi_primary_pci.json", 5000)).await.expect("ok").into_inner();
    assert_eq!(warm.decision.unwrap().suggestion.unwrap().status(), S::Ok);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let baseline = tokio::runtime::Handle::current().metrics().num_alive_tasks();

    // Unary: the LLM is dropped when the budget runs out; the call still succeeds.
    let t = Instant::now();
    let d =
        client.evaluate(llm_request("stemi_primary_pci.json", 500)).await.expect("ok").into_inner().decision.unwrap();
    assert!(t.elapsed() < Duration::from_millis(1500), "unary answered after {:?}", t.elapsed());
    assert_eq!(d.suggestion.as_ref().unwrap().status(), S::Timeout);
    assert!(d.cards.iter().all(|c| !c.draft), "no LLM card without a draft");

    // Stream: FAST arrives at once while the LLM hangs; the client then goes away.
    let t = Instant::now();
    let mut stream = client.evaluate_stream(llm_request("stemi_primary_pci.json", 0)).await.expect("ok").into_inner();
    let first = stream.next().await.expect("a message").expect("ok");
    assert!(t.elapsed() < Duration::from_millis(1000), "FAST after {:?}", t.elapsed());
    assert_eq!(first.kind(), pb::UpdateKind::Fast);
    assert_eq!(first.decision.unwrap().suggestion.unwrap().status(), S::Pending);
    drop(stream);

    // Everything the abandoned draft held is released: connections closed, tasks gone.
    server.wait_all_closed().await;
    let mut alive = usize::MAX;
    for _ in 0..200 {
        alive = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        if alive <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(alive <= baseline, "{alive} tasks alive, {baseline} before");
    ts.shutdown().await;
}

#[tokio::test]
async fn no_seeded_identifier_reaches_the_llm_endpoint() {
    let server = FaultServer::start(vec![Fault::Ok]).await;
    let settings = llm_settings(&server.base, &[("CDSSD__LLM__INCLUDE_NOTES", "true")]);
    let ts = TestServer::start(settings).await;
    let mut client = CdsServiceClient::new(ts.channel().await);
    let mut req = llm_request("stemi_primary_pci.json", 5000);
    let enc = req.encounter.as_mut().unwrap();
    enc.id = "VISIT-4455667788".into();
    let p = enc.patient.as_mut().unwrap();
    p.id = "MRN-99887766".into();
    p.age_years = Some(95);
    enc.labs[0].id = "lab-13800138000".into();
    enc.notes.push(pb::Note {
        id: "note-seeded".into(),
        text: "患者李建国，身份证号 11010519491231002X，手机 13800138000，住址 上海市徐汇区漕溪北路88号。\
               Seen by Dr. Alice Walker on 2026-03-02 at 14:35; phone (415) 555-0134; email a.walker@example.org."
            .into(),
        authored_time: enc.arrival_time,
        ..Default::default()
    });
    let d = client.evaluate(req).await.expect("ok").into_inner().decision.unwrap();
    assert_eq!(d.suggestion.as_ref().unwrap().status(), S::Ok);
    let sent = server.bodies.lock().unwrap().join("\n");
    assert!(sent.contains("Seen by"), "the note was included (scrubbed)");
    for seeded in [
        "VISIT-4455667788",
        "MRN-99887766",
        "13800138000",
        "11010519491231002X",
        "李建国",
        "漕溪北路88号",
        "Alice Walker",
        "2026-03-02",
        "14:35",
        "555-0134",
        "a.walker@example.org",
        "age 95",
        "enc-stemi-001",
        "pt-000101",
    ] {
        assert!(!sent.contains(seeded), "`{seeded}` reached the LLM endpoint");
    }
    assert!(sent.contains("age 90+"));
    ts.shutdown().await;
}

/// Functional wait (up to 20 s) for the watcher.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn edited_prompt_template_is_reloaded_and_a_broken_edit_keeps_the_old_one() {
    use cdssd::reload::{Reload, Reloader};
    let server = FaultServer::start(vec![Fault::Ok]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("draft.toml");
    let original = std::fs::read_to_string(super::support::root().join("prompts/draft.toml")).unwrap();
    std::fs::write(&path, &original).unwrap();
    let path_s = path.display().to_string();
    let mut extra = QUICK.to_vec();
    extra.push(("CDSSD__LLM__PROMPT_TEMPLATE", path_s.as_str()));
    let svc = service(&server.base, &extra);
    let store = svc.asset_store().clone();
    // The service starts no watcher of its own: the one watcher (as `cdssd serve` builds it).
    let _w = Reloader::new().add(store.clone(), true, Duration::from_millis(50)).start().unwrap();
    let v1 = draft(&svc, Duration::from_secs(5)).await.0.template_version;
    assert!(v1.starts_with("2.0.0+"));

    // A new version with new wording: picked up without a restart.
    let edited = original
        .replace("version = \"2.0.0\"", "version = \"2.1.0\"")
        .replace("Write the draft JSON now.", "Write the draft JSON.");
    let attempts = store.attempts();
    std::fs::write(&path, &edited).unwrap();
    eventually("the edit in force", || store.current().en.version.starts_with("2.1.0+")).await;
    let s = draft(&svc, Duration::from_secs(5)).await.0;
    assert!(s.template_version.starts_with("2.1.0+"), "{}", s.template_version);
    assert!(server.bodies.lock().unwrap().last().unwrap().contains("Write the draft JSON.\""));
    assert!(store.attempts() > attempts);

    // A broken edit is reported (a failed outcome) and the template in force stays.
    let attempts = store.attempts();
    std::fs::write(&path, "version = \"2\"\nsystem = \"{{unknown}}\"\nuser = \"x\"\n").unwrap();
    eventually("the broken edit refused", || store.attempts() > attempts && !store.last_outcome().loaded).await;
    let last = store.last_outcome();
    assert!(last.errors[0].to_string().contains("draft.toml"), "{last:?}");
    assert_eq!(last.version, store.current().version());
    let s = draft(&svc, Duration::from_secs(5)).await.0;
    assert_eq!(s.status(), S::Ok);
    assert!(s.template_version.starts_with("2.1.0+"), "{}", s.template_version);
}

#[tokio::test]
async fn requests_read_no_template_file_a_deleted_template_still_drafts() {
    let server = FaultServer::start(vec![Fault::Ok]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("draft.toml");
    let original = std::fs::read_to_string(super::support::root().join("prompts/draft.toml")).unwrap();
    let custom = original
        .replace("version = \"2.0.0\"", "version = \"2.7.0\"")
        .replace("Write the draft JSON now.", "Write the draft JSON now, loaded once.");
    std::fs::write(&path, &custom).unwrap();
    let path_s = path.display().to_string();
    let mut extra = QUICK.to_vec();
    extra.push(("CDSSD__LLM__PROMPT_TEMPLATE", path_s.as_str()));
    let svc = service(&server.base, &extra);
    // Gone after the load: a request that read the file (or polled it) would notice.
    drop(dir);
    assert!(!path.exists());
    for _ in 0..2 {
        let s = draft(&svc, Duration::from_secs(5)).await.0;
        assert_eq!(s.status(), S::Ok, "{}", s.message);
        assert!(s.template_version.starts_with("2.7.0+"), "{}", s.template_version);
    }
    assert!(server.bodies.lock().unwrap().iter().all(|b| b.contains("loaded once.")));
    assert_eq!(svc.asset_store().current().en.version, svc.template_version());
}
