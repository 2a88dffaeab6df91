//! Citations of knowledge-base passages, end to end through the pipeline with canned
//! model answers over a real socket (the fault server) and the committed `kb/`: a draft
//! citing the passages it was given is `ok` and grounded and its card shows them (id,
//! title, source, section, review status) in the request's language; a citation of a
//! passage that was not given makes the draft `invalid` (after the one retry); an answer
//! in the wrong language or with nothing retrieved is flagged, never grounded.

use std::sync::Arc;

use cdssd::{
    pipeline::{Budget, Call, Pipeline},
    proto::v1::{self as pb, SuggestionStatus as S},
};
use serde_json::json;

use super::llm_support::{kb_dir, llm_request, llm_settings, Fault, FaultServer};

fn answer(condition: &str, citations: &[&str], summary: &str) -> String {
    json!({
        "differential": [
            {"condition": condition, "icd10": "J18.9", "likelihood": "high",
             "supporting": ["diagnoses/1"], "contradicting": [], "citations": citations},
            {"condition": "Pulmonary embolism", "icd10": "I26.9", "likelihood": "low",
             "supporting": ["diagnoses/1"], "contradicting": [], "citations": []}
        ],
        "next_steps": [
            {"step": "Blood cultures before the first antibiotic dose", "citations": citations},
            {"step": "Repeat the chest radiograph", "citations": []}
        ],
        "red_flags": [],
        "summary": summary
    })
    .to_string()
}

const EN: &str = "Adult with fever, productive cough and a lobar infiltrate; moderate severity by CURB-65.";
const ZH: &str = "发热、咳痰伴肺叶浸润的成人患者，CURB-65 提示中度，需尽早抗感染治疗。";

async fn decide(content: String, locale: &str, kb: &str) -> (pb::Decision, FaultServer, Pipeline) {
    let server = FaultServer::start(vec![Fault::Content(content)]).await;
    let settings = llm_settings(
        &server.base,
        &[
            ("CDSSD__LLM__KNOWLEDGE_BASE", kb),
            ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "2000"),
            ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "5000"),
            ("CDSSD__LLM__RETRY_BACKOFF_MS", "10"),
        ],
    );
    let pipeline = Pipeline::new(Arc::new(settings)).expect("pipeline");
    let mut req = llm_request("pneumonia_cap.json", 5000);
    req.options.as_mut().unwrap().locale = locale.into();
    let call = Call { request_id: "cite".into(), deadline: None, budget: Budget::Draft, caller: "test".into() };
    let p = pipeline.prepare(&req, call).expect("valid");
    let d = pipeline.evaluate(&p).await.expect("decision");
    (d, server, pipeline)
}

fn llm_card(d: &pb::Decision) -> Option<&pb::Card> {
    d.cards.iter().find(|c| c.source.as_ref().is_some_and(|s| s.kind() == pb::SourceKind::Llm))
}

#[tokio::test]
async fn a_draft_citing_the_given_passages_is_grounded_and_its_card_shows_them() {
    let (d, server, pipeline) =
        decide(answer("Community-acquired pneumonia", &["pneumonia.severity"], EN), "en", &kb_dir()).await;
    let s = d.suggestion.clone().unwrap();
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert!(s.grounded, "{:?}", s.flags);
    assert_eq!(s.locale, "en");
    assert_eq!(s.template_version, pipeline.llm().assets().en.version);
    assert_eq!(s.knowledge_base_version, pipeline.llm().assets().kb.version);
    // The uncited differential and next step are dropped with a flag.
    assert_eq!(s.differentials.len(), 1);
    assert_eq!(s.differentials[0].citations, ["pneumonia.severity"]);
    assert_eq!(s.recommendations.len(), 1);
    assert_eq!(s.recommendations[0].citations, ["pneumonia.severity"]);
    assert_eq!(s.next_steps, [s.recommendations[0].text.clone()]);
    assert!(s.flags.iter().any(|f| f.starts_with("dropped differential 2")), "{:?}", s.flags);
    let ids: Vec<&str> = s.passages.iter().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"pneumonia.severity") && ids.contains(&"pneumonia.antibiotic_timing"), "{ids:?}");
    let cited: Vec<&pb::GuidelinePassage> = s.passages.iter().filter(|p| p.cited).collect();
    assert_eq!(cited.len(), 1);
    assert_eq!(cited[0].review_status, "project-written summary, not clinically reviewed");
    assert!(!cited[0].title.is_empty() && !cited[0].source.is_empty() && !cited[0].section.is_empty());
    // The prompt carried the passages with their ids.
    let body = server.bodies.lock().unwrap().last().cloned().unwrap();
    assert!(body.contains("[pneumonia.severity]") && body.contains("Guideline passages"), "{body}");
    let card = llm_card(&d).expect("an LLM card");
    assert!(card.draft && card.indicator() == pb::Indicator::Info);
    let line = format!("- [pneumonia.severity] {} — {}, {}", cited[0].title, cited[0].source, cited[0].section);
    assert!(card.detail.contains("Guideline passages cited:") && card.detail.contains(&line), "{}", card.detail);
    assert!(!card.detail.contains("pneumonia.antibiotic_timing"), "only cited passages on the card");
}

#[tokio::test]
async fn a_zh_cn_request_gets_the_chinese_template_passages_and_card() {
    let (d, server, pipeline) = decide(answer("社区获得性肺炎", &["pneumonia.severity"], ZH), "zh-CN", &kb_dir()).await;
    let s = d.suggestion.clone().unwrap();
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert!(s.grounded, "{:?}", s.flags);
    assert_eq!(s.locale, "zh-CN");
    assert_eq!(s.template_version, pipeline.llm().assets().zh.version);
    assert_ne!(s.template_version, pipeline.llm().assets().en.version);
    let body = server.bodies.lock().unwrap().last().cloned().unwrap();
    assert!(body.contains("你是临床决策支持助手") && body.contains("[pneumonia.severity]"), "{body}");
    let cited = s.passages.iter().find(|p| p.cited).expect("cited");
    assert!(cdssd::locale::has_chinese(&cited.title), "{}", cited.title);
    assert_eq!(cited.review_status, "项目编写的摘要，未经临床审核");
    let card = llm_card(&d).expect("an LLM card");
    assert!(card.detail.contains("引用的指南段落") && card.detail.contains(&cited.title), "{}", card.detail);
}

#[tokio::test]
async fn citing_a_passage_that_was_not_given_is_invalid_after_one_retry() {
    // stemi.reperfusion exists but is not retrieved for a pneumonia; pneumonia.made_up does not exist.
    for id in ["stemi.reperfusion", "pneumonia.made_up"] {
        let (d, server, _) = decide(answer("Community-acquired pneumonia", &[id], EN), "en", &kb_dir()).await;
        let s = d.suggestion.clone().unwrap();
        assert_eq!(s.status(), S::Invalid, "{id}");
        assert!(
            s.message.contains(&format!("cites passage `{id}`, which was not given in the prompt")),
            "{id}: {}",
            s.message
        );
        assert_eq!(server.request_count(), 2, "one retry");
        assert!(s.differentials.is_empty() && s.summary.is_empty(), "nothing of it is shown");
        assert!(!s.passages.is_empty() && s.passages.iter().all(|p| !p.cited), "the retrieved passages are listed");
        assert!(llm_card(&d).is_none());
    }
    // A draft whose differentials cite nothing although passages were given: invalid.
    let (d, _, _) = decide(answer("Community-acquired pneumonia", &[], EN), "en", &kb_dir()).await;
    let s = d.suggestion.unwrap();
    assert_eq!(s.status(), S::Invalid);
    assert!(s.message.contains("cites a guideline passage given in the prompt"), "{}", s.message);
}

#[tokio::test]
async fn the_wrong_language_and_an_empty_retrieval_are_flagged_never_grounded() {
    let (d, _, _) =
        decide(answer("Community-acquired pneumonia", &["pneumonia.severity"], EN), "zh-CN", &kb_dir()).await;
    let s = d.suggestion.unwrap();
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert!(!s.grounded);
    assert!(s.flags.iter().any(|f| f.contains("not written in the request's language (zh-CN)")), "{:?}", s.flags);

    let (d, _, _) = decide(answer("Community-acquired pneumonia", &[], EN), "en", "").await;
    let s = d.suggestion.unwrap();
    assert_eq!(s.status(), S::Ok, "{}", s.message);
    assert!(!s.grounded && s.passages.is_empty() && s.knowledge_base_version.is_empty());
    assert!(s.flags.iter().any(|f| f == "no guideline passage retrieved"), "{:?}", s.flags);
    assert_eq!(s.differentials.len(), 2, "nothing to cite: claims are kept, flagged");
}
