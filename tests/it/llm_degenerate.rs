//! Degenerate-output rejection with canned model answers over a real socket
//! (the fault server): schema-valid garbage is `invalid` with its reason after
//! exactly one retry, never `ok`; a good answer on the retry is accepted.

use std::time::{Duration, Instant};

use cdssd::{
    decision::FastPart,
    llm::LlmService,
    proto::v1::{self as pb, SuggestionStatus as S},
};
use serde_json::json;

use super::llm_support::{encounter, llm_settings, Fault, FaultServer};

const QUICK: &[(&str, &str)] = &[
    ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "500"),
    ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "3000"),
    ("CDSSD__LLM__RETRY_BACKOFF_MS", "10"),
];

async fn draft_from(script: Vec<Fault>, example: &str) -> (pb::DraftSuggestion, usize) {
    let server = FaultServer::start(script).await;
    let svc = LlmService::new(&llm_settings(&server.base, QUICK)).expect("service builds");
    let enc = encounter(example);
    let s = svc.draft_for(&enc, &FastPart::default(), Instant::now() + Duration::from_secs(5), None).await;
    (s, server.request_count())
}

fn content(differential: serde_json::Value, summary: &str) -> Fault {
    Fault::Content(
        json!({"differential": differential, "next_steps": [{"step": "Repeat the chest radiograph", "citations": []}], "red_flags": [],
               "summary": summary})
        .to_string(),
    )
}

const SUMMARY: &str = "Adult with fever, productive cough and a lobar infiltrate; moderate severity by CURB-65.";

#[tokio::test]
async fn the_quick_start_garbage_is_invalid_with_its_reason_never_ok() {
    // What the tiny model returned for the pneumonia example before this check existed.
    let garbage = content(
        json!([
            {"condition": "<diagnosis>", "icd10": "C10.0", "likelihood": "high", "supporting": ["diagnoses/1"], "contradicting": [], "citations": []},
            {"condition": "<diagnosis>", "icd10": "C10.0", "likelihood": "high", "supporting": ["diagnoses/1"], "contradicting": [], "citations": []}
        ]),
        "20.0.0.0.0.0.0.0.0.0.0",
    );
    let (s, requests) = draft_from(vec![garbage], "pneumonia_cap.json").await;
    assert_eq!(s.status(), S::Invalid, "{}", s.message);
    assert_eq!(requests, 2, "exactly one retry");
    assert!(s.message.contains("degenerate output") && s.message.contains("/summary"), "{}", s.message);
    assert!(s.differentials.is_empty() && s.summary.is_empty(), "nothing of a degenerate draft is shown");
}

#[tokio::test]
async fn each_kind_of_degenerate_answer_is_rejected_with_its_reason() {
    let dx = |condition: &str, code: &str, supporting: serde_json::Value| json!([{"condition": condition, "icd10": code, "likelihood": "high", "supporting": supporting, "contradicting": [], "citations": []}]);
    let cases: Vec<(&str, Fault, &str)> = vec![
        ("placeholder", content(dx("<diagnosis>", "J18.9", json!(["diagnoses/1"])), SUMMARY), "placeholder"),
        ("chapter", content(dx("Community-acquired pneumonia", "C10.0", json!(["diagnoses/1"])), SUMMARY), "chapter II"),
        ("repeated", content(dx("Pneumonia", "J18.9", json!(["diagnoses/1"])), "cough cough cough cough"), "repeats"),
        ("empty", content(dx("Pneumonia", "J18.9", json!(["diagnoses/1"])), " -- "), "no words"),
        (
            "unsupported",
            content(dx("Community-acquired pneumonia", "J18.9", json!(["labs/999"])), SUMMARY),
            "none of the 1 differential(s) is supported",
        ),
        (
            "copied",
            content(
                dx("Pneumonia", "J18.9", json!(["diagnoses/1"])),
                "Use only the de-identified encounter you are given. Times are relative to hospital arrival (T+35 min).",
            ),
            "copies the prompt",
        ),
    ];
    for (name, fault, reason) in cases {
        let (s, requests) = draft_from(vec![fault], "pneumonia_cap.json").await;
        assert_eq!(s.status(), S::Invalid, "{name}: {}", s.message);
        assert_eq!(requests, 2, "{name}: exactly one retry");
        assert!(s.message.contains(reason), "{name}: {}", s.message);
    }
}

#[tokio::test]
async fn a_good_answer_on_the_retry_is_accepted_and_unsupported_differentials_are_dropped() {
    let good = content(
        json!([
            {"condition": "Community-acquired pneumonia", "icd10": "J18.9", "likelihood": "high", "supporting": ["diagnoses/1"], "contradicting": [], "citations": []},
            {"condition": "Pulmonary embolism", "icd10": "I26.9", "likelihood": "low", "supporting": [], "contradicting": [], "citations": []}
        ]),
        SUMMARY,
    );
    let garbage = content(
        json!([{"condition": "<diagnosis>", "icd10": "C10.0", "likelihood": "high", "supporting": [], "contradicting": [], "citations": []}]),
        "x",
    );
    let (s, requests) = draft_from(vec![garbage, good], "pneumonia_cap.json").await;
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert_eq!(requests, 2);
    assert_eq!(s.differentials.len(), 1, "the unsupported differential is dropped");
    assert_eq!(s.differentials[0].icd10, "J18.9");
    assert!(s.flags.iter().any(|f| f.contains("dropped differential 2")), "{:?}", s.flags);
}
