//! `cdssd llm eval CASES`: the evaluation gate of the drafted suggestion.
//!
//! The cases file (`eval/cases.toml`) and the figures. The command
//! (`cli/llm.rs`) runs every case through the real pipeline (validation, rules,
//! risk, retrieval, LLM, checks) one at a time; [`score`] and [`Report`] measure: schema validity, `ok` rate, mention of the principal
//! problem in `ok` drafts, citation precision (cited passages tagged with a
//! value set that contains the differential's code / cited passages), grounding
//! (claims with a citation of a retrieved passage / claims), degenerate-output
//! rate, p50/p99 latency, and whether retrieval returned the expected passages.
//! [`Gate`] turns the figures into a pass/fail verdict (the CLI's exit code).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{encounter::CodeSystem, kb::retrieve::value_sets_of, locale::Locale, proto::v1 as pb};

/// One evaluation case.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub encounter: PathBuf,
    pub locale: Locale,
    pub must_mention: Vec<String>,
    pub expect_passages: Vec<String>,
    pub strip_diagnoses: bool,
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(rename = "case")]
    cases: Vec<CaseToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    id: String,
    encounter: String,
    #[serde(default)]
    locale: Option<toml::Spanned<String>>,
    #[serde(default)]
    must_mention: Vec<String>,
    #[serde(default)]
    expect_passages: Vec<String>,
    #[serde(default)]
    strip_diagnoses: bool,
    #[serde(default)]
    tags: Vec<String>,
}

/// Read a cases file; errors carry `path:line:col`.
pub fn load_cases(path: &Path) -> Result<Vec<Case>, String> {
    let shown = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let at = |offset: usize, m: &str| {
        let (l, c) = crate::diagnostic::line_col(&src, offset);
        format!("{shown}:{l}:{c}: {m}")
    };
    let file: CasesFile =
        toml::from_str(&src).map_err(|e| at(e.span().map(|s| s.start).unwrap_or(0), e.message().trim()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    file.cases
        .into_iter()
        .map(|c| {
            let locale = match &c.locale {
                None => Locale::En,
                Some(l) => Locale::parse(l.get_ref()).map_err(|e| at(l.span().start, &e))?,
            };
            Ok(Case {
                id: c.id,
                encounter: base.join(c.encounter),
                locale,
                must_mention: c.must_mention.iter().map(|s| s.to_uppercase()).collect(),
                expect_passages: c.expect_passages,
                strip_diagnoses: c.strip_diagnoses,
                tags: c.tags,
            })
        })
        .collect()
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub status: String,
    pub reason: String,
    pub latency_ms: u32,
    pub schema_valid: bool,
    pub degenerate: bool,
    /// `ok` drafts only: a differential in one of the must-mention categories.
    pub mentions_principal: Option<bool>,
    pub citations: usize,
    pub supporting_citations: usize,
    pub claims: usize,
    pub grounded_claims: usize,
    pub retrieved: Vec<String>,
    /// Every expected passage was retrieved (and nothing when none is expected).
    pub retrieval_as_expected: bool,
}

/// Figures over all cases.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub cases: Vec<CaseResult>,
    pub ok: usize,
    pub invalid: usize,
    pub other: usize,
    pub schema_validity: f64,
    pub mention_rate: Option<f64>,
    pub citation_precision: Option<f64>,
    pub grounding: Option<f64>,
    pub degenerate_rate: f64,
    pub retrieval_as_expected: usize,
    pub p50_ms: u32,
    pub p99_ms: u32,
}

/// Thresholds; `None` is not checked.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub min_ok_rate: Option<f64>,
    pub max_ok: Option<usize>,
    pub all_invalid_with_reason: bool,
    pub min_mention_rate: Option<f64>,
    pub min_citation_precision: Option<f64>,
    pub min_grounding: Option<f64>,
    pub max_degenerate_rate: Option<f64>,
    pub max_p99_ms: Option<u32>,
    pub require_retrieval: bool,
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

impl Report {
    pub fn new(model: String, cases: Vec<CaseResult>) -> Self {
        let n = cases.len();
        let ok = cases.iter().filter(|c| c.status == "ok").count();
        let invalid = cases.iter().filter(|c| c.status == "invalid").count();
        let answered = ok + invalid;
        let sum = |f: fn(&CaseResult) -> usize| cases.iter().map(f).sum::<usize>();
        let mentioned = cases.iter().filter(|c| c.mentions_principal == Some(true)).count();
        let mut lat: Vec<u32> = cases.iter().map(|c| c.latency_ms).collect();
        lat.sort_unstable();
        Self {
            model,
            ok,
            invalid,
            other: n - answered,
            schema_validity: ratio(cases.iter().filter(|c| c.schema_valid).count(), answered.max(1)).unwrap_or(0.0),
            mention_rate: ratio(mentioned, ok),
            citation_precision: ratio(sum(|c| c.supporting_citations), sum(|c| c.citations)),
            grounding: ratio(sum(|c| c.grounded_claims), sum(|c| c.claims)),
            degenerate_rate: ratio(cases.iter().filter(|c| c.degenerate).count(), n).unwrap_or(0.0),
            retrieval_as_expected: cases.iter().filter(|c| c.retrieval_as_expected).count(),
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
            cases,
        }
    }

    /// What misses the gate (empty: pass).
    pub fn gate(&self, g: &Gate) -> Vec<String> {
        let n = self.cases.len();
        let mut fail = Vec::new();
        let mut below = |name: &str, v: Option<f64>, min: Option<f64>| {
            if let Some(min) = min {
                match v {
                    Some(v) if v >= min => {}
                    Some(v) => fail.push(format!("{name} {v:.2} < {min:.2}")),
                    None => fail.push(format!("{name} not measurable (no claims/drafts) < {min:.2}")),
                }
            }
        };
        below("ok rate", ratio(self.ok, n), g.min_ok_rate);
        below("principal-problem mention rate", self.mention_rate, g.min_mention_rate);
        below("citation precision", self.citation_precision, g.min_citation_precision);
        below("grounding", self.grounding, g.min_grounding);
        if let Some(max) = g.max_ok {
            if self.ok > max {
                fail.push(format!("{} ok drafts > {max}", self.ok));
            }
        }
        if g.all_invalid_with_reason {
            for c in self.cases.iter().filter(|c| c.status != "invalid" || c.reason.trim().is_empty()) {
                fail.push(format!("{}: {} (expected invalid with a reason)", c.id, c.status));
            }
        }
        if let Some(max) = g.max_degenerate_rate {
            if self.degenerate_rate > max {
                fail.push(format!("degenerate rate {:.2} > {max:.2}", self.degenerate_rate));
            }
        }
        if let Some(max) = g.max_p99_ms {
            if self.p99_ms > max {
                fail.push(format!("p99 latency {} ms > {max} ms", self.p99_ms));
            }
        }
        if g.require_retrieval {
            for c in self.cases.iter().filter(|c| !c.retrieval_as_expected) {
                fail.push(format!("{}: retrieval returned {:?}, not the expected passages", c.id, c.retrieved));
            }
        }
        fail
    }

    /// A plain-text table and the summary figures.
    pub fn render(&self) -> String {
        let mut out = format!("model: {}\n", self.model);
        out.push_str(&format!(
            "{:<24} {:<8} {:>8} {:>6} {:>6} {:>9}  reason / retrieved\n",
            "case", "status", "ms", "cited", "claims", "mentions"
        ));
        for c in &self.cases {
            let mentions = match c.mentions_principal {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let detail = if c.reason.is_empty() { c.retrieved.join(",") } else { c.reason.chars().take(110).collect() };
            out.push_str(&format!(
                "{:<24} {:<8} {:>8} {:>6} {:>6} {:>9}  {}\n",
                c.id,
                c.status,
                c.latency_ms,
                format!("{}/{}", c.supporting_citations, c.citations),
                format!("{}/{}", c.grounded_claims, c.claims),
                mentions,
                detail
            ));
        }
        let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "n/a".into());
        out.push_str(&format!(
            "\ncases {}  ok {}  invalid {}  other {}\nschema validity {:.2}  principal mentioned {}  citation precision {}  grounding {}  degenerate rate {:.2}\nretrieval as expected {}/{}  latency p50 {} ms  p99 {} ms\n",
            self.cases.len(), self.ok, self.invalid, self.other, self.schema_validity, f(self.mention_rate),
            f(self.citation_precision), f(self.grounding), self.degenerate_rate, self.retrieval_as_expected,
            self.cases.len(), self.p50_ms, self.p99_ms
        ));
        out
    }
}

/// Build the request of a case.
pub fn request(case: &Case, budget: Duration) -> Result<pb::EvaluateRequest, String> {
    let text = std::fs::read_to_string(&case.encounter)
        .map_err(|e| format!("{}: cannot read: {e}", case.encounter.display()))?;
    let mut enc =
        crate::encounter::encounter_from_json(&text).map_err(|e| format!("{}: {e}", case.encounter.display()))?;
    if case.strip_diagnoses {
        enc.diagnoses.clear();
    }
    Ok(pb::EvaluateRequest {
        encounter: Some(enc),
        trigger: pb::Trigger::PatientView as i32,
        options: Some(pb::EvaluateOptions {
            llm: pb::LlmMode::Request as i32,
            budget_ms: u32::try_from(budget.as_millis()).unwrap_or(u32::MAX),
            locale: case.locale.tag().to_string(),
            ..Default::default()
        }),
        evaluation_time: None,
    })
}

/// The figures of one draft.
pub fn score(case: &Case, s: &pb::DraftSuggestion, sets: &crate::rules::valueset::ValueSets) -> CaseResult {
    let status = s.status().as_str_name().trim_start_matches("SUGGESTION_STATUS_").to_lowercase();
    let ok = s.status() == pb::SuggestionStatus::Ok;
    let degenerate = s.message.contains("degenerate output");
    // Parsed and schema-valid, rejected later (degenerate text, citations).
    let schema_valid = ok || degenerate || s.message.contains("citation check");
    let retrieved: Vec<String> = s.passages.iter().map(|p| p.id.clone()).collect();
    let got: HashSet<&str> = retrieved.iter().map(String::as_str).collect();
    let retrieval_as_expected = if case.expect_passages.is_empty() {
        retrieved.is_empty()
    } else {
        case.expect_passages.iter().all(|p| got.contains(p.as_str()))
    };
    let (mut citations, mut supporting, mut claims, mut grounded) = (0, 0, 0, 0);
    let mut mentions = None;
    if ok {
        let category = |c: &str| crate::llm::icd10::category(c);
        mentions = Some(s.differentials.iter().any(|d| case.must_mention.contains(&category(&d.icd10))));
        for d in &s.differentials {
            claims += 1;
            if !d.citations.is_empty() {
                grounded += 1;
            }
            let code =
                crate::encounter::Code { system: CodeSystem::Icd10, code: d.icd10.clone(), display: String::new() };
            let dx_sets: HashSet<&str> = value_sets_of(sets, &code).collect();
            for id in &d.citations {
                citations += 1;
                if s.passages.iter().any(|p| &p.id == id && p.value_sets.iter().any(|v| dx_sets.contains(v.as_str()))) {
                    supporting += 1;
                }
            }
        }
        for r in &s.recommendations {
            claims += 1;
            if !r.citations.is_empty() {
                grounded += 1;
            }
        }
    }
    CaseResult {
        id: case.id.clone(),
        status,
        reason: if ok { String::new() } else { s.message.clone() },
        latency_ms: s.latency_ms,
        schema_valid,
        degenerate,
        mentions_principal: mentions,
        citations,
        supporting_citations: supporting,
        claims,
        grounded_claims: grounded,
        retrieved,
        retrieval_as_expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, status: &str, reason: &str, citations: (usize, usize), claims: (usize, usize)) -> CaseResult {
        CaseResult {
            id: id.into(),
            status: status.into(),
            reason: reason.into(),
            latency_ms: 100,
            schema_valid: true,
            degenerate: reason.contains("degenerate"),
            mentions_principal: (status == "ok").then_some(true),
            citations: citations.1,
            supporting_citations: citations.0,
            claims: claims.1,
            grounded_claims: claims.0,
            retrieved: vec![],
            retrieval_as_expected: true,
        }
    }

    #[test]
    fn the_committed_cases_load_and_name_existing_files_and_passages() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cases = load_cases(&root.join("eval/cases.toml")).expect("loads");
        assert_eq!(cases.iter().filter(|c| c.tags.iter().any(|t| t == "example")).count(), 9);
        let index = crate::kb::load_dir(&root.join("kb"), None).expect("kb loads");
        for c in &cases {
            assert!(c.encounter.exists(), "{}: {}", c.id, c.encounter.display());
            assert!(!c.must_mention.is_empty(), "{}", c.id);
            for p in &c.expect_passages {
                assert!(index.get(p).is_some(), "{}: no passage {p}", c.id);
            }
        }
        assert!(cases.iter().any(|c| c.locale == Locale::ZhCn));
    }

    #[test]
    fn figures_and_the_gate() {
        let tiny = Report::new(
            "tiny".into(),
            vec![
                result("a", "invalid", "invalid LLM output after 2 attempts: degenerate output: x", (0, 0), (0, 0)),
                result("b", "invalid", "invalid LLM output after 2 attempts: citation check: y", (0, 0), (0, 0)),
            ],
        );
        let gate = Gate { max_ok: Some(0), all_invalid_with_reason: true, ..Gate::default() };
        assert!(tiny.gate(&gate).is_empty(), "{:?}", tiny.gate(&gate));
        assert_eq!(tiny.degenerate_rate, 0.5);
        assert_eq!(tiny.citation_precision, None);

        let mixed = Report::new(
            "demo".into(),
            vec![
                result("a", "ok", "", (3, 4), (2, 3)),
                result("b", "ok", "", (1, 1), (1, 1)),
                result("c", "timeout", "no draft", (0, 0), (0, 0)),
            ],
        );
        assert_eq!(mixed.citation_precision, Some(0.8));
        assert_eq!(mixed.grounding, Some(0.75));
        assert_eq!((mixed.ok, mixed.invalid, mixed.other), (2, 0, 1));
        let missed = mixed.gate(&gate);
        assert!(missed.iter().any(|m| m == "2 ok drafts > 0"), "{missed:?}");
        assert!(missed.iter().any(|m| m.starts_with("a: ok (expected invalid")), "{missed:?}");
        assert!(missed.iter().any(|m| m.starts_with("c: timeout")), "{missed:?}");
        let strict = Gate { min_ok_rate: Some(0.7), min_citation_precision: Some(0.8), ..Gate::default() };
        assert_eq!(mixed.gate(&strict), ["ok rate 0.67 < 0.70"]);
        assert!(mixed.render().contains("citation precision 0.80  grounding 0.75"), "{}", mixed.render());
    }

    #[test]
    fn a_bad_cases_file_is_reported_with_path_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[case]]\nid = \"x\"\nencounter = \"a.json\"\nnope = 1\n").unwrap();
        let e = load_cases(&p).unwrap_err();
        assert!(e.contains("c.toml:4:1:") && e.contains("nope"), "{e}");
    }
}
