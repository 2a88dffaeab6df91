//! Degenerate-output detection: schema-valid JSON that says nothing.
//!
//! A grammar-constrained small model always returns JSON that fits the schema;
//! what it writes inside can still be the schema's placeholders (`<diagnosis>`),
//! a run of repeated tokens (`20.0.0.0.0.0…`), empty or punctuation-only text,
//! the prompt's own instructions copied back, a code whose ICD-10 chapter
//! contradicts the condition it names (pneumonia coded C10.0), or the same
//! item over and over. Any of these makes the answer `invalid` (after the one
//! retry of [`super::service`]), never `ok`, with the first reason found.

use std::collections::HashSet;

use super::{icd10, validate::RawDraft};

/// Words that are the schema's placeholders or generic labels rather than content.
const PLACEHOLDER_WORDS: &[&str] = &[
    "diagnosis",
    "condition",
    "step",
    "red flag",
    "reference",
    "string",
    "summary",
    "one paragraph",
    "text",
    "n/a",
    "na",
    "none",
    "todo",
    "tbd",
    "null",
    "诊断",
    "步骤",
    "摘要",
    "无",
];

/// Why a schema-valid draft is degenerate, naming the field (`/summary`).
pub fn check(draft: &RawDraft, system_prompt: &str, user_prompt: &str) -> Result<(), String> {
    let mut fields: Vec<(String, &str)> = vec![("/summary".into(), draft.summary.as_str())];
    for (i, d) in draft.differential.iter().enumerate() {
        fields.push((format!("/differential/{i}/condition"), d.condition.as_str()));
    }
    for (i, s) in draft.next_steps.iter().enumerate() {
        fields.push((format!("/next_steps/{i}/step"), s.step.as_str()));
    }
    for (i, s) in draft.red_flags.iter().enumerate() {
        fields.push((format!("/red_flags/{i}"), s.as_str()));
    }
    for (path, text) in &fields {
        if let Some(why) = repeated_run(text).or_else(|| placeholder(text)).or_else(|| wordless(text)) {
            return Err(format!("`{path}` {why}"));
        }
        // Instructions of the system prompt copied back (not encounter data: that may be quoted).
        let t = text.trim();
        if path != "/summary" && !path.ends_with("/condition") && t.chars().count() >= 24 && system_prompt.contains(t) {
            return Err(format!("`{path}` copies the prompt's instructions"));
        }
    }
    if let Some(why) = copied(&draft.summary, system_prompt, user_prompt) {
        return Err(format!("`/summary` {why}"));
    }
    for (i, d) in draft.differential.iter().enumerate() {
        if let Some(why) = icd10::contradiction(&d.condition, &d.icd10) {
            return Err(format!("`/differential/{i}/icd10`: {why}"));
        }
    }
    duplicates(draft)
}

fn normal(s: &str) -> String {
    s.trim().trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()).to_lowercase()
}

/// `<diagnosis>`, `[step]`, `{reference}` or a bare generic word.
fn placeholder(text: &str) -> Option<String> {
    let t = text.trim();
    let bracketed = |open: char, close: char| {
        t.find(open).and_then(|i| t[i + 1..].find(close).map(|j| &t[i + 1..i + 1 + j])).filter(|inner| {
            let n = inner.chars().count();
            (1..=40).contains(&n) && inner.chars().all(|c| c.is_alphanumeric() || " _-|/".contains(c))
        })
    };
    if let Some(inner) = bracketed('<', '>') {
        return Some(format!("is a placeholder (`<{inner}>`)"));
    }
    if PLACEHOLDER_WORDS.contains(&normal(t).as_str()) {
        return Some(format!("is a placeholder (`{}`)", truncate(t, 30)));
    }
    None
}

/// No letter or CJK character at all (empty, digits, punctuation).
fn wordless(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("is empty".into());
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return Some(format!("has no words (`{}`)", truncate(text.trim(), 30)));
    }
    None
}

/// A unit of 1–8 characters repeated at least 4 times in a row (at least 8 characters),
/// or the same word 4 times in a row.
fn repeated_run(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    for p in 1..=8usize {
        let mut run = 0usize;
        for i in p..chars.len() {
            if chars[i] == chars[i - p] {
                run += 1;
                let start = i + 1 - run - p;
                if run + p >= (4 * p).max(8) && chars[start..=i].iter().any(|c| !c.is_whitespace()) {
                    let shown: String = chars[start..=i].iter().take(24).collect();
                    return Some(format!("repeats a token run (`{shown}…`)"));
                }
            } else {
                run = 0;
            }
        }
    }
    let words: Vec<String> = text.split_whitespace().map(normal).filter(|w| !w.is_empty()).collect();
    for w in words.windows(4) {
        if w.iter().all(|x| x == &w[0]) {
            return Some(format!("repeats the word `{}`", truncate(&w[0], 20)));
        }
    }
    None
}

/// The summary is (mostly) the prompt's own text.
fn copied(summary: &str, system_prompt: &str, user_prompt: &str) -> Option<String> {
    let s = summary.trim();
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= 40 && (system_prompt.contains(s) || user_prompt.contains(s)) {
        return Some("copies the prompt".into());
    }
    const W: usize = 12;
    if chars.len() < 2 * W {
        return None;
    }
    let prompt: Vec<char> = system_prompt.chars().chain(['\n']).chain(user_prompt.chars()).collect();
    let windows: HashSet<&[char]> = prompt.windows(W).collect();
    let total = chars.len() - W + 1;
    let found = chars.windows(W).filter(|w| windows.contains(w)).count();
    (found * 10 >= total * 8)
        .then(|| format!("copies the prompt ({} % of its text is the prompt's)", found * 100 / total))
}

/// The same condition, step or red flag listed twice.
fn duplicates(draft: &RawDraft) -> Result<(), String> {
    let lists: [(&str, Vec<String>); 3] = [
        ("differential", draft.differential.iter().map(|d| normal(&d.condition)).collect()),
        ("next_steps", draft.next_steps.iter().map(|s| normal(&s.step)).collect()),
        ("red_flags", draft.red_flags.iter().map(|s| normal(s)).collect()),
    ];
    for (name, items) in lists {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            if !seen.insert(item.as_str()) {
                return Err(format!("`/{name}/{i}` repeats an earlier item (`{}`)", truncate(item, 30)));
            }
        }
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::validate::{RawDifferential, RawStep};

    fn step(s: &str) -> RawStep {
        RawStep { step: s.into(), citations: vec![] }
    }

    fn draft(summary: &str, condition: &str, icd10: &str) -> RawDraft {
        RawDraft {
            differential: vec![RawDifferential {
                condition: condition.into(),
                icd10: icd10.into(),
                likelihood: "high".into(),
                supporting: vec!["diagnoses/1".into()],
                contradicting: vec![],
                citations: vec![],
            }],
            next_steps: vec![step("Repeat lactate within 6 hours")],
            red_flags: vec![],
            summary: summary.into(),
        }
    }

    const GOOD: &str =
        "Adult with fever, cough and a right lower lobe infiltrate; CURB-65 of 2 suggests moderate severity.";

    #[test]
    fn a_plausible_draft_passes() {
        check(&draft(GOOD, "Community-acquired pneumonia", "J18.9"), "system", "user").expect("plausible");
        check(
            &draft("社区获得性肺炎，CURB-65 评分 2 分，建议住院治疗并尽早给予抗菌药物。", "社区获得性肺炎", "J18.9"),
            "s",
            "u",
        )
        .expect("Chinese text is words too");
    }

    #[test]
    fn the_quick_start_garbage_is_degenerate() {
        let e = check(&draft("20.0.0.0.0.0.0.0.0", "<diagnosis>", "C10.0"), "s", "u").unwrap_err();
        assert!(e.contains("/summary") && e.contains("token run"), "{e}");
        let e = check(&draft(GOOD, "<diagnosis>", "C10.0"), "s", "u").unwrap_err();
        assert!(e.contains("/differential/0/condition") && e.contains("placeholder"), "{e}");
        let e = check(&draft(GOOD, "Pneumonia", "C10.0"), "s", "u").unwrap_err();
        assert!(e.contains("/differential/0/icd10") && e.contains("chapter II"), "{e}");
    }

    #[test]
    fn empty_repeated_and_copied_texts_are_degenerate() {
        assert!(check(&draft("...", "Pneumonia", "J18.9"), "s", "u").unwrap_err().contains("no words"));
        assert!(check(&draft("ok ok ok ok fine", "Pneumonia", "J18.9"), "s", "u").unwrap_err().contains("repeats"));
        assert!(check(&draft(GOOD, "Diagnosis", "J18.9"), "s", "u").unwrap_err().contains("placeholder"));
        let prompt = format!("Encounter (de-identified):\n{GOOD}\nItems: ...");
        assert!(check(&draft(GOOD, "Pneumonia", "J18.9"), "s", &prompt).unwrap_err().contains("copies the prompt"));
        let system = "Also give next_steps (tests or assessments to consider), red_flags and a summary.";
        let mut d = draft(GOOD, "Pneumonia", "J18.9");
        d.next_steps = vec![step("tests or assessments to consider")];
        assert!(check(&d, system, "u").unwrap_err().contains("instructions"));
        let mut d = draft(GOOD, "Pneumonia", "J18.9");
        d.differential.push(d.differential[0].clone());
        assert!(check(&d, "s", "u").unwrap_err().contains("repeats an earlier item"));
    }

    #[test]
    fn ordinary_numbers_and_units_are_not_runs() {
        for ok in ["Lactate 4.2 mmol/L at T+35 min, repeat at T+3 h", "WBC 10000 /µL", "BP 80/50 mmHg — MAP 60"] {
            assert!(repeated_run(ok).is_none(), "{ok}");
        }
        assert!(repeated_run("aaaaaaaa").is_some());
        assert!(repeated_run("abcabcabcabc").is_some());
    }
}
