//! A readable terminal rendering of a decision.

use std::fmt::Write;

use crate::proto::v1 as pb;

fn status_word(s: pb::FindingStatus) -> &'static str {
    match s {
        pb::FindingStatus::Met => "MET",
        pb::FindingStatus::NotMet => "NOT MET",
        pb::FindingStatus::Excluded => "EXCLUDED",
        pb::FindingStatus::NotApplicable => "N/A",
        pb::FindingStatus::Pending => "PENDING",
        pb::FindingStatus::Error => "ERROR",
        pb::FindingStatus::Unspecified => "?",
    }
}

/// Render the decision for a terminal.
pub fn render(d: &pb::Decision) -> String {
    let mut o = String::new();
    let v = d.versions.clone().unwrap_or_default();
    let _ = writeln!(o, "Decision for encounter {} (request {})", d.encounter_id, d.request_id);
    let _ = writeln!(o, "cdssd {} · rule set {} · trigger {}", v.cdssd, v.rule_set, d.trigger().as_str_name());
    let _ = writeln!(o, "\nQuality-control findings ({}):", d.findings.len());
    for f in &d.findings {
        let _ = writeln!(
            o,
            "  [{:<8}] {} — {}  ({} v{}; {})",
            status_word(f.status()),
            f.title,
            f.message,
            f.rule_id,
            f.rule_version,
            f.measure
        );
        if let Some(t) = &f.deadline {
            if let Some(t) = chrono::DateTime::from_timestamp(t.seconds, 0) {
                let _ = writeln!(o, "             deadline {}", t.to_rfc3339());
            }
        }
        if !f.exclusion_reason.is_empty() {
            let _ = writeln!(o, "             excluded: {}", f.exclusion_reason);
        }
        if !f.missing_data.is_empty() {
            let _ = writeln!(o, "             missing data: {}", f.missing_data.join(", "));
        }
        for e in &f.evidence {
            let _ = writeln!(o, "             · {}/{} {} {}", e.item_type, e.item_id, e.label, e.value);
        }
    }
    let _ = writeln!(o, "\nRisk scores ({}):", d.risks.len());
    for r in &d.risks {
        let _ = writeln!(
            o,
            "  {} v{} [{}]: {:.1} % {} — {} ({})",
            r.model_id,
            r.model_version,
            r.device,
            r.probability * 100.0,
            r.band().as_str_name(),
            r.outcome,
            r.status().as_str_name()
        );
        for c in r.contributions.iter().take(3) {
            let _ = writeln!(o, "             {} {:+.1} points", c.feature, c.delta * 100.0);
        }
        if !r.message.is_empty() {
            let _ = writeln!(o, "             {}", r.message);
        }
    }
    if let Some(s) = &d.suggestion {
        let _ = writeln!(o, "\nLLM draft: {} {}", s.status().as_str_name(), s.message);
        if s.status() == pb::SuggestionStatus::Ok {
            let _ = writeln!(o, "  DRAFT — for clinician review ({}, template v{})", s.model, s.template_version);
            let _ = writeln!(o, "  {}", s.summary);
            for dd in &s.differentials {
                let _ =
                    writeln!(o, "  - {} ({}) {} [{}]", dd.condition, dd.icd10, dd.likelihood, dd.citations.join(", "));
            }
            for fl in &s.flags {
                let _ = writeln!(o, "  ! {fl}");
            }
        }
        let zh = s.locale == "zh-CN";
        if !s.passages.is_empty() {
            let _ = writeln!(o, "  {}", if zh { "检索到的指南段落：" } else { "Guideline passages retrieved:" });
        }
        for p in &s.passages {
            let mark = match (p.cited, zh) {
                (true, true) => "已引用",
                (true, false) => "cited",
                (false, true) => "未引用",
                (false, false) => "not cited",
            };
            let _ =
                writeln!(o, "    [{}] {} — {}, {} ({mark}; {})", p.id, p.title, p.source, p.section, p.review_status);
        }
    }
    let _ = writeln!(o, "\nCards ({}):", d.cards.len());
    for c in &d.cards {
        let _ = writeln!(o, "  [{}] {}", c.indicator().as_str_name(), c.summary);
    }
    if let Some(t) = &d.timings {
        let _ = writeln!(
            o,
            "\nTimings: total {} µs (validation {}, rules {}, risk {}, llm {})",
            t.total_us, t.validation_us, t.rules_us, t.risk_us, t.llm_us
        );
    }
    o
}
