//! One card per actionable finding, risk or draft.

use chrono::{DateTime, Utc};

use crate::proto::v1 as pb;

/// Pending findings whose deadline is this close get their full severity.
const NEAR_DEADLINE_MIN: i64 = 60;

/// Cut a summary to under 140 characters, on a word or phrase boundary (a space, a
/// punctuation mark, or between two CJK characters, which need no spaces), with an ellipsis.
/// A text without any boundary in its last 40 characters is cut on a character boundary.
pub fn truncate_summary(s: &str) -> String {
    const MAX: usize = 139;
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= MAX {
        return s.to_string();
    }
    let keep = MAX - 1; // room for the ellipsis
    let is_cjk = |c: char| matches!(c as u32, 0x3000..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF);
    let is_break = |c: char| c.is_whitespace() || (c.is_ascii_punctuation() && c != '-' && c != '/') || is_cjk(c);
    // The largest cut <= keep after which the text may end: before a space/punctuation,
    // or after a CJK character.
    let cut = (keep.saturating_sub(40)..=keep)
        .rev()
        .find(|&i| i > 0 && (is_break(chars[i]) || is_cjk(chars[i - 1])))
        .unwrap_or(keep);
    let mut out: String = chars[..cut].iter().collect();
    let trimmed = out.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | ':' | '—' | '-' | '，' | '；' | '：' | '、')
    });
    out = trimmed.to_string();
    out.push('…');
    out
}

fn indicator_for(severity: pb::Severity) -> pb::Indicator {
    match severity {
        pb::Severity::Critical => pb::Indicator::Critical,
        pb::Severity::Info => pb::Indicator::Info,
        pb::Severity::Warning | pb::Severity::Unspecified => pb::Indicator::Warning,
    }
}

fn evidence_lines(evidence: &[pb::Evidence]) -> String {
    evidence
        .iter()
        .map(|e| {
            let mut line = format!("- `{}/{}` {}", e.item_type, e.item_id, e.label);
            if !e.value.is_empty() {
                line.push_str(&format!(" = {}", e.value));
            }
            if let Some(t) = e.time.as_ref().and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32)) {
                line.push_str(&format!(" at {}", t.to_rfc3339()));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A card for a finding that needs attention: not met, pending, or failed.
pub fn card_for_finding(f: &pb::Finding, now: DateTime<Utc>) -> Option<pb::Card> {
    let (indicator, prefix) = match f.status() {
        pb::FindingStatus::NotMet => (indicator_for(f.severity()).max(pb::Indicator::Warning), "Not met"),
        pb::FindingStatus::Pending => {
            let deadline = f.deadline.as_ref().and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32));
            let near = deadline.map(|d| (d - now).num_minutes() <= NEAR_DEADLINE_MIN).unwrap_or(false);
            if near {
                (indicator_for(f.severity()).max(pb::Indicator::Warning), "Due soon")
            } else {
                (pb::Indicator::Info, "Pending")
            }
        }
        pb::FindingStatus::Error => (pb::Indicator::Info, "Could not check"),
        _ => return None,
    };
    let mut detail = format!(
        "**{}** — {}\n\nMeasure: {}  \nRule: `{}` v{} (pack `{}`)",
        f.title, f.message, f.measure, f.rule_id, f.rule_version, f.pack
    );
    if let Some(d) = f.deadline.as_ref().and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32)) {
        let mins = (d - now).num_minutes();
        detail.push_str(&format!("\n\nDeadline: {} ({} min from evaluation time)", d.to_rfc3339(), mins));
    }
    if !f.missing_data.is_empty() {
        detail.push_str(&format!("\n\nMissing data: {}", f.missing_data.join(", ")));
    }
    if !f.evidence.is_empty() {
        detail.push_str("\n\nEvidence:\n");
        detail.push_str(&evidence_lines(&f.evidence));
    }
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&format!("{prefix}: {} — {}", f.title, f.message)),
        detail,
        indicator: indicator as i32,
        source: Some(pb::CardSource {
            kind: pb::SourceKind::Rule as i32,
            id: f.rule_id.clone(),
            version: f.rule_version.clone(),
            label: f.measure.clone(),
        }),
        draft: false,
    })
}

/// A card for every risk model that ran on the encounter: scored (high band
/// warning, otherwise info) or refused/failed (info, saying why), so the
/// clinician always sees which models looked at the patient.
pub fn card_for_risk(r: &pb::RiskScore) -> Option<pb::Card> {
    let source = Some(pb::CardSource {
        kind: pb::SourceKind::Model as i32,
        id: r.model_id.clone(),
        version: r.model_version.clone(),
        label: r.citation.clone(),
    });
    if r.status() == pb::RiskStatus::NotApplicable {
        return None;
    }
    if r.status() != pb::RiskStatus::Ok {
        return Some(pb::Card {
            uuid: uuid::Uuid::new_v4().to_string(),
            summary: truncate_summary(&format!("Not scored: risk of {} — {}", r.outcome, r.message)),
            detail: format!(
                "Model `{}` v{} did not produce a score ({}).\n\n{}",
                r.model_id,
                r.model_version,
                r.status().as_str_name(),
                r.message
            ),
            indicator: pb::Indicator::Info as i32,
            source,
            draft: false,
        });
    }
    let (indicator, band) = match r.band() {
        pb::RiskBand::High => (pb::Indicator::Warning, "high"),
        pb::RiskBand::Moderate => (pb::Indicator::Info, "moderate"),
        pb::RiskBand::Low => (pb::Indicator::Info, "low"),
        pb::RiskBand::Unspecified => (pb::Indicator::Info, "unbanded"),
    };
    let mut detail = format!(
        "Predicted risk of {} ({}): **{:.1} %** ({band} band).\n\nModel: `{}` v{} on {}  \nSource: {}",
        r.outcome,
        r.horizon,
        r.probability * 100.0,
        r.model_id,
        r.model_version,
        r.device,
        r.citation
    );
    if !r.contributions.is_empty() {
        detail.push_str("\n\nMain contributing features (change in risk vs. reference value):\n");
        for c in r.contributions.iter().take(5) {
            detail.push_str(&format!("- {}: {:+.1} points\n", c.feature, c.delta * 100.0));
        }
    }
    let imputed: Vec<&str> = r.features.iter().filter(|f| f.imputed).map(|f| f.name.as_str()).collect();
    if !imputed.is_empty() {
        detail.push_str(&format!("\nImputed (missing in the record): {}", imputed.join(", ")));
    }
    if !r.message.is_empty() {
        detail.push_str(&format!("\n\n{}", r.message));
    }
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&format!(
            "{} risk of {}: {:.1} % ({})",
            band,
            r.outcome,
            r.probability * 100.0,
            r.horizon
        )),
        detail,
        indicator: indicator as i32,
        source,
        draft: false,
    })
}

/// The guideline passages the draft cites, in the suggestion's locale: id, title,
/// source, section and review status of each ("" when it cites none).
pub fn cited_passages(s: &pb::DraftSuggestion) -> String {
    let zh = s.locale == "zh-CN";
    let cited: Vec<&pb::GuidelinePassage> = s.passages.iter().filter(|p| p.cited).collect();
    if cited.is_empty() {
        return String::new();
    }
    let mut out = String::from(if zh { "\n引用的指南段落：\n" } else { "\nGuideline passages cited:\n" });
    for p in cited {
        out.push_str(&format!("- [{}] {} — {}, {} ({})\n", p.id, p.title, p.source, p.section, p.review_status));
    }
    out
}

/// The LLM card: always info, always a draft.
pub fn card_for_suggestion(s: &pb::DraftSuggestion) -> Option<pb::Card> {
    if s.status() != pb::SuggestionStatus::Ok {
        return None;
    }
    let mut detail =
        String::from("> **Draft generated by a language model — for clinician review, not a recommendation.**\n\n");
    detail.push_str(&s.summary);
    if !s.differentials.is_empty() {
        detail.push_str("\n\nDifferential:\n");
        for d in &s.differentials {
            detail.push_str(&format!("- {} ({}) — likelihood {}\n", d.condition, d.icd10, d.likelihood));
        }
    }
    if !s.red_flags.is_empty() {
        detail.push_str(&format!("\nRed flags: {}\n", s.red_flags.join("; ")));
    }
    detail.push_str(&cited_passages(s));
    if !s.flags.is_empty() {
        detail.push_str(&format!("\nChecks: {}\n", s.flags.join("; ")));
    }
    detail.push_str(&format!(
        "\nModel: {} · prompt template v{} · prompt {}",
        s.model, s.template_version, s.prompt_hash
    ));
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&format!("DRAFT (AI, review required): {}", s.summary)),
        detail,
        indicator: pb::Indicator::Info as i32,
        source: Some(pb::CardSource {
            kind: pb::SourceKind::Llm as i32,
            id: s.model.clone(),
            version: s.template_version.clone(),
            label: "Language-model draft".into(),
        }),
        draft: true,
    })
}

/// One QC card for the data-quality notices of the denominator lists (diagnoses,
/// procedures): items no rule can read may change which measures apply. `None` when
/// there are none. Bilingual (en, zh-CN); names items by list/id, never by value.
pub fn card_for_data_quality(notices: &[pb::DataQualityNotice]) -> Option<pb::Card> {
    let relevant: Vec<&pb::DataQualityNotice> =
        notices.iter().filter(|n| crate::encounter::DENOMINATOR_LISTS.contains(&n.list.as_str())).collect();
    if relevant.is_empty() {
        return None;
    }
    let n = relevant.len();
    let mut detail = String::from(
        "Items coded only in systems that no value set or local-code mapping lists. Measures may be missing or \
         wrongly not applicable until the codes are mapped (rules/valuesets, rules/mappings).\n\
         以下条目的编码不在任何值集或本地编码映射中，相关质控指标可能缺失或被误判为不适用，请维护映射。\n\n",
    );
    for x in &relevant {
        detail.push_str(&format!("- {}/{} ({})\n", x.list, x.item_id, x.code_system));
    }
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&format!(
            "Data quality: {n} item(s) no rule can read · 数据质量：{n} 项编码规则无法识别"
        )),
        detail,
        indicator: pb::Indicator::Info as i32,
        source: Some(pb::CardSource {
            kind: pb::SourceKind::DataQuality as i32,
            id: "data_quality.unmatched_code".into(),
            version: String::new(),
            label: "Data quality (QC) / 数据质量（质控）".into(),
        }),
        draft: false,
    })
}
