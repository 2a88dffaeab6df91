//! The words of cards and summaries in each locale: status and band names, labels, local
//! times. Nothing here prints a proto enum name; every phrase exists in zh-CN and en.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::locale::Locale;
use crate::proto::v1 as pb;

/// A finding's status as a person reads it (达标 / met …).
pub fn finding_status(s: pb::FindingStatus, l: Locale) -> &'static str {
    match s {
        pb::FindingStatus::Met => l.pick("达标", "met"),
        pb::FindingStatus::NotMet => l.pick("未达标", "not met"),
        pb::FindingStatus::Excluded => l.pick("排除", "excluded"),
        pb::FindingStatus::NotApplicable => l.pick("不适用", "not applicable"),
        pb::FindingStatus::Pending => l.pick("待完成", "pending"),
        pb::FindingStatus::Error => l.pick("无法判断", "could not check"),
        pb::FindingStatus::MissingData => l.pick("资料缺失", "missing data"),
        pb::FindingStatus::Unspecified => l.pick("未知", "unknown"),
    }
}

/// A risk band as a person reads it (`RISK_BAND_LOW` → 低风险 / low risk).
pub fn risk_band(b: pb::RiskBand, l: Locale) -> &'static str {
    match b {
        pb::RiskBand::High => l.pick("高风险", "high risk"),
        pb::RiskBand::Moderate => l.pick("中风险", "moderate risk"),
        pb::RiskBand::Low => l.pick("低风险", "low risk"),
        pb::RiskBand::Unspecified => l.pick("未分级", "no band"),
    }
}

/// A risk score's status as a person reads it.
pub fn risk_status(s: pb::RiskStatus, l: Locale) -> &'static str {
    match s {
        pb::RiskStatus::Ok => l.pick("已评分", "scored"),
        pb::RiskStatus::Refused => l.pick("拒绝评分（数据不足或超出范围）", "refused (data missing or out of range)"),
        pb::RiskStatus::Error => l.pick("模型出错", "model error"),
        pb::RiskStatus::NotApplicable => l.pick("不适用", "not applicable"),
        pb::RiskStatus::Unspecified => l.pick("未知", "unknown"),
    }
}

/// The LLM draft's status as a person reads it.
pub fn suggestion_status(s: pb::SuggestionStatus, l: Locale) -> &'static str {
    match s {
        pb::SuggestionStatus::Ok => l.pick("已生成", "ready"),
        pb::SuggestionStatus::Pending => l.pick("生成中", "in progress"),
        pb::SuggestionStatus::Timeout => l.pick("超时", "timed out"),
        pb::SuggestionStatus::Unavailable => l.pick("服务不可用", "unavailable"),
        pb::SuggestionStatus::Invalid => l.pick("输出无效，已丢弃", "invalid answer, discarded"),
        pb::SuggestionStatus::CircuitOpen => l.pick("暂停调用（熔断）", "paused (circuit open)"),
        pb::SuggestionStatus::Disabled => l.pick("未启用", "not requested"),
        pb::SuggestionStatus::Unspecified => l.pick("未知", "unknown"),
    }
}

/// A card's indicator as a person reads it.
pub fn indicator(i: pb::Indicator, l: Locale) -> &'static str {
    match i {
        pb::Indicator::Critical => l.pick("紧急", "critical"),
        pb::Indicator::Warning => l.pick("警示", "warning"),
        pb::Indicator::Info | pb::Indicator::Unspecified => l.pick("提示", "info"),
    }
}

/// The trigger of a call as a person reads it.
pub fn trigger(t: pb::Trigger, l: Locale) -> &'static str {
    match t {
        pb::Trigger::Arrival => l.pick("到院", "arrival"),
        pb::Trigger::Admission => l.pick("入院", "admission"),
        pb::Trigger::OrderSign => l.pick("医嘱签署", "order signing"),
        pb::Trigger::PatientView => l.pick("打开病历", "chart opened"),
        pb::Trigger::PeriodicReview => l.pick("定时复核", "periodic review"),
        pb::Trigger::Discharge => l.pick("出院", "discharge"),
        pb::Trigger::Retrospective => l.pick("回顾性质控", "retrospective review"),
        pb::Trigger::Unspecified => l.pick("未指定", "unspecified"),
    }
}

/// Label then separator: "截止时间：" / "Deadline: ".
pub fn label(l: Locale, zh: &str, en: &str) -> String {
    match l {
        Locale::ZhCn => format!("{zh}："),
        Locale::En => format!("{en}: "),
    }
}

/// An instant in the hospital's time zone, as people there read it: "2026-03-02 22:40 (+08:00)".
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M (%:z)").to_string()
}

/// A protobuf timestamp in the hospital's time zone.
pub fn local_timestamp(t: &pbjson_types::Timestamp, tz: Tz) -> Option<String> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).map(|t| local_time(t, tz))
}

/// "45 分钟" / "45 min", rounded up to whole minutes as measures count them.
pub fn minutes(mins: i64, l: Locale) -> String {
    match l {
        Locale::ZhCn => format!("{mins} 分钟"),
        Locale::En => format!("{mins} min"),
    }
}

/// Minutes from `now` to `deadline`, rounded up (a deadline 30 s away is "1 min" away).
pub fn minutes_until(deadline: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (deadline - now).num_seconds();
    secs.div_euclid(60) + i64::from(secs.rem_euclid(60) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phrase_exists_in_both_locales_and_none_is_an_enum_name() {
        let mut all: Vec<(&str, &str)> = Vec::new();
        for s in [
            pb::FindingStatus::Met,
            pb::FindingStatus::NotMet,
            pb::FindingStatus::Excluded,
            pb::FindingStatus::NotApplicable,
            pb::FindingStatus::Pending,
            pb::FindingStatus::Error,
            pb::FindingStatus::MissingData,
        ] {
            all.push((finding_status(s, Locale::ZhCn), finding_status(s, Locale::En)));
        }
        for b in [pb::RiskBand::High, pb::RiskBand::Moderate, pb::RiskBand::Low, pb::RiskBand::Unspecified] {
            all.push((risk_band(b, Locale::ZhCn), risk_band(b, Locale::En)));
        }
        for s in [pb::RiskStatus::Ok, pb::RiskStatus::Refused, pb::RiskStatus::Error, pb::RiskStatus::NotApplicable] {
            all.push((risk_status(s, Locale::ZhCn), risk_status(s, Locale::En)));
        }
        for t in [pb::Trigger::Arrival, pb::Trigger::Discharge, pb::Trigger::Retrospective] {
            all.push((trigger(t, Locale::ZhCn), trigger(t, Locale::En)));
        }
        for (zh, en) in all {
            assert!(crate::locale::has_chinese(zh), "{zh}");
            assert!(!crate::locale::has_chinese(en) && zh != en, "{en}");
            assert!(!en.contains('_') && en.chars().any(|c| c.is_lowercase()), "enum-like: {en}");
        }
        assert_eq!(risk_band(pb::RiskBand::Low, Locale::ZhCn), "低风险");
    }

    #[test]
    fn times_are_local_and_minutes_round_up() {
        let t = DateTime::parse_from_rfc3339("2026-03-02T14:40:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(local_time(t, chrono_tz::Asia::Shanghai), "2026-03-02 22:40 (+08:00)");
        assert_eq!(minutes_until(t + chrono::Duration::seconds(30), t), 1);
        assert_eq!(minutes_until(t + chrono::Duration::seconds(60), t), 1);
        assert_eq!(minutes_until(t + chrono::Duration::seconds(61), t), 2);
        assert_eq!(minutes_until(t - chrono::Duration::seconds(90), t), -1);
    }
}
