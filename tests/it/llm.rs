//! End to end against the REAL local LLM server (llama.cpp embedded in the
//! `xllamacpp` package serving the SmolLM2-135M DEMO weights, installed by
//! scripts/setup-llm.sh). Asserts the protocol and provenance, and that the
//! tiny model's schema-valid but meaningless drafts are rejected: `invalid`
//! with the reason, never `ok`.

use std::time::Duration;

use cdssd::{
    decision::FastPart,
    llm::LlmService,
    proto::v1::{self as pb, cds_service_client::CdsServiceClient, SuggestionStatus as S, UpdateKind as K},
};
use tokio_stream::StreamExt;

use super::{
    llm_support::{demo_llm_base, encounter, llm_request, llm_settings},
    support::TestServer,
};

/// Generous limits: CI machines are small (2 cores, shared with the other tests) and the
/// demo server reads prompts at 25-300 tokens/s depending on the load. On an idle
/// machine both tests finish within a minute; the limits only matter under contention.
const REAL: &[(&str, &str)] = &[
    ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "300000"),
    ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "420000"),
    ("CDSSD__LLM__MAX_TOKENS", "700"),
    ("CDSSD__LLM__MAX_PROMPT_ITEMS_PER_LIST", "3"),
    ("CDSSD__LLM__TEMPERATURE", "0"),
];

/// The tiny model's draft: provenance recorded, content rejected as degenerate (or
/// otherwise invalid) with the reason, nothing of it shown.
fn assert_rejected_draft(s: &pb::DraftSuggestion) {
    assert_eq!(s.status(), S::Invalid, "the tiny model's draft must never be ok: {:?} {}", s.status(), s.message);
    assert!(s.message.starts_with("invalid LLM output after 2 attempts: "), "{}", s.message);
    assert!(s.message.len() > "invalid LLM output after 2 attempts: ".len() + 10, "a reason: {}", s.message);
    assert!(s.draft);
    assert!(!s.model.is_empty());
    assert_eq!(s.prompt_hash.len(), 64);
    assert!(s.template_version.starts_with("2.0.0+"));
    assert!(s.latency_ms > 0);
    assert!(s.summary.is_empty() && s.differentials.is_empty(), "nothing of it is shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llm_stream_sends_fast_deltas_suggestion_final_with_provenance() {
    let base = demo_llm_base();
    let ts = TestServer::start(llm_settings(&base, REAL)).await;
    let mut client = CdsServiceClient::new(ts.channel().await);
    let req = llm_request("stemi_primary_pci.json", 0);
    let mut stream = client.evaluate_stream(req).await.expect("stream starts").into_inner();
    let mut updates = Vec::new();
    while let Some(u) = tokio::time::timeout(Duration::from_secs(450), stream.next()).await.expect("stream progresses")
    {
        updates.push(u.expect("update"));
    }
    let kinds: Vec<K> = updates.iter().map(|u| u.kind()).collect();
    assert_eq!(kinds.first(), Some(&K::Fast));
    assert_eq!(&kinds[kinds.len() - 2..], &[K::Suggestion, K::Final], "{kinds:?}");
    assert!(kinds[1..kinds.len() - 2].iter().all(|k| *k == K::DraftDelta));
    assert!(kinds.contains(&K::DraftDelta), "the text arrives incrementally");
    for (i, u) in updates.iter().enumerate() {
        assert_eq!(u.sequence as usize, i);
    }
    let fast = updates[0].decision.clone().unwrap();
    assert_eq!(fast.suggestion.as_ref().unwrap().status(), S::Pending);
    let text: String = updates.iter().map(|u| u.text_delta.as_str()).collect();
    assert!(text.trim_start().starts_with('{'), "deltas are the JSON being generated");

    let suggestion = updates[kinds.len() - 2].suggestion.clone().unwrap();
    assert_rejected_draft(&suggestion);

    let last = updates.last().unwrap().decision.clone().unwrap();
    assert_eq!(last.suggestion.as_ref(), Some(&suggestion), "FINAL carries the same draft");
    assert_eq!(last.versions.as_ref().unwrap().prompt_template, suggestion.template_version);
    assert_eq!(last.findings, fast.findings, "the fast part is unchanged by the draft");
    assert!(
        !last.cards.iter().any(|c| c.source.as_ref().is_some_and(|s| s.kind() == pb::SourceKind::Llm)),
        "no card for a rejected draft"
    );
    assert!(last.timings.as_ref().unwrap().llm_us > 0);
    ts.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llm_non_streaming_structured_output_is_parsed_and_validated() {
    let base = demo_llm_base();
    let mut extra = REAL.to_vec();
    extra.push(("CDSSD__LLM__STREAM", "false"));
    let svc = LlmService::new(&llm_settings(&base, &extra)).expect("service");
    let enc = encounter("outpatient_visit.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(420);
    let s = svc.draft_for(&enc, &FastPart::default(), deadline, None).await;
    assert_rejected_draft(&s);
}
