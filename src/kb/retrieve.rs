//! Retrieval per request: a weighted BM25 query built from the encounter's
//! diagnoses (code displays and the value sets their codes belong to), the
//! value sets of its other coded items, the QC findings that apply (titles and
//! rule packs) and the risk outcomes; the passages scoring at least
//! `min_score`, best first, at most `top_k`.
//!
//! A query from an encounter is also a gate: a passage is retrieved only when it is
//! about the encounter — tagged with a value set of one of its diagnoses or
//! procedures, or belonging to a rule pack with a finding that applies. Words alone
//! ("primary" in "essential (primary) hypertension" and in "primary PCI") or
//! measurement value sets alone (body weight, blood pressure) never retrieve a passage.

use std::{collections::HashSet, sync::Arc};

use super::{
    bm25::{tag, tokenize},
    Index, Passage,
};
use crate::{
    decision::FastPart,
    encounter::{Code, DiagnosisRank, Encounter},
    proto::v1 as pb,
    rules::valueset::ValueSets,
};

/// A passage retrieved for a request, with its BM25 score.
#[derive(Debug, Clone)]
pub struct Retrieved {
    pub passage: Arc<Passage>,
    pub score: f64,
}

/// Value sets that never say what a passage is about (they match almost anything).
const TOO_BROAD: &[&str] = &["any_medication"];

/// The tokens a passage is indexed with: both languages' title and text, the section, its
/// value-set tags (twice: they are what the passage is about) and its topic (`pack:<topic>`).
pub fn document_tokens(p: &Passage) -> Vec<String> {
    let mut t = Vec::new();
    for text in [&p.title.en, &p.title.zh_cn, &p.text.en, &p.text.zh_cn, &p.section] {
        tokenize(text, &mut t);
    }
    for v in &p.valuesets {
        t.push(tag(v));
        t.push(tag(v));
    }
    if let Some(topic) = p.id.split('.').next() {
        t.push(format!("pack:{topic}"));
    }
    t
}

/// The value sets a coding belongs to.
pub fn value_sets_of<'a>(sets: &'a ValueSets, code: &Code) -> impl Iterator<Item = &'a str> + 'a {
    let (system, value) = (code.system.name().to_string(), code.code.clone());
    sets.iter().filter(move |s| s.matches(&system, &value)).map(|s| s.name.as_str())
}

/// A weighted query.
#[derive(Debug, Clone, Default)]
pub struct RetrievalQuery {
    pub terms: Vec<(String, f64)>,
    /// Value sets of the encounter's codes (also used to check citations).
    pub value_sets: HashSet<String>,
    /// What a passage must be about to be retrieved: value sets of the diagnoses and
    /// procedures, and `pack:<id>` of the packs with applicable findings; `None`: no gate
    /// (free-text queries).
    pub anchors: Option<HashSet<String>>,
}

impl RetrievalQuery {
    fn words(&mut self, text: &str, weight: f64) {
        let mut t = Vec::new();
        tokenize(text, &mut t);
        self.terms.extend(t.into_iter().map(|w| (w, weight)));
    }

    fn sets(&mut self, sets: Option<&ValueSets>, code: &Code, weight: f64) {
        self.sets_anchored(sets, code, weight, false);
    }

    fn sets_anchored(&mut self, sets: Option<&ValueSets>, code: &Code, weight: f64, anchor: bool) {
        let Some(sets) = sets else { return };
        for name in value_sets_of(sets, code) {
            if !TOO_BROAD.contains(&name) {
                self.value_sets.insert(name.to_string());
                self.terms.push((tag(name), weight));
                if anchor {
                    self.anchors.get_or_insert_with(HashSet::new).insert(tag(name));
                }
            }
        }
    }

    /// The query for an encounter and its fast part.
    pub fn from_encounter(enc: &Encounter, fast: &FastPart, sets: Option<&ValueSets>) -> Self {
        let mut q = Self { anchors: Some(HashSet::new()), ..Self::default() };
        for d in &enc.diagnoses {
            let principal = d.rank == DiagnosisRank::Principal;
            q.words(&d.code.display, if principal { 1.0 } else { 0.5 });
            q.sets_anchored(sets, &d.code, if principal { 3.0 } else { 1.5 }, true);
        }
        for o in enc.vitals.iter().chain(&enc.labs).chain(&enc.assessments) {
            q.sets(sets, &o.code, 0.5);
        }
        for m in &enc.medication_orders {
            m.codes.iter().for_each(|c| q.sets(sets, c, 0.5));
        }
        for m in &enc.administrations {
            m.codes.iter().for_each(|c| q.sets(sets, c, 0.5));
        }
        for p in &enc.procedures {
            q.sets_anchored(sets, &p.code, 1.0, true);
        }
        for f in fast.findings.iter().filter(|f| f.status() != pb::FindingStatus::NotApplicable) {
            q.words(&f.title, 0.5);
            if let Some(pack) = f.rule_id.split('.').next() {
                q.terms.push((format!("pack:{pack}"), 2.0));
                q.anchors.get_or_insert_with(HashSet::new).insert(format!("pack:{pack}"));
            }
        }
        for r in fast.risks.iter().filter(|r| r.status() == pb::RiskStatus::Ok) {
            q.words(&r.outcome, 0.3);
        }
        q
    }

    /// A free-text query (tests, the CLI).
    pub fn text(text: &str) -> Self {
        let mut q = Self::default();
        q.words(text, 1.0);
        q
    }
}

impl Index {
    /// The passages scoring at least `min_score`, best first, at most `top_k`.
    pub fn retrieve(&self, query: &RetrievalQuery, top_k: usize, min_score: f64) -> Vec<Retrieved> {
        let about = |p: &Passage| match &query.anchors {
            None => true,
            Some(a) => {
                p.valuesets.iter().any(|v| a.contains(&tag(v)))
                    || p.id.split('.').next().is_some_and(|topic| a.contains(&format!("pack:{topic}")))
            }
        };
        self.bm25
            .search(&query.terms)
            .into_iter()
            .filter(|(d, s)| *s >= min_score && about(&self.passages[*d]))
            .take(top_k)
            .map(|(d, score)| Retrieved { passage: self.passages[d].clone(), score })
            .collect()
    }
}
