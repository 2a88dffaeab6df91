//! A readable terminal rendering of a decision (`cdssd evaluate` on a terminal): in the
//! decision's locale, findings grouped by pack with met / not met / pending counts,
//! times in the hospital zone, no proto enum names; colour only when asked for (a TTY
//! without `NO_COLOR`, see [`use_colour`]).
use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::IsTerminal;

use chrono_tz::Tz;

use crate::decision::text;
use crate::locale::Locale;
use crate::proto::v1 as pb;

/// Colour on standard output: only on a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>).
pub fn use_colour() -> bool {
    colour_wanted(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR"))
}

fn colour_wanted(is_tty: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_tty && no_color.is_none_or(|v| v.is_empty())
}

/// ANSI styles, or nothing.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn status(self, s: pb::FindingStatus, word: &str) -> String {
        let code = match s {
            pb::FindingStatus::NotMet => "1;31",
            pb::FindingStatus::Pending => "33",
            pb::FindingStatus::Error | pb::FindingStatus::MissingData => "35",
            pb::FindingStatus::Met => "32",
            _ => "2",
        };
        self.wrap(code, word)
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn indicator(self, i: pb::Indicator, word: &str) -> String {
        let code = match i {
            pb::Indicator::Critical => "1;31",
            pb::Indicator::Warning => "33",
            _ => "36",
        };
        self.wrap(code, word)
    }
}

/// Order of statuses within a pack: what needs attention first.
fn rank(s: pb::FindingStatus) -> u8 {
    match s {
        pb::FindingStatus::NotMet => 0,
        pb::FindingStatus::Pending => 1,
        pb::FindingStatus::MissingData => 2,
        pb::FindingStatus::Error => 3,
        pb::FindingStatus::Met => 4,
        pb::FindingStatus::Excluded => 5,
        pb::FindingStatus::NotApplicable => 6,
        pb::FindingStatus::Unspecified => 7,
    }
}

/// The counts line of a group of findings: "达标 3 · 未达标 1 · 待完成 0" (+ the others present).
fn counts(findings: &[&pb::Finding], l: Locale) -> String {
    let n = |s: pb::FindingStatus| findings.iter().filter(|f| f.status() == s).count();
    let mut parts: Vec<String> = [pb::FindingStatus::Met, pb::FindingStatus::NotMet, pb::FindingStatus::Pending]
        .into_iter()
        .map(|s| format!("{} {}", text::finding_status(s, l), n(s)))
        .collect();
    for s in [
        pb::FindingStatus::Excluded,
        pb::FindingStatus::NotApplicable,
        pb::FindingStatus::MissingData,
        pb::FindingStatus::Error,
    ] {
        if n(s) > 0 {
            parts.push(format!("{} {}", text::finding_status(s, l), n(s)));
        }
    }
    parts.join(" · ")
}

/// Render the decision for a terminal; `tz`: the hospital zone for times, `colour`: ANSI styles,
/// `trail`: each finding's reasoning trail under it (`--trail`).
pub fn render(d: &pb::Decision, tz: Tz, colour: bool, trail: bool) -> String {
    let l = Locale::parse(&d.locale).unwrap_or_default();
    let p = Paint(colour);
    let mut o = String::new();
    let v = d.versions.clone().unwrap_or_default();
    let when = d.evaluation_time.as_ref().and_then(|t| text::local_timestamp(t, tz)).unwrap_or_default();
    let _ = writeln!(
        o,
        "{}",
        p.bold(&match l {
            Locale::ZhCn => format!("就诊 {} 的决策（请求 {}）", d.encounter_id, d.request_id),
            Locale::En => format!("Decision for encounter {} (request {})", d.encounter_id, d.request_id),
        })
    );
    let _ = writeln!(
        o,
        "cdssd {} · {} {} · {}{} · {}{}",
        v.cdssd,
        l.pick("规则集", "rule set"),
        v.rule_set,
        text::label(l, "触发", "trigger"),
        text::trigger(d.trigger(), l),
        text::label(l, "评估时间", "evaluated at"),
        when
    );

    let all: Vec<&pb::Finding> = d.findings.iter().collect();
    let _ = writeln!(
        o,
        "\n{}",
        p.bold(&format!(
            "{}（{}）",
            l.pick("质控指标", "Quality-control findings"),
            match l {
                Locale::ZhCn => format!("{} 项：{}", all.len(), counts(&all, l)),
                Locale::En => format!("{}: {}", all.len(), counts(&all, l)),
            }
        ))
    );
    let mut packs: BTreeMap<&str, Vec<&pb::Finding>> = BTreeMap::new();
    for f in &d.findings {
        packs.entry(f.pack.as_str()).or_default().push(f);
    }
    for (pack, mut fs) in packs {
        fs.sort_by_key(|f| (rank(f.status()), f.rule_id.clone()));
        let _ = writeln!(o, "\n  {} {} — {}", l.pick("规则包", "pack"), p.bold(pack), counts(&fs, l));
        for f in fs {
            let word = text::finding_status(f.status(), l);
            let _ = writeln!(
                o,
                "    [{}] {} — {}  ({} v{}; {})",
                p.status(f.status(), word),
                f.title,
                f.message,
                f.rule_id,
                f.rule_version,
                f.measure
            );
            let pad = "          ";
            if let Some(t) = f.deadline.as_ref().and_then(|t| text::local_timestamp(t, tz)) {
                let _ = writeln!(o, "{pad}{}{t}", text::label(l, "截止时间", "deadline"));
            }
            if !f.exclusion_reason.is_empty() && f.exclusion_reason != f.message {
                let _ = writeln!(o, "{pad}{}{}", text::label(l, "排除原因", "excluded"), f.exclusion_reason);
            }
            if !f.missing_data.is_empty() {
                let _ = writeln!(o, "{pad}{}{}", text::label(l, "缺少数据", "missing data"), f.missing_data.join(", "));
            }
            for e in &f.evidence {
                let mut line = format!("{pad}· {}/{} {}", e.item_type, e.item_id, e.label);
                if !e.value.is_empty() {
                    let _ = write!(line, " = {}", e.value);
                }
                if let Some(t) = e.time.as_ref().and_then(|t| text::local_timestamp(t, tz)) {
                    let _ = write!(line, " @ {t}");
                }
                let _ = writeln!(o, "{line}");
            }
            if trail {
                for (i, t) in f.trail.iter().enumerate() {
                    let _ = writeln!(o, "{pad}{:>2}. {}", i + 1, t.text);
                }
                if f.trail_truncated {
                    let _ = writeln!(o, "{pad}    {}", l.pick("（推理过程已截断）", "(trail cut at its limit)"));
                }
            }
        }
    }

    let _ = writeln!(o, "\n{}", p.bold(&format!("{}（{}）", l.pick("风险评分", "Risk scores"), d.risks.len())));
    for r in &d.risks {
        let status = text::risk_status(r.status(), l);
        if r.status() == pb::RiskStatus::Ok {
            let (open, close) = (l.pick("（", " ("), l.pick("）", ")"));
            let _ = writeln!(
                o,
                "  {} v{} [{}]: {:.1} % {} — {}{open}{}{close}",
                r.model_id,
                r.model_version,
                r.device,
                r.probability * 100.0,
                text::risk_band(r.band(), l),
                r.outcome,
                r.horizon
            );
        } else {
            let _ = writeln!(o, "  {} v{}: {status} — {}", r.model_id, r.model_version, r.outcome);
        }
        for c in r.contributions.iter().take(3) {
            let name = if c.label.is_empty() { &c.feature } else { &c.label };
            let _ = writeln!(o, "          {name} {:+.1} {}", c.delta * 100.0, l.pick("个百分点", "points"));
        }
        if !r.message.is_empty() {
            let _ = writeln!(o, "          {}", r.message);
        }
    }
    if let Some(s) = &d.suggestion {
        let status = text::suggestion_status(s.status(), l);
        let _ = write!(o, "\n{}{status}", text::label(l, "语言模型草稿", "LLM draft"));
        // The status message is the LLM client's own (English) detail.
        if l == Locale::En && !s.message.is_empty() {
            let _ = write!(o, " ({})", s.message);
        }
        o.push('\n');
        if s.status() == pb::SuggestionStatus::Ok {
            let _ = writeln!(
                o,
                "  {}（{}, {} v{}）",
                l.pick("草稿——供医生审核", "DRAFT — for clinician review"),
                s.model,
                l.pick("模板", "template"),
                s.template_version
            );
            let _ = writeln!(o, "  {}", s.summary);
            for dd in &s.differentials {
                let _ =
                    writeln!(o, "  - {} ({}) {} [{}]", dd.condition, dd.icd10, dd.likelihood, dd.citations.join(", "));
            }
            for fl in &s.flags {
                let _ = writeln!(o, "  ! {fl}");
            }
        }
        if !s.passages.is_empty() {
            let _ = writeln!(o, "  {}", l.pick("检索到的指南段落：", "Guideline passages retrieved:"));
        }
        for p in &s.passages {
            let mark = if p.cited { l.pick("已引用", "cited") } else { l.pick("未引用", "not cited") };
            let _ =
                writeln!(o, "    [{}] {} — {}, {} ({mark}; {})", p.id, p.title, p.source, p.section, p.review_status);
        }
    }
    let _ = writeln!(o, "\n{}", p.bold(&format!("{}（{}）", l.pick("提示卡片", "Cards"), d.cards.len())));
    for c in &d.cards {
        let _ = writeln!(o, "  [{}] {}", p.indicator(c.indicator(), text::indicator(c.indicator(), l)), c.summary);
    }
    if let Some(t) = &d.timings {
        let _ = writeln!(
            o,
            "\n{}",
            match l {
                Locale::ZhCn => format!(
                    "耗时：共 {} µs（校验 {}，规则 {}，风险 {}，语言模型 {}）",
                    t.total_us, t.validation_us, t.rules_us, t.risk_us, t.llm_us
                ),
                Locale::En => format!(
                    "Timings: total {} µs (validation {}, rules {}, risk {}, llm {})",
                    t.total_us, t.validation_us, t.rules_us, t.risk_us, t.llm_us
                ),
            }
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(pack: &str, id: &str, status: pb::FindingStatus) -> pb::Finding {
        pb::Finding {
            rule_id: id.into(),
            pack: pack.into(),
            rule_version: "1.0.0".into(),
            title: "标题".into(),
            message: "消息".into(),
            measure: "NHC".into(),
            status: status as i32,
            ..Default::default()
        }
    }

    fn decision(locale: &str) -> pb::Decision {
        pb::Decision {
            encounter_id: "enc-1".into(),
            request_id: "r".into(),
            trigger: pb::Trigger::Discharge as i32,
            evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_772_462_400, nanos: 0 }), // 2026-03-02T14:40Z
            locale: locale.into(),
            findings: vec![
                finding("stemi", "stemi.a", pb::FindingStatus::Met),
                finding("stemi", "stemi.b", pb::FindingStatus::NotMet),
                pb::Finding {
                    deadline: Some(pbjson_types::Timestamp { seconds: 1_772_466_000, nanos: 0 }),
                    ..finding("stemi", "stemi.c", pb::FindingStatus::Pending)
                },
                finding("vte", "vte.a", pb::FindingStatus::Met),
            ],
            risks: vec![pb::RiskScore {
                model_id: "m".into(),
                status: pb::RiskStatus::Ok as i32,
                band: pb::RiskBand::Low as i32,
                probability: 0.05,
                ..Default::default()
            }],
            suggestion: Some(pb::DraftSuggestion {
                status: pb::SuggestionStatus::Disabled as i32,
                message: "LLM not requested".into(),
                ..Default::default()
            }),
            cards: vec![pb::Card {
                indicator: pb::Indicator::Warning as i32,
                summary: "x".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn no_enum_names_findings_grouped_by_pack_with_counts_and_local_times() {
        let tz = chrono_tz::Asia::Shanghai;
        let zh = render(&decision("zh-CN"), tz, false, false);
        for enum_name in ["RISK_BAND", "RISK_STATUS", "TRIGGER_", "INDICATOR_", "SUGGESTION_STATUS", "FINDING_STATUS"] {
            assert!(!zh.contains(enum_name), "{enum_name} in\n{zh}");
        }
        assert!(zh.contains("低风险") && zh.contains("触发：出院"), "{zh}");
        assert!(zh.contains("规则包 stemi — 达标 1 · 未达标 1 · 待完成 1"), "{zh}");
        assert!(zh.contains("规则包 vte — 达标 1 · 未达标 0 · 待完成 0"), "{zh}");
        // Not met first within the pack.
        assert!(zh.find("[未达标]").unwrap() < zh.find("[达标]").unwrap(), "{zh}");
        assert!(zh.contains("2026-03-02 22:40 (+08:00)") && zh.contains("截止时间：2026-03-02 23:40 (+08:00)"), "{zh}");
        assert!(!zh.contains("LLM not requested") && zh.contains("未启用"), "{zh}");
        assert!(!zh.contains('\x1b'), "no colour when not asked");
        let en = render(&decision("en"), tz, false, false);
        assert!(en.contains("pack stemi — met 1 · not met 1 · pending 1") && en.contains("low risk"), "{en}");
        assert!(!crate::locale::has_chinese(&en.replace("标题", "").replace("消息", "")), "{en}");
        let coloured = render(&decision("en"), tz, true, false);
        assert!(coloured.contains("\x1b[1;31mnot met\x1b[0m"), "{coloured}");
    }

    #[test]
    fn the_trail_is_listed_only_when_asked() {
        let tz = chrono_tz::Asia::Shanghai;
        let mut d = decision("en");
        d.findings[0].trail = vec![pb::TrailStep {
            kind: "time_zero".into(),
            text: "Time zero: hospital arrival, 03-02 22:30".into(),
            ..Default::default()
        }];
        d.findings[0].trail_truncated = true;
        let with = render(&d, tz, false, true);
        assert!(
            with.contains(" 1. Time zero: hospital arrival, 03-02 22:30") && with.contains("(trail cut at its limit)"),
            "{with}"
        );
        let without = render(&d, tz, false, false);
        assert!(!without.contains("Time zero"), "{without}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(!colour_wanted(false, None), "piped: no colour");
    }
}
