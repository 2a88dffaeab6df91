//! Retrieval per example encounter, in both languages: from each example's record
//! (diagnoses, the value sets of its codes, the findings that apply, the risks) the
//! knowledge base returns the passages `eval/cases.toml` expects, and they reach the
//! prompt with their ids, in the request's language, with that language's template.

use std::{sync::Arc, time::Duration};

use cdssd::{
    llm::{eval, DraftInput},
    locale::{has_chinese, Locale},
    pipeline::{Budget, Call, Pipeline},
};

use super::support;

fn case(id: &str) -> eval::Case {
    let cases = eval::load_cases(&support::root().join("eval/cases.toml")).expect("eval/cases.toml loads");
    cases.into_iter().find(|c| c.id == id && c.tags.iter().any(|t| t == "example")).expect("an example case")
}

async fn retrieval_is_as_expected_in_both_languages(id: &str) {
    let pipeline = Pipeline::new(Arc::new(support::settings_with(&[]))).expect("pipeline");
    let case = case(id);
    for locale in [Locale::En, Locale::ZhCn] {
        let case = eval::Case { locale, ..case.clone() };
        let req = eval::request(&case, Duration::from_secs(5)).expect("request");
        let call =
            Call { request_id: format!("kb-{id}"), deadline: None, budget: Budget::Draft, caller: "test".into() };
        let p = pipeline.prepare(&req, call).expect("valid");
        let fast = pipeline.fast(&p).await.expect("fast part");
        let snapshot = p.snapshot();
        let input = DraftInput {
            encounter: p.evaluation().encounter.clone(),
            fast: Arc::new(fast),
            locale,
            assets: snapshot.llm.clone(),
            value_sets: Some(snapshot.rules.value_sets.clone()),
        };
        let prepared = pipeline.llm().prepare(&input);
        let got: Vec<(&str, f64)> = prepared.retrieved.iter().map(|r| (r.passage.id.as_str(), r.score)).collect();
        for want in &case.expect_passages {
            assert!(got.iter().any(|(g, _)| g == want), "{id} ({locale}): {want} not retrieved; got {got:?}");
        }
        if case.expect_passages.is_empty() {
            assert!(got.is_empty(), "{id} ({locale}): nothing is relevant, got {got:?}");
            assert!(prepared.prompt.user.contains(cdssd::llm::cite::no_passage(locale)), "{id} ({locale})");
        }
        for r in &prepared.retrieved {
            let line = format!("- [{}] {}: {}", r.passage.id, r.passage.title.get(locale), r.passage.text.get(locale));
            assert!(prepared.prompt.user.contains(&line), "{id} ({locale}): `{line}` not in the prompt");
        }
        assert_eq!(prepared.prompt.template_version, snapshot.llm.template(locale).version);
        assert_eq!(has_chinese(&prepared.prompt.system), locale == Locale::ZhCn, "{id} ({locale}): template language");
        assert_eq!(prepared.kb_version, snapshot.llm.kb.version);
    }
}

macro_rules! per_example {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            retrieval_is_as_expected_in_both_languages(stringify!($name)).await;
        }
    )*};
}

per_example!(
    stemi_primary_pci,
    stemi_in_progress,
    stroke_thrombolysis,
    septic_shock,
    pneumonia_cap,
    heart_failure,
    vte_medical_inpatient,
    elective_surgery,
    outpatient_visit,
);
