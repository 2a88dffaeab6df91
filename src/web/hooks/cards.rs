//! A [`pb::Decision`]'s cards as CDS Hooks 2.0 cards ("CDS Service Response", "Card
//! Attributes", "Source", "Link", "Coding"): uuid (the decision's deterministic card id),
//! summary (< 140 characters), detail (markdown), indicator, source {label, url, topic},
//! links and overrideReasons.
//!
//! No card has `suggestions` (nor therefore `selectionBehavior`) and the response has no
//! `systemActions`: a "not met" is often an undocumented contraindication, so a card never
//! proposes an order. The types below cannot express either. LLM content is a draft card,
//! labelled so, and never above `info`.

use serde::Serialize;

use crate::{
    config::{http::fill, HttpSettings},
    locale::Locale,
    proto::v1 as pb,
};

/// The code system of the override reasons cdssd offers and accepts back in feedback.
pub const OVERRIDE_SYSTEM: &str = "urn:cdssd:override-reason";

/// (code, zh-CN, en) of every override reason.
pub const OVERRIDE_REASONS: &[(&str, &str, &str)] = &[
    ("contraindicated", "存在病历中未记录的禁忌证或不执行的理由", "Contraindication or reason not in the record"),
    ("already_done", "已执行，尚未录入病历", "Already done, not yet in the record"),
    ("patient_declined", "患者拒绝", "Patient declined"),
    ("not_relevant", "与该患者无关", "Not relevant for this patient"),
    ("data_error", "卡片所依据的数据有误", "The data the card is based on is wrong"),
];

/// The response body: cards only.
#[derive(Debug, Serialize)]
pub struct Response {
    pub cards: Vec<Card>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub uuid: String,
    pub summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub indicator: &'static str,
    pub source: Source,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
}

#[derive(Debug, Serialize)]
pub struct Source {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub label: String,
    pub url: String,
    /// Always `absolute` (no SMART app launch).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub auto_launchable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coding {
    pub system: &'static str,
    pub code: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display: String,
}

fn indicator(c: &pb::Card, kind: pb::SourceKind) -> &'static str {
    if kind == pb::SourceKind::Llm || c.draft {
        return "info";
    }
    match c.indicator() {
        pb::Indicator::Critical => "critical",
        pb::Indicator::Warning => "warning",
        pb::Indicator::Info | pb::Indicator::Unspecified => "info",
    }
}

fn override_reasons(l: Locale) -> Vec<Coding> {
    OVERRIDE_REASONS
        .iter()
        .map(|(code, zh, en)| Coding { system: OVERRIDE_SYSTEM, code: (*code).into(), display: l.pick(zh, en).into() })
        .collect()
}

/// Percent-encode a value for a URL (everything but RFC 3986 unreserved characters).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CDS Hooks cards of `decision`, in its order (most severe first), texts in `l`.
pub fn response(decision: &pb::Decision, http: &HttpSettings, l: Locale) -> Response {
    Response { cards: decision.cards.iter().map(|c| card(c, decision, http, l)).collect() }
}

fn card(c: &pb::Card, decision: &pb::Decision, http: &HttpSettings, l: Locale) -> Card {
    let src = c.source.clone().unwrap_or_default();
    let kind = src.kind();
    let finding =
        (kind == pb::SourceKind::Rule).then(|| decision.findings.iter().find(|f| f.rule_id == src.id)).flatten();
    let (system, label) = match kind {
        pb::SourceKind::Rule => ("urn:cdssd:rule", src.label.clone()),
        pb::SourceKind::Model => ("urn:cdssd:model", src.label.clone()),
        pb::SourceKind::Llm => ("urn:cdssd:llm-draft", src.label.clone()),
        _ => ("urn:cdssd:data-quality", src.label.clone()),
    };
    let label = if label.trim().is_empty() { format!("cdssd {}", src.id) } else { label };
    let measure_url = finding.filter(|_| !http.cds_measure_url.is_empty()).map(|f| {
        fill(&http.cds_measure_url, &|name| {
            encode(match name {
                "rule_id" => &f.rule_id,
                "pack" => &f.pack,
                "measure_set" => &f.measure_set,
                _ => &f.measure_id,
            })
        })
    });
    let mut links = Vec::new();
    if let (Some(url), Some(f)) = (&measure_url, finding) {
        links.push(Link {
            label: format!("{}{}", l.pick("指标原文：", "Measure text: "), f.measure),
            url: url.clone(),
            kind: "absolute",
            auto_launchable: false,
        });
    }
    let needs_reason =
        finding.is_some_and(|f| matches!(f.status(), pb::FindingStatus::NotMet | pb::FindingStatus::Pending));
    if let (true, Some(f)) = (needs_reason && !http.cds_reason_url.is_empty(), finding) {
        links.push(Link {
            label: l.pick("记录未执行的理由（禁忌证、拒绝等）", "Document a reason (contraindication, refusal)").into(),
            url: fill(&http.cds_reason_url, &|name| encode(if name == "rule_id" { &f.rule_id } else { &c.uuid })),
            kind: "absolute",
            auto_launchable: false,
        });
    }
    let offers_override = matches!(kind, pb::SourceKind::Rule | pb::SourceKind::Model | pb::SourceKind::Llm);
    Card {
        uuid: c.uuid.clone(),
        summary: crate::decision::truncate_summary(&c.summary),
        detail: c.detail.clone(),
        indicator: indicator(c, kind),
        source: Source {
            label,
            url: measure_url,
            topic: Some(Coding {
                system,
                code: src.id.clone(),
                display: finding.map(|f| f.title.clone()).unwrap_or_else(|| src.label.clone()),
            }),
        },
        links,
        override_reasons: if offers_override { override_reasons(l) } else { Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(measure: &str, reason: &str) -> HttpSettings {
        HttpSettings {
            listen: String::new(),
            cds_hooks: true,
            cors_allowed_origins: vec![],
            cds_measure_url: measure.into(),
            cds_reason_url: reason.into(),
        }
    }

    fn decision() -> pb::Decision {
        let source = |kind: pb::SourceKind, id: &str, label: &str| {
            Some(pb::CardSource { kind: kind as i32, id: id.into(), version: "1".into(), label: label.into() })
        };
        pb::Decision {
            findings: vec![pb::Finding {
                rule_id: "stemi.aspirin_arrival".into(),
                pack: "stemi".into(),
                title: "Aspirin at arrival".into(),
                measure: "CMS AMI-1".into(),
                measure_set: "CMS".into(),
                measure_id: "AMI-1".into(),
                status: pb::FindingStatus::NotMet as i32,
                ..Default::default()
            }],
            cards: vec![
                pb::Card {
                    uuid: "u-rule".into(),
                    summary: "Not met: aspirin".into(),
                    detail: "**x**".into(),
                    indicator: pb::Indicator::Critical as i32,
                    source: source(pb::SourceKind::Rule, "stemi.aspirin_arrival", "CMS AMI-1"),
                    draft: false,
                },
                // A draft claiming to be critical is shown as info.
                pb::Card {
                    uuid: "u-llm".into(),
                    summary: "DRAFT (AI, review required): x".into(),
                    detail: String::new(),
                    indicator: pb::Indicator::Critical as i32,
                    source: source(pb::SourceKind::Llm, "demo", "Language-model draft"),
                    draft: true,
                },
                pb::Card {
                    uuid: "u-dq".into(),
                    summary: "Data quality".into(),
                    detail: String::new(),
                    indicator: pb::Indicator::Info as i32,
                    source: source(pb::SourceKind::DataQuality, "data_quality.unmatched_code", "Data quality (QC)"),
                    draft: false,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn rule_cards_link_the_measure_and_the_reason_form_and_offer_coded_override_reasons() {
        let h =
            http("https://qc.example/m/{measure_set}/{measure_id}?r={rule_id}", "https://emr.example/why/{card_uuid}");
        let v = serde_json::to_value(response(&decision(), &h, Locale::En)).unwrap();
        let rule = &v["cards"][0];
        assert_eq!(rule["uuid"], "u-rule");
        assert_eq!(rule["indicator"], "critical");
        assert_eq!(rule["source"]["url"], "https://qc.example/m/CMS/AMI-1?r=stemi.aspirin_arrival");
        assert_eq!(rule["source"]["topic"]["code"], "stemi.aspirin_arrival");
        assert_eq!(rule["links"][0]["type"], "absolute");
        assert_eq!(rule["links"][1]["url"], "https://emr.example/why/u-rule");
        assert_eq!(rule["overrideReasons"][0]["system"], OVERRIDE_SYSTEM);
        assert_eq!(rule["overrideReasons"].as_array().unwrap().len(), OVERRIDE_REASONS.len());
        let llm = &v["cards"][1];
        assert_eq!(llm["indicator"], "info");
        assert!(llm["summary"].as_str().unwrap().starts_with("DRAFT"));
        let dq = &v["cards"][2];
        assert!(dq.get("overrideReasons").is_none() && dq.get("links").is_none());
        for c in v["cards"].as_array().unwrap() {
            assert!(c.get("suggestions").is_none() && c.get("selectionBehavior").is_none());
        }
        assert!(v.get("systemActions").is_none());
    }

    #[test]
    fn without_templates_there_are_no_links_and_values_are_url_encoded() {
        let v = serde_json::to_value(response(&decision(), &http("", ""), Locale::ZhCn)).unwrap();
        assert!(v["cards"][0].get("links").is_none());
        assert!(v["cards"][0]["source"].get("url").is_none());
        assert_eq!(v["cards"][0]["overrideReasons"][2]["display"], "患者拒绝");
        assert_eq!(encode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
