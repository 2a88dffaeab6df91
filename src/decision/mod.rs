//! Merging findings, risks and the drafted suggestion into one
//! [`pb::Decision`], and turning them into CDS-Hooks-style cards.
//!
//! Invariants: every card names its source (rule / model / LLM, id, version);
//! LLM cards are always `draft` and never rank above critical rule or risk
//! cards; card summaries are under 140 characters; every text is in the request's
//! locale (zh-CN or en, `text.rs`), times in the hospital zone.

mod card_id;
mod cards;
#[cfg(test)]
mod tests;
pub mod text;

pub use card_id::{card_id, finding_id};
pub use cards::{card_for_data_quality, card_for_finding, card_for_risk, card_for_suggestion, truncate_summary};

use crate::proto::v1 as pb;

/// Everything the fast path (rules + risk) produced.
#[derive(Debug, Clone, Default)]
pub struct FastPart {
    pub findings: Vec<pb::Finding>,
    pub risks: Vec<pb::RiskScore>,
    pub rule_set_version: String,
    pub models: Vec<pb::ModelVersion>,
    pub rules_us: u64,
    pub risk_us: u64,
    /// Data-quality notices of the encounter (`rules::quality`).
    pub data_quality: Vec<pb::DataQualityNotice>,
}

/// Identity of one evaluation, copied into the decision.
#[derive(Debug, Clone)]
pub struct Header {
    pub request_id: String,
    pub encounter_id: String,
    pub trigger: pb::Trigger,
    pub evaluation_time: chrono::DateTime<chrono::Utc>,
    pub include_not_applicable: bool,
    /// Language of the cards' texts (the request's `options.locale`, else
    /// `server.default_locale`); the findings' texts are already in it.
    pub locale: crate::locale::Locale,
    /// The hospital time zone: times on cards are shown in it.
    pub tz: chrono_tz::Tz,
}

/// Build the decision from its parts; cards are derived here and sorted most severe first.
pub fn assemble(
    header: &Header,
    fast: &FastPart,
    suggestion: pb::DraftSuggestion,
    mut timings: pb::Timings,
) -> pb::Decision {
    let now = header.evaluation_time;
    let (locale, tz) = (header.locale, header.tz);
    let enc = header.encounter_id.as_str();
    let findings: Vec<pb::Finding> = fast
        .findings
        .iter()
        .filter(|f| header.include_not_applicable || f.status() != pb::FindingStatus::NotApplicable)
        .map(|f| pb::Finding { finding_id: finding_id(&f.rule_id, enc), ..f.clone() })
        .collect();
    let with_id = |mut c: pb::Card, kind: &str, outcome: &str, version: &str| {
        let source = c.source.as_ref().map(|s| s.id.as_str()).unwrap_or_default();
        c.uuid = card_id(kind, source, enc, outcome, version);
        c
    };
    let mut cards: Vec<pb::Card> = findings
        .iter()
        .filter_map(|f| {
            let c = card_for_finding(f, now, locale, tz)?;
            Some(with_id(c, "rule", f.status().as_str_name(), &format!("{}@{}", f.rule_version, fast.rule_set_version)))
        })
        .collect();
    cards.extend(fast.risks.iter().filter_map(|r| {
        let c = card_for_risk(r, locale)?;
        let outcome = format!("{}/{}", r.status().as_str_name(), r.band().as_str_name());
        Some(with_id(c, "model", &outcome, &r.model_version))
    }));
    cards.extend(card_for_suggestion(&suggestion, locale).map(|c| {
        let version = format!("{}@{}", suggestion.template_version, suggestion.model);
        with_id(c, "llm", &suggestion.prompt_hash, &version)
    }));
    cards.extend(card_for_data_quality(&fast.data_quality, locale));
    sort_cards(&mut cards);
    timings.rules_us = fast.rules_us;
    timings.risk_us = fast.risk_us;
    pb::Decision {
        request_id: header.request_id.clone(),
        encounter_id: header.encounter_id.clone(),
        trigger: header.trigger as i32,
        evaluation_time: Some(timestamp(now)),
        findings,
        risks: fast.risks.clone(),
        versions: Some(pb::Versions {
            cdssd: crate::VERSION.to_string(),
            rule_set: fast.rule_set_version.clone(),
            models: fast.models.clone(),
            prompt_template: suggestion.template_version.clone(),
        }),
        suggestion: Some(suggestion),
        cards,
        timings: Some(timings),
        data_quality: fast.data_quality.clone(),
        // Set by the pipeline once the decision is recorded (audit).
        decision_id: String::new(),
        locale: locale.tag().to_string(),
    }
}

/// Most severe first; at equal severity rule and model cards precede LLM cards.
pub fn sort_cards(cards: &mut [pb::Card]) {
    cards.sort_by_key(|c| {
        let is_llm = c.source.as_ref().map(|s| s.kind() == pb::SourceKind::Llm).unwrap_or(false);
        (std::cmp::Reverse(c.indicator), is_llm)
    });
}

/// Convert a chrono instant to a protobuf timestamp.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// A suggestion that was not requested (or not yet available).
pub fn suggestion_with_status(status: pb::SuggestionStatus, message: impl Into<String>) -> pb::DraftSuggestion {
    pb::DraftSuggestion { status: status as i32, draft: true, message: message.into(), ..Default::default() }
}
