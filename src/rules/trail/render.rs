//! Recorded steps → the finding's [`TrailStep`]s: the outcome added, evidence of the items,
//! and each step in words in the finding's locale (times in the hospital zone, "03-02 22:40").
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Kind, Recorded, Step, TrailStep, MAX_STEPS, MAX_TEXT_CHARS};
use crate::encounter::Encounter;
use crate::locale::Locale;
use crate::rules::api::items::evidence_of;
use crate::rules::api::time::{display_short, hospital_day};
use crate::rules::finding::{Finding, Status};

/// The text in `loc`'s language, formatted only for that language (a trail is rendered for
/// every finding of every request).
macro_rules! text {
    ($loc:expr, ($($zh:tt)*), ($($en:tt)*)) => {
        match $loc {
            Locale::ZhCn => format!($($zh)*),
            Locale::En => format!($($en)*),
        }
    };
}

/// The reasons a time zero can have: `time_zero(t, key)` takes one of these keys (checked
/// when the rule set loads), and the engine uses the first five for a time zero it
/// recognises as an encounter field. `(key, en, zh-CN)`.
pub const TIME_ZERO_KEYS: &[(&str, &str, &str)] = &[
    ("arrival", "hospital arrival", "到院时间"),
    ("admission", "admission", "入院时间"),
    ("symptom_onset", "symptom onset", "症状出现时间"),
    ("last_known_well", "last known well", "最后正常时间"),
    ("discharge", "discharge", "出院时间"),
    ("incision", "incision (surgery start)", "切皮（手术开始）"),
    (
        "severe_sepsis_criteria",
        "severe sepsis: clinical criteria met (time of the last criterion)",
        "严重脓毒症：临床标准满足（最后一项的时间）",
    ),
    ("severe_sepsis_documented", "severe sepsis documented by a clinician", "医生记录严重脓毒症"),
    (
        "criteria_before_arrival",
        "severe sepsis criteria met before arrival: the arrival time",
        "到院前已满足严重脓毒症标准：取到院时间",
    ),
    ("septic_shock", "septic shock presentation", "脓毒性休克出现时间"),
    ("derived", "a time the rule computed", "规则推算的时间"),
];

/// The time-zero key of `key`, as a static string, if it is one.
pub fn time_zero_key(key: &str) -> Option<&'static str> {
    TIME_ZERO_KEYS.iter().find(|(k, _, _)| *k == key).map(|(k, _, _)| *k)
}

/// The trail of `f` from what its rule call recorded: the steps, then the outcome.
/// A finding outside the denominator (`not_applicable`, its reason in the message) gets no
/// trail: most rules of an encounter end there, and the transport shows them only on request.
pub fn finish(f: &mut Finding, rec: Recorded, tz: Tz, enc: &Encounter) {
    if f.status == Status::NotApplicable {
        return;
    }
    let loc = f.locale;
    let mut out: Vec<TrailStep> = rec.steps.iter().take(MAX_STEPS - 1).map(|s| step(s, loc, tz, enc)).collect();
    out.push(outcome(f, loc, tz));
    f.trail_truncated = rec.truncated || rec.steps.len() > MAX_STEPS - 1;
    f.trail = out;
}

fn t(tz: Tz, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| display_short(tz, t)).unwrap_or_default()
}

/// Cut to [`MAX_TEXT_CHARS`] characters ("…" last).
pub fn bounded(s: String) -> String {
    if s.chars().count() <= MAX_TEXT_CHARS {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_TEXT_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn step(s: &Step, loc: Locale, tz: Tz, enc: &Encounter) -> TrailStep {
    let item = s.item.as_ref().and_then(|d| evidence_of(d, tz, enc, loc));
    let label = item.as_ref().map(|e| e.label.as_str()).unwrap_or("");
    let day = match (s.anchor, s.time) {
        (Some(a), Some(x)) => {
            let d = hospital_day(tz, a, x);
            text!(loc, ("（第 {d} 日）"), (" (day {d})"))
        }
        _ => String::new(),
    };
    let text = match s.kind {
        Kind::TimeZero => {
            let why =
                TIME_ZERO_KEYS.iter().find(|(k, _, _)| *k == s.code).map_or(s.code, |(_, en, zh)| loc.pick(zh, en));
            text!(loc, ("时间零点：{why}，{}", t(tz, s.time)), ("Time zero: {why}, {}", t(tz, s.time)))
        }
        Kind::Window if s.code == "hospital_days" => text!(
            loc,
            ("时间窗：住院第 1 日至第 {} 日结束（{} 前，不含）", s.n, t(tz, s.end)),
            ("Window: hospital day 1 to the end of day {} (before {}, end excluded)", s.n, t(tz, s.end))
        ),
        Kind::Window => {
            let (zh, en) =
                if s.code == "closed" { ("含终点", "end included") } else { ("不含终点", "end excluded") };
            text!(
                loc,
                ("时间窗 {} – {}（{zh}）", t(tz, s.time), t(tz, s.end)),
                ("Window {} – {} ({en})", t(tz, s.time), t(tz, s.end))
            )
        }
        Kind::Item => {
            let (zh, en) = match s.code {
                "in_window" => ("在时间窗内：采用", "in window: accepted"),
                "before_time_zero" => ("早于时间零点：不采用", "before time zero: rejected"),
                "before_window" => ("早于时间窗：不采用", "before the window: rejected"),
                _ => ("超出时间窗：不采用", "outside window: rejected"),
            };
            let when = t(tz, s.time);
            text!(loc, ("{label} {when}{day} — {zh}"), ("{label} {when}{day} — {en}"))
        }
        Kind::ExclusionCheck => exclusion_text(s, label, loc, tz),
        Kind::Note => String::new(),
    };
    TrailStep {
        kind: s.kind.as_str().to_string(),
        code: s.code.to_string(),
        accepted: s.accepted,
        item,
        time: s.time,
        end_time: s.end,
        text: bounded(text),
    }
}

fn exclusion_text(s: &Step, label: &str, loc: Locale, tz: Tz) -> String {
    let when = t(tz, s.time);
    let field = match s.arg.as_str() {
        "enc.transferred_in" => Some(("外院转入", "Transfer-in")),
        "enc.comfort_measures_time" => Some(("仅舒缓治疗", "Comfort measures only")),
        "enc.clinical_trial_time" => Some(("临床试验", "Clinical trial")),
        _ => None,
    };
    let transfer = s.arg == "enc.transferred_in";
    match (field, s.code) {
        (Some((zh, en)), "not_documented") if transfer => {
            text!(loc, ("{zh}：否"), ("{en}: no"))
        }
        (Some((zh, en)), "documented") if transfer => text!(loc, ("{zh}：是"), ("{en}: yes")),
        (Some((zh, en)), "not_documented") => {
            text!(loc, ("{zh}：未记录"), ("{en}: not documented"))
        }
        (Some((zh, en)), _) => {
            text!(loc, ("{zh}：已记录 {when}"), ("{en}: documented {when}"))
        }
        (None, "none_found") => {
            text!(loc, ("排除条件检查 {}：未发现", s.arg), ("Exclusion check {}: none found", s.arg))
        }
        (None, _) => text!(
            loc,
            ("排除条件检查 {}：发现 {} 条（{label} {when}）", s.arg, s.n),
            ("Exclusion check {}: {} found ({label} {when})", s.arg, s.n)
        ),
    }
}

fn status_word(st: Status, loc: Locale) -> &'static str {
    match st {
        Status::Met => loc.pick("达标", "met"),
        Status::NotMet => loc.pick("未达标", "not met"),
        Status::Excluded => loc.pick("排除", "excluded"),
        Status::NotApplicable => loc.pick("不适用", "not applicable"),
        Status::Pending => loc.pick("进行中（时间窗未关闭）", "pending (window open)"),
        Status::Error => loc.pick("无法判定", "not decided"),
        Status::MissingData => loc.pick("缺少数据，无法判定", "not decided: data missing"),
    }
}

fn outcome(f: &Finding, loc: Locale, tz: Tz) -> TrailStep {
    let word = status_word(f.status, loc);
    let key = if f.reason_key.is_empty() {
        String::new()
    } else {
        text!(loc, ("（{}）", f.reason_key), (" ({})", f.reason_key))
    };
    let due = match f.deadline {
        Some(d) => text!(loc, ("，截止 {}", display_short(tz, d)), (", due {}", display_short(tz, d))),
        None => String::new(),
    };
    TrailStep {
        kind: Kind::Note.as_str().to_string(),
        code: "outcome".to_string(),
        accepted: matches!(f.status, Status::Met),
        item: None,
        time: f.deadline,
        end_time: None,
        text: bounded(text!(loc, ("结果：{word}{key}{due}"), ("Outcome: {word}{key}{due}"))),
    }
}
