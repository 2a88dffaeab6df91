//! Knowledge-base passages in the prompt, and the draft's citations of them.
//!
//! The passages retrieved for a request are rendered into the prompt with their ids
//! ([`render`]) in the request's language. Every claim of the draft (a differential or
//! a next step) carries `citations`. [`check`]:
//! - a citation of a passage that was not given to the model (unknown, or existing
//!   but not retrieved for this request) makes the draft **invalid** (after the
//!   service's one retry): a model that invents sources is not shown at all;
//! - when passages were given, a claim citing none of them is unsupported: it is
//!   dropped with a flag, and a draft left with no differential is invalid;
//! - when nothing was retrieved, the draft is kept but flagged "no guideline passage
//!   retrieved" and is never `grounded`;
//! - a draft not written in the request's language is flagged and not `grounded`.

use std::collections::HashSet;

use super::validate::{InvalidOutput, RawDraft};
use crate::{
    kb::{is_cjk, Retrieved},
    locale::Locale,
    proto::v1 as pb,
};

/// The flag of a request for which the knowledge base returned nothing.
pub fn no_passage(locale: Locale) -> &'static str {
    locale.pick("未检索到指南段落", "no guideline passage retrieved")
}

/// The passages as shown in the prompt: `- [id] title: text (source; section)`.
pub fn render(retrieved: &[Retrieved], locale: Locale) -> String {
    if retrieved.is_empty() {
        return format!("({})", no_passage(locale));
    }
    let mut out = String::new();
    for r in retrieved {
        let p = &r.passage;
        out.push_str(&format!(
            "- [{}] {}: {} ({}; {})\n",
            p.id,
            p.title.get(locale),
            p.text.get(locale),
            p.source,
            p.section
        ));
    }
    out
}

/// The passages of the suggestion, in `locale`, marked `cited` when a kept claim cites them.
pub fn passages(retrieved: &[Retrieved], cited: &HashSet<String>, locale: Locale) -> Vec<pb::GuidelinePassage> {
    retrieved
        .iter()
        .map(|r| {
            let p = &r.passage;
            pb::GuidelinePassage {
                id: p.id.clone(),
                title: p.title.get(locale).to_string(),
                source: p.source.clone(),
                section: p.section.clone(),
                version: p.version.clone(),
                review_status: p.review_status(locale),
                value_sets: p.valuesets.clone(),
                cited: cited.contains(&p.id),
                score: r.score,
            }
        })
        .collect()
}

/// The language a text is written in: Chinese when at least 30 % of its letters are CJK;
/// `None` for texts with fewer than 4 letters.
pub fn language_of(text: &str) -> Option<Locale> {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let latin = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    if cjk + latin < 4 {
        return None;
    }
    Some(if cjk * 10 >= (cjk + latin) * 3 { Locale::ZhCn } else { Locale::En })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// What [`check`] decided.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Per differential of the draft: kept?
    pub keep_differential: Vec<bool>,
    /// Per next step of the draft: kept?
    pub keep_step: Vec<bool>,
    /// Passage ids cited by kept claims.
    pub cited: HashSet<String>,
    pub grounded: bool,
    pub flags: Vec<String>,
}

/// Check the draft's citations against the passages given (`retrieved`).
pub fn check(draft: &RawDraft, retrieved: &[Retrieved], locale: Locale) -> Result<Verdict, InvalidOutput> {
    let given: HashSet<&str> = retrieved.iter().map(|r| r.passage.id.as_str()).collect();
    let claims = draft
        .differential
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("/differential/{i}/citations"), &d.citations))
        .chain(draft.next_steps.iter().enumerate().map(|(i, s)| (format!("/next_steps/{i}/citations"), &s.citations)));
    for (path, ids) in claims {
        if let Some(id) = ids.iter().find(|id| !given.contains(id.as_str())) {
            return Err(InvalidOutput::Citation(format!(
                "`{path}` cites passage `{}`, which was not given in the prompt",
                short(id)
            )));
        }
    }
    let mut v = Verdict::default();
    if retrieved.is_empty() {
        v.keep_differential = vec![true; draft.differential.len()];
        v.keep_step = vec![true; draft.next_steps.len()];
        v.flags.push(no_passage(locale).to_string());
    } else {
        v.keep_differential = draft.differential.iter().map(|d| !d.citations.is_empty()).collect();
        v.keep_step = draft.next_steps.iter().map(|s| !s.citations.is_empty()).collect();
        for (i, d) in draft.differential.iter().enumerate().filter(|(_, d)| d.citations.is_empty()) {
            v.flags.push(format!(
                "dropped differential {} (`{}`): it cites no guideline passage given",
                i + 1,
                short(&d.condition)
            ));
        }
        for (i, s) in draft.next_steps.iter().enumerate().filter(|(_, s)| s.citations.is_empty()) {
            v.flags.push(format!(
                "dropped next step {} (`{}`): it cites no guideline passage given",
                i + 1,
                short(&s.step)
            ));
        }
        if !v.keep_differential.iter().any(|k| *k) {
            return Err(InvalidOutput::Citation(format!(
                "none of the {} differential(s) cites a guideline passage given in the prompt",
                draft.differential.len()
            )));
        }
        let kept = |keep: &[bool], i: usize| keep.get(i).copied().unwrap_or(false);
        for (i, d) in draft.differential.iter().enumerate() {
            if kept(&v.keep_differential, i) {
                v.cited.extend(d.citations.iter().cloned());
            }
        }
        for (i, s) in draft.next_steps.iter().enumerate() {
            if kept(&v.keep_step, i) {
                v.cited.extend(s.citations.iter().cloned());
            }
        }
    }
    let text = format!(
        "{} {}",
        draft.summary,
        draft.differential.iter().map(|d| d.condition.as_str()).collect::<Vec<_>>().join(" ")
    );
    let language_ok = match language_of(&text) {
        Some(l) if l != locale => {
            v.flags.push(format!("the draft is not written in the request's language ({})", locale.tag()));
            false
        }
        _ => true,
    };
    v.grounded = !retrieved.is_empty() && language_ok;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        kb::Passage,
        llm::validate::{RawDifferential, RawStep},
    };

    fn passage(id: &str) -> Retrieved {
        let b = |en: &str, zh: &str| crate::kb::passage::Bilingual { en: en.into(), zh_cn: zh.into() };
        Retrieved {
            passage: Arc::new(Passage {
                id: id.into(),
                valuesets: vec!["cap".into()],
                source: "Example guideline".into(),
                section: "Severity".into(),
                version: "2019".into(),
                title: b("Severity score", "严重程度评分"),
                text: b("Grade with CURB-65.", "使用CURB-65评估。"),
                reviewed_by: None,
                reviewed_on: None,
                file: "kb/x.toml".into(),
            }),
            score: 3.0,
        }
    }

    fn draft(dx_citations: &[&[&str]], summary: &str) -> RawDraft {
        RawDraft {
            differential: dx_citations
                .iter()
                .enumerate()
                .map(|(i, c)| RawDifferential {
                    condition: format!("Community-acquired pneumonia {i}"),
                    icd10: "J18.9".into(),
                    likelihood: "high".into(),
                    supporting: vec!["diagnoses/1".into()],
                    contradicting: vec![],
                    citations: c.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            next_steps: vec![
                RawStep { step: "Blood cultures".into(), citations: vec!["pneumonia.severity".into()] },
                RawStep { step: "Chest film".into(), citations: vec![] },
            ],
            red_flags: vec![],
            summary: summary.into(),
        }
    }

    const EN: &str = "Adult with fever and an infiltrate, moderate severity.";

    #[test]
    fn citations_of_given_passages_ground_the_draft_and_uncited_claims_are_dropped() {
        let r = [passage("pneumonia.severity"), passage("pneumonia.antibiotic_timing")];
        let v = check(&draft(&[&["pneumonia.severity"], &[]], EN), &r, Locale::En).expect("valid");
        assert_eq!(v.keep_differential, [true, false]);
        assert_eq!(v.keep_step, [true, false]);
        assert!(v.grounded);
        assert_eq!(v.cited, HashSet::from(["pneumonia.severity".to_string()]));
        assert!(v.flags.iter().any(|f| f.starts_with("dropped differential 2")), "{:?}", v.flags);
        let shown = passages(&r, &v.cited, Locale::ZhCn);
        assert_eq!(shown[0].title, "严重程度评分");
        assert_eq!(shown[0].review_status, "项目编写的摘要，未经临床审核");
        assert!(shown[0].cited && !shown[1].cited);
    }

    #[test]
    fn a_citation_of_a_passage_not_given_or_no_cited_differential_is_invalid() {
        let r = [passage("pneumonia.severity")];
        let e = check(&draft(&[&["stemi.reperfusion"]], EN), &r, Locale::En).unwrap_err();
        assert!(e.to_string().contains("`/differential/0/citations` cites passage `stemi.reperfusion`"), "{e}");
        let e = check(&draft(&[&[], &[]], EN), &r, Locale::En).unwrap_err();
        assert!(e.to_string().contains("none of the 2 differential(s) cites"), "{e}");
        // Nothing given: any citation is invented.
        assert!(check(&draft(&[&["pneumonia.severity"]], EN), &[], Locale::En).is_err());
    }

    #[test]
    fn no_retrieval_and_the_wrong_language_are_flagged_never_grounded() {
        let mut d = draft(&[&[]], EN);
        d.next_steps.retain(|s| s.citations.is_empty());
        let v = check(&d, &[], Locale::ZhCn).expect("kept");
        assert!(!v.grounded);
        assert!(v.flags.contains(&"未检索到指南段落".to_string()), "{:?}", v.flags);
        assert!(v.flags.iter().any(|f| f.contains("not written in the request's language (zh-CN)")), "{:?}", v.flags);
        let r = [passage("pneumonia.severity")];
        let mut d = draft(&[&["pneumonia.severity"]], "社区获得性肺炎，中度。");
        d.differential[0].condition = "社区获得性肺炎".into();
        let v = check(&d, &r, Locale::ZhCn).unwrap();
        assert!(v.grounded, "{:?}", v.flags);
        assert_eq!(language_of("社区获得性肺炎 CAP"), Some(Locale::ZhCn));
        assert_eq!(language_of("ok"), None);
        assert!(render(&[], Locale::En).contains("no guideline passage retrieved"));
        assert!(render(&r, Locale::ZhCn).starts_with("- [pneumonia.severity] 严重程度评分: 使用CURB-65评估。"));
    }
}
