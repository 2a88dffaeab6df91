//! One card per actionable finding, risk or draft.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::text::{self, label, local_time, local_timestamp};
use crate::locale::Locale;
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

fn evidence_lines(evidence: &[pb::Evidence], l: Locale, tz: Tz) -> String {
    evidence
        .iter()
        .map(|e| {
            let mut line = format!("- `{}/{}` {}", e.item_type, e.item_id, e.label);
            if !e.value.is_empty() {
                line.push_str(&format!(" = {}", e.value));
            }
            if let Some(t) = e.time.as_ref().and_then(|t| local_timestamp(t, tz)) {
                line.push_str(l.pick("，时间 ", " at "));
                line.push_str(&t);
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// "前缀：正文" / "Prefix: text".
fn prefixed(l: Locale, prefix: &str, text: &str) -> String {
    format!("{}{text}", label(l, prefix, prefix))
}

/// A card for a finding that needs attention: not met, pending, or failed. Texts in
/// `l`, times in the hospital zone `tz`.
pub fn card_for_finding(f: &pb::Finding, now: DateTime<Utc>, l: Locale, tz: Tz) -> Option<pb::Card> {
    let (indicator, prefix) = match f.status() {
        pb::FindingStatus::NotMet => {
            (indicator_for(f.severity()).max(pb::Indicator::Warning), l.pick("未达标", "Not met"))
        }
        pb::FindingStatus::Pending => {
            let deadline = f.deadline.as_ref().and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32));
            let near = deadline.map(|d| (d - now).num_minutes() <= NEAR_DEADLINE_MIN).unwrap_or(false);
            if near {
                (indicator_for(f.severity()).max(pb::Indicator::Warning), l.pick("即将到期", "Due soon"))
            } else {
                (pb::Indicator::Info, l.pick("待完成", "Pending"))
            }
        }
        pb::FindingStatus::Error => (pb::Indicator::Info, l.pick("无法判断", "Could not check")),
        pb::FindingStatus::MissingData => (pb::Indicator::Info, l.pick("资料缺失", "Missing data")),
        _ => return None,
    };
    let mut detail = format!(
        "**{}** — {}\n\n{}{}  \n{}`{}` v{} ({} `{}`)",
        f.title,
        f.message,
        label(l, "指标", "Measure"),
        f.measure,
        label(l, "规则", "Rule"),
        f.rule_id,
        f.rule_version,
        l.pick("规则包", "pack"),
        f.pack
    );
    if !f.local_variant_of.is_empty() {
        let v = &f.local_variant_of;
        detail.push_str(&format!(
            "  \n{}",
            l.pick(&format!("本院本地版本，替代 `{v}`"), &format!("Local variant of `{v}`"))
        ));
    }
    if let Some(d) = f.deadline.as_ref().and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32)) {
        let mins = text::minutes_until(d, now);
        let rel = match l {
            Locale::ZhCn if mins >= 0 => format!("距评估时间还有 {mins} 分钟"),
            Locale::ZhCn => format!("已超过 {} 分钟", -mins),
            Locale::En if mins >= 0 => format!("{mins} min from evaluation time"),
            Locale::En => format!("{} min ago", -mins),
        };
        detail.push_str(&format!("\n\n{}{} ({rel})", label(l, "截止时间", "Deadline"), local_time(d, tz)));
    }
    if !f.missing_data.is_empty() {
        detail.push_str(&format!("\n\n{}{}", label(l, "缺少数据", "Missing data"), f.missing_data.join(", ")));
    }
    if !f.evidence.is_empty() {
        detail.push_str(&format!("\n\n{}\n", label(l, "依据", "Evidence").trim_end()));
        detail.push_str(&evidence_lines(&f.evidence, l, tz));
    }
    detail.push_str(&decisive_steps(f, l));
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&prefixed(l, prefix, &format!("{} — {}", f.title, f.message))),
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
/// clinician always sees which models looked at the patient. `r.outcome` and
/// `r.horizon` are already in `l` (the registry picks the manifest's texts).
pub fn card_for_risk(r: &pb::RiskScore, l: Locale) -> Option<pb::Card> {
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
        let summary = match l {
            Locale::ZhCn => format!("未评分：{}风险 — {}", r.outcome, r.message),
            Locale::En => format!("Not scored: risk of {} — {}", r.outcome, r.message),
        };
        let mut detail = match l {
            Locale::ZhCn => format!(
                "模型 `{}` v{} 未给出评分（{}）。\n\n{}",
                r.model_id,
                r.model_version,
                text::risk_status(r.status(), l),
                r.message
            ),
            Locale::En => format!(
                "Model `{}` v{} did not produce a score ({}).\n\n{}",
                r.model_id,
                r.model_version,
                text::risk_status(r.status(), l),
                r.message
            ),
        };
        detail.push_str(&validity(r, l));
        return Some(pb::Card {
            uuid: uuid::Uuid::new_v4().to_string(),
            summary: truncate_summary(&summary),
            detail,
            indicator: pb::Indicator::Info as i32,
            source,
            draft: false,
        });
    }
    let indicator = if r.band() == pb::RiskBand::High { pb::Indicator::Warning } else { pb::Indicator::Info };
    let band = text::risk_band(r.band(), l);
    let pct = r.probability * 100.0;
    let mut detail = match l {
        Locale::ZhCn => format!(
            "预测{}（{}）风险：**{pct:.1} %**（{band}）。\n\n模型：`{}` v{}，运行于 {}  \n来源：{}",
            r.outcome, r.horizon, r.model_id, r.model_version, r.device, r.citation
        ),
        Locale::En => format!(
            "Predicted risk of {} ({}): **{pct:.1} %** ({band}).\n\nModel: `{}` v{} on {}  \nSource: {}",
            r.outcome, r.horizon, r.model_id, r.model_version, r.device, r.citation
        ),
    };
    if !r.contributions.is_empty() {
        detail.push_str(l.pick(
            "\n\n影响最大的特征（与参考值相比的风险变化）：\n",
            "\n\nMain contributing features (change in risk vs. reference value):\n",
        ));
        for c in r.contributions.iter().take(5) {
            let name = if c.label.is_empty() { &c.feature } else { &c.label };
            let points = l.pick("个百分点", "points");
            detail.push_str(&format!("- {name}{}{:+.1} {points}\n", l.pick("：", ": "), c.delta * 100.0));
        }
    }
    let imputed: Vec<&str> = r
        .features
        .iter()
        .filter(|f| f.imputed)
        .map(|f| if f.label.is_empty() { f.name.as_str() } else { f.label.as_str() })
        .collect();
    if !imputed.is_empty() {
        detail.push_str(&format!(
            "\n{}{}",
            label(l, "已插补（病历中缺失）", "Imputed (missing in the record)"),
            imputed.join(l.pick("、", ", "))
        ));
    }
    if !r.message.is_empty() {
        detail.push_str(&format!("\n\n{}", r.message));
    }
    detail.push_str(&validity(r, l));
    let summary = match l {
        Locale::ZhCn => format!("{band}：{}（{}）{pct:.1} %", r.outcome, r.horizon),
        Locale::En => format!("{band} of {}: {pct:.1} % ({})", r.outcome, r.horizon),
    };
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&capitalise(&summary)),
        detail,
        indicator: indicator as i32,
        source,
        draft: false,
    })
}

/// The model's validity limits (its manifest's `[validity]`, already in `l`) as the
/// last paragraph of a risk card's detail; "" when unknown.
fn validity(r: &pb::RiskScore, l: Locale) -> String {
    if r.validity.trim().is_empty() {
        return String::new();
    }
    format!("\n\n{}{}", label(l, "适用范围与局限", "Validity limits"), r.validity)
}

/// The guideline passages the draft cites: id, title, source, section and review status
/// of each ("" when it cites none). Titles and review statuses are in the suggestion's
/// locale (the request's); the heading in `l`.
pub fn cited_passages(s: &pb::DraftSuggestion, l: Locale) -> String {
    let cited: Vec<&pb::GuidelinePassage> = s.passages.iter().filter(|p| p.cited).collect();
    if cited.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}\n", l.pick("引用的指南段落：", "Guideline passages cited:"));
    for p in cited {
        out.push_str(&format!("- [{}] {} — {}, {} ({})\n", p.id, p.title, p.source, p.section, p.review_status));
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The LLM card: always info, always a draft. Its own text (summary, differential) is the
/// model's, in the language the prompt template asks for; the frame is in `l`.
pub fn card_for_suggestion(s: &pb::DraftSuggestion, l: Locale) -> Option<pb::Card> {
    if s.status() != pb::SuggestionStatus::Ok {
        return None;
    }
    let mut detail = String::from(l.pick(
        "> **由语言模型生成的草稿——供医生审核，不是诊疗建议。**\n\n",
        "> **Draft generated by a language model — for clinician review, not a recommendation.**\n\n",
    ));
    detail.push_str(&s.summary);
    if !s.differentials.is_empty() {
        detail.push_str(&format!("\n\n{}\n", label(l, "鉴别诊断", "Differential").trim_end()));
        for d in &s.differentials {
            detail.push_str(&format!(
                "- {} ({}) — {}{}\n",
                d.condition,
                d.icd10,
                label(l, "可能性", "likelihood"),
                d.likelihood
            ));
        }
    }
    if !s.red_flags.is_empty() {
        detail.push_str(&format!("\n{}{}\n", label(l, "危险信号", "Red flags"), s.red_flags.join("; ")));
    }
    detail.push_str(&cited_passages(s, l));
    if !s.flags.is_empty() {
        detail.push_str(&format!("\n{}{}\n", label(l, "核查", "Checks"), s.flags.join("; ")));
    }
    detail.push_str(&format!(
        "\n{}{} · {} v{} · {} {}",
        label(l, "模型", "Model"),
        s.model,
        l.pick("提示词模板", "prompt template"),
        s.template_version,
        l.pick("提示词", "prompt"),
        s.prompt_hash
    ));
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&prefixed(l, l.pick("AI 草稿，需审核", "DRAFT (AI, review required)"), &s.summary)),
        detail,
        indicator: pb::Indicator::Info as i32,
        source: Some(pb::CardSource {
            kind: pb::SourceKind::Llm as i32,
            id: s.model.clone(),
            version: s.template_version.clone(),
            label: l.pick("语言模型草稿", "Language-model draft").into(),
        }),
        draft: true,
    })
}

/// One QC card for the data-quality notices of the denominator lists (diagnoses,
/// procedures): items no rule can read may change which measures apply. `None` when
/// there are none. Texts in `l`; names items by list/id, never by value.
pub fn card_for_data_quality(notices: &[pb::DataQualityNotice], l: Locale) -> Option<pb::Card> {
    let relevant: Vec<&pb::DataQualityNotice> =
        notices.iter().filter(|n| crate::encounter::DENOMINATOR_LISTS.contains(&n.list.as_str())).collect();
    if relevant.is_empty() {
        return None;
    }
    let n = relevant.len();
    let mut detail = String::from(l.pick(
        "以下条目的编码不在任何值集或本地编码映射中，相关质控指标可能缺失或被误判为不适用，\
         请维护映射（rules/valuesets、rules/mappings）。\n\n",
        "Items coded only in systems that no value set or local-code mapping lists. Measures may be missing or \
         wrongly not applicable until the codes are mapped (rules/valuesets, rules/mappings).\n\n",
    ));
    for x in &relevant {
        detail.push_str(&format!("- {}/{} ({})\n", x.list, x.item_id, x.code_system));
    }
    let summary = match l {
        Locale::ZhCn => format!("数据质量：{n} 项编码规则无法识别，相关指标可能缺失"),
        Locale::En => format!("Data quality: {n} item(s) coded so that no rule can read them; measures may be missing"),
    };
    Some(pb::Card {
        uuid: uuid::Uuid::new_v4().to_string(),
        summary: truncate_summary(&summary),
        detail,
        indicator: pb::Indicator::Info as i32,
        source: Some(pb::CardSource {
            kind: pb::SourceKind::DataQuality as i32,
            id: "data_quality.unmatched_code".into(),
            version: String::new(),
            label: l.pick("数据质量（质控）", "Data quality (QC)").into(),
        }),
        draft: false,
    })
}

/// Most trail steps a card's detail lists.
pub const CARD_TRAIL_STEPS: usize = 6;

/// The decisive steps of a finding's reasoning trail for the card detail: time zero, the
/// window and the items accepted or rejected (the exclusion checks and the whole trail are
/// in the finding); "" when the rule recorded none.
fn decisive_steps(f: &pb::Finding, l: Locale) -> String {
    let steps: Vec<&pb::TrailStep> =
        f.trail.iter().filter(|t| matches!(t.kind.as_str(), "time_zero" | "window" | "item")).collect();
    if steps.is_empty() {
        return String::new();
    }
    let mut out = format!("\n\n{}\n", label(l, "判定过程", "How it was decided").trim_end());
    for t in steps.iter().take(CARD_TRAIL_STEPS) {
        out.push_str(&format!("- {}\n", t.text));
    }
    if steps.len() > CARD_TRAIL_STEPS || f.trail_truncated {
        out.push_str(l.pick("- …（完整推理过程见质控结果）\n", "- … (the full trail is in the finding)\n"));
    }
    out
}
