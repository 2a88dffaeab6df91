use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::locale::Locale;

const EN: Locale = Locale::En;
const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn finding(status: pb::FindingStatus, severity: pb::Severity) -> pb::Finding {
    pb::Finding {
        rule_id: "stemi.door_to_device_90".into(),
        rule_version: "1.0.0".into(),
        pack: "stemi".into(),
        title: "Door-to-device <= 90 min".into(),
        measure: "CMS AMI-8a".into(),
        status: status as i32,
        severity: severity as i32,
        message: "Primary PCI due".into(),
        ..Default::default()
    }
}

fn risk(status: pb::RiskStatus, band: pb::RiskBand) -> pb::RiskScore {
    pb::RiskScore {
        model_id: "ami-1y-mortality".into(),
        model_version: "1.0.0".into(),
        outcome: "death within 1 year".into(),
        horizon: "1 year".into(),
        status: status as i32,
        band: band as i32,
        probability: 0.42,
        device: "cpu".into(),
        message: "required feature missing: age".into(),
        ..Default::default()
    }
}

fn ok_draft() -> pb::DraftSuggestion {
    pb::DraftSuggestion {
        status: pb::SuggestionStatus::Ok as i32,
        draft: true,
        model: "demo".into(),
        template_version: "1.0.0".into(),
        summary: "Likely anterior STEMI.".into(),
        ..Default::default()
    }
}

#[test]
fn not_met_cards_take_the_rule_severity_but_at_least_warning() {
    let c = card_for_finding(&finding(pb::FindingStatus::NotMet, pb::Severity::Critical), now(), EN, TZ).unwrap();
    assert_eq!(c.indicator(), pb::Indicator::Critical);
    let c = card_for_finding(&finding(pb::FindingStatus::NotMet, pb::Severity::Info), now(), EN, TZ).unwrap();
    assert_eq!(c.indicator(), pb::Indicator::Warning);
    let src = c.source.unwrap();
    assert_eq!(
        (src.kind(), src.id.as_str(), src.version.as_str()),
        (pb::SourceKind::Rule, "stemi.door_to_device_90", "1.0.0")
    );
}

#[test]
fn pending_cards_escalate_only_near_the_deadline() {
    let mut f = finding(pb::FindingStatus::Pending, pb::Severity::Critical);
    f.deadline = Some(timestamp(now() + Duration::minutes(45)));
    assert_eq!(card_for_finding(&f, now(), EN, TZ).unwrap().indicator(), pb::Indicator::Critical);
    f.deadline = Some(timestamp(now() + Duration::hours(5)));
    assert_eq!(card_for_finding(&f, now(), EN, TZ).unwrap().indicator(), pb::Indicator::Info);
}

#[test]
fn met_excluded_and_not_applicable_findings_make_no_card() {
    for s in [pb::FindingStatus::Met, pb::FindingStatus::Excluded, pb::FindingStatus::NotApplicable] {
        assert!(card_for_finding(&finding(s, pb::Severity::Critical), now(), EN, TZ).is_none(), "{s:?}");
    }
}

#[test]
fn every_risk_that_ran_gets_a_card_and_high_band_warns() {
    assert_eq!(
        card_for_risk(&risk(pb::RiskStatus::Ok, pb::RiskBand::High), EN).unwrap().indicator(),
        pb::Indicator::Warning
    );
    assert_eq!(
        card_for_risk(&risk(pb::RiskStatus::Ok, pb::RiskBand::Low), EN).unwrap().indicator(),
        pb::Indicator::Info
    );
    let refused = card_for_risk(&risk(pb::RiskStatus::Refused, pb::RiskBand::Unspecified), EN).unwrap();
    assert_eq!(refused.indicator(), pb::Indicator::Info);
    assert!(refused.summary.starts_with("Not scored") && refused.detail.contains("age"), "{refused:?}");
}

#[test]
fn llm_cards_are_drafts_and_never_rank_above_critical_cards() {
    let header = Header {
        request_id: "r".into(),
        encounter_id: "e".into(),
        trigger: pb::Trigger::Admission,
        evaluation_time: now(),
        include_not_applicable: false,
        locale: EN,
        tz: TZ,
    };
    let fast = FastPart {
        findings: vec![
            finding(pb::FindingStatus::NotMet, pb::Severity::Critical),
            finding(pb::FindingStatus::NotApplicable, pb::Severity::Critical),
        ],
        risks: vec![risk(pb::RiskStatus::Ok, pb::RiskBand::Low)],
        ..Default::default()
    };
    let d = assemble(&header, &fast, ok_draft(), pb::Timings::default());
    assert_eq!(d.findings.len(), 1, "not-applicable findings are omitted unless asked for");
    assert_eq!(d.cards.len(), 3);
    assert_eq!(d.cards[0].indicator(), pb::Indicator::Critical);
    let llm: Vec<&pb::Card> =
        d.cards.iter().filter(|c| c.source.as_ref().unwrap().kind() == pb::SourceKind::Llm).collect();
    assert_eq!(llm.len(), 1);
    assert!(llm[0].draft && llm[0].summary.starts_with("DRAFT"));
    assert_eq!(
        d.cards.last().unwrap().source.as_ref().unwrap().kind(),
        pb::SourceKind::Llm,
        "LLM last at equal severity"
    );
}

#[test]
fn summaries_stay_under_140_characters() {
    let long = "é".repeat(300);
    let s = truncate_summary(&long);
    assert_eq!(s.chars().count(), 139);
    assert!(s.ends_with('…'));
    assert_eq!(truncate_summary("short"), "short");
}

#[test]
fn summaries_are_cut_on_word_and_phrase_boundaries() {
    let en = "Not met: Aspirin within 24 hours of arrival — no aspirin administration is recorded between arrival and the end of the window, and no documented contraindication was found in the record";
    let s = truncate_summary(en);
    assert!(s.chars().count() < 140, "{s}");
    let body = s.trim_end_matches('…');
    assert!(en.starts_with(body), "{s}");
    let next = en[body.len()..].chars().next().unwrap();
    assert!(next == ' ' || next == ',', "cut mid-word: {s}");
    let zh = "未达标：到院后24小时内未给予阿司匹林，".repeat(10);
    let s = truncate_summary(&zh);
    assert!(s.chars().count() < 140, "{s}");
    assert!(s.ends_with('…') && !s.ends_with("，…"), "{s}");
}

#[test]
fn card_ids_are_stable_across_calls_and_change_with_encounter_outcome_and_version() {
    let header = |enc: &str| Header {
        request_id: "r".into(),
        encounter_id: enc.into(),
        trigger: pb::Trigger::PeriodicReview,
        evaluation_time: now(),
        include_not_applicable: false,
        locale: EN,
        tz: TZ,
    };
    let fast = |status, version: &str| FastPart {
        findings: vec![finding(status, pb::Severity::Warning)],
        risks: vec![risk(pb::RiskStatus::Ok, pb::RiskBand::High)],
        rule_set_version: version.into(),
        ..Default::default()
    };
    let ids = |h: &Header, f: &FastPart| -> Vec<String> {
        let none = suggestion_with_status(pb::SuggestionStatus::Disabled, "");
        assemble(h, f, none, pb::Timings::default()).cards.into_iter().map(|c| c.uuid).collect()
    };
    let a = ids(&header("enc-1"), &fast(pb::FindingStatus::NotMet, "v1"));
    assert_eq!(a.len(), 2);
    assert_eq!(a, ids(&header("enc-1"), &fast(pb::FindingStatus::NotMet, "v1")), "same inputs, same ids");
    assert_ne!(a, ids(&header("enc-2"), &fast(pb::FindingStatus::NotMet, "v1")));
    let pending = ids(&header("enc-1"), &fast(pb::FindingStatus::Pending, "v1"));
    assert_eq!(pending.iter().filter(|id| a.contains(id)).count(), 1, "a new outcome is a new rule card");
    let v2 = ids(&header("enc-1"), &fast(pb::FindingStatus::NotMet, "v2"));
    assert!(
        v2.iter().filter(|id| a.contains(id)).count() == 1,
        "the rule card changes with the rule set, the model card does not"
    );
}

#[test]
fn cards_are_written_in_the_locale_with_local_times_and_no_enum_names() {
    let zh = Locale::ZhCn;
    let mut f = finding(pb::FindingStatus::Pending, pb::Severity::Critical);
    f.title = "直接 PCI 门-球时间 ≤ 90 分钟".into();
    f.message = "应在 03-02 23:10 前开通血管".into();
    f.deadline = Some(timestamp(now() + Duration::seconds(45 * 60 + 30)));
    let c = card_for_finding(&f, now(), zh, TZ).unwrap();
    assert!(c.summary.starts_with("即将到期："), "{}", c.summary);
    let local = text::local_time(now() + Duration::seconds(45 * 60 + 30), TZ);
    assert!(local.ends_with("(+08:00)"), "{local}");
    assert!(c.detail.contains(&format!("截止时间：{local}（")) || c.detail.contains(&format!("截止时间：{local} (")));
    assert!(c.detail.contains("还有 46 分钟"), "minutes rounded up: {}", c.detail);
    assert!(!c.detail.contains("Deadline") && !c.detail.contains('Z'), "{}", c.detail);
    let en = card_for_finding(&f, now(), EN, TZ).unwrap();
    assert!(en.summary.starts_with("Due soon: ") && en.detail.contains("46 min from evaluation time"), "{en:?}");

    let r = card_for_risk(&risk(pb::RiskStatus::Ok, pb::RiskBand::Low), zh).unwrap();
    assert!(r.summary.starts_with("低风险：") && !r.summary.contains("RISK_BAND"), "{}", r.summary);
    let r = card_for_risk(&risk(pb::RiskStatus::Ok, pb::RiskBand::Low), EN).unwrap();
    assert!(r.summary.starts_with("Low risk of "), "{}", r.summary);
    let refused = card_for_risk(&risk(pb::RiskStatus::Refused, pb::RiskBand::Unspecified), zh).unwrap();
    assert!(refused.summary.starts_with("未评分") && !refused.detail.contains("RISK_STATUS"), "{refused:?}");
    let llm = card_for_suggestion(&ok_draft(), zh).unwrap();
    assert!(llm.summary.starts_with("AI 草稿，需审核：") && llm.draft, "{}", llm.summary);
}

#[test]
fn finding_ids_name_rule_and_encounter_only() {
    let id = super::finding_id("stemi.door_to_device", "enc-1");
    assert_eq!(id, super::finding_id("stemi.door_to_device", "enc-1"));
    assert_ne!(id, super::finding_id("stemi.door_to_device", "enc-2"));
    assert_ne!(id, super::finding_id("stemi.aspirin_arrival", "enc-1"));
    // Length-prefixed parts: moving a character between the parts gives another id.
    assert_ne!(super::finding_id("ab", "c"), super::finding_id("a", "bc"));
    assert_ne!(id, card_id("finding", "stemi.door_to_device", "enc-1", "", ""), "never a card id");
    assert!(uuid::Uuid::parse_str(&id).is_ok_and(|u| u.get_version_num() == 5), "{id}");
}
