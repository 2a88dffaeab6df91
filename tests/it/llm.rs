//! End to end against the REAL local LLM server (llama.cpp embedded in the
//! `xllamacpp` package serving the SmolLM2-135M DEMO weights, installed by
//! scripts/setup-llm.sh). Asserts structure and provenance, never content:
//! the demo model is not clinically meaningful.

use std::{collections::HashSet, time::Duration};

use cdssd::{
    decision::FastPart,
    llm::{validate::is_icd10, LlmService},
    proto::v1::{self as pb, cds_service_client::CdsServiceClient, SuggestionStatus as S, UpdateKind as K},
};
use tokio_stream::StreamExt;

use super::{
    llm_support::{demo_llm_base, encounter, llm_request, llm_settings},
    support::{example, TestServer},
};

/// Generous limits: CI machines are small (2 cores, shared with the other tests) and the
/// demo server reads prompts at 25-300 tokens/s depending on the load. On an idle
/// machine both tests finish within a minute; the limits only matter under contention.
const REAL: &[(&str, &str)] = &[
    ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "300000"),
    ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "420000"),
    ("CDSSD__LLM__MAX_TOKENS", "1500"),
    ("CDSSD__LLM__MAX_PROMPT_ITEMS_PER_LIST", "3"),
    ("CDSSD__LLM__TEMPERATURE", "0"),
];

/// Every reference names a list and an item that exist in the encounter.
fn encounter_refs(e: &pb::Encounter) -> HashSet<String> {
    let mut refs = HashSet::new();
    let mut add = |list: &str, ids: Vec<&String>| refs.extend(ids.into_iter().map(|id| format!("{list}/{id}")));
    add("diagnoses", e.diagnoses.iter().map(|x| &x.id).collect());
    add("vitals", e.vitals.iter().map(|x| &x.id).collect());
    add("labs", e.labs.iter().map(|x| &x.id).collect());
    add("assessments", e.assessments.iter().map(|x| &x.id).collect());
    add("medication_orders", e.medication_orders.iter().map(|x| &x.id).collect());
    add("medication_administrations", e.medication_administrations.iter().map(|x| &x.id).collect());
    add("procedures", e.procedures.iter().map(|x| &x.id).collect());
    add("allergies", e.allergies.iter().map(|x| &x.id).collect());
    add("notes", e.notes.iter().map(|x| &x.id).collect());
    refs
}

fn assert_valid_draft(s: &pb::DraftSuggestion, refs: &HashSet<String>, fast: &pb::Decision) {
    assert_eq!(s.status(), S::Ok, "status {:?}: {}", s.status(), s.message);
    assert!(s.draft);
    assert!(!s.model.is_empty());
    assert_eq!(s.prompt_hash.len(), 64);
    assert!(s.template_version.starts_with("1.0.0+"));
    assert!(s.latency_ms > 0);
    assert!(!s.summary.is_empty() && s.summary.chars().count() <= 800);
    assert!((1..=5).contains(&s.differentials.len()));
    let findings: HashSet<String> = fast.findings.iter().map(|f| format!("findings/{}", f.rule_id)).collect();
    let risks: HashSet<String> = fast.risks.iter().map(|r| format!("risks/{}", r.model_id)).collect();
    for d in &s.differentials {
        assert!(is_icd10(&d.icd10), "{}", d.icd10);
        assert!(["high", "moderate", "low"].contains(&d.likelihood.as_str()));
        for r in d.supporting.iter().chain(&d.contradicting) {
            assert!(
                refs.contains(r) || findings.contains(r) || risks.contains(r),
                "reference {r} is not in the encounter"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llm_stream_sends_fast_deltas_suggestion_final_with_provenance() {
    let base = demo_llm_base();
    let ts = TestServer::start(llm_settings(&base, REAL)).await;
    let mut client = CdsServiceClient::new(ts.channel().await);
    let req = llm_request("stemi_primary_pci.json", 0);
    let refs = encounter_refs(req.encounter.as_ref().unwrap());
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
    assert_valid_draft(&suggestion, &refs, &fast);

    let last = updates.last().unwrap().decision.clone().unwrap();
    assert_eq!(last.suggestion.as_ref(), Some(&suggestion), "FINAL carries the same draft");
    assert_eq!(last.versions.as_ref().unwrap().prompt_template, suggestion.template_version);
    assert_eq!(last.findings, fast.findings, "the fast part is unchanged by the draft");
    let llm_cards: Vec<&pb::Card> =
        last.cards.iter().filter(|c| c.source.as_ref().is_some_and(|s| s.kind() == pb::SourceKind::Llm)).collect();
    assert_eq!(llm_cards.len(), 1);
    assert!(llm_cards[0].draft && llm_cards[0].indicator() == pb::Indicator::Info);
    assert!(llm_cards[0].summary.starts_with("DRAFT"));
    let llm_pos = last.cards.iter().position(|c| c.draft).unwrap();
    assert!(
        last.cards[..llm_pos].iter().all(|c| !c.draft)
            && last.cards[llm_pos + 1..].iter().all(|c| c.indicator() != pb::Indicator::Critical),
        "the LLM card never ranks above a critical card"
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
    let refs = encounter_refs(&example("outpatient_visit.json"));
    assert_valid_draft(&s, &refs, &pb::Decision::default());
}
