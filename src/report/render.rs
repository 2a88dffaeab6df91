//! Text renderings of a report: a table (zh-CN or en), CSV and JSON. Every
//! format carries the same figures; CSV has one row per measure and month
//! (`month` = `all` for the period).

use std::fmt::Write;

use super::{Counts, Report};

/// Language of the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

/// The labels a person reads, in both languages.
pub struct Labels {
    pub title: &'static str,
    pub period: &'static str,
    pub department: &'static str,
    pub all_departments: &'static str,
    pub encounters: &'static str,
    pub measure: &'static str,
    pub denominator: &'static str,
    pub met: &'static str,
    pub not_met: &'static str,
    pub excluded: &'static str,
    pub pending: &'static str,
    pub error: &'static str,
    pub rate: &'static str,
    pub ci: &'static str,
    pub coverage: &'static str,
    pub coverage_line: &'static str,
    pub not_met_list: &'static str,
    pub run_chart: &'static str,
    pub month: &'static str,
    pub by_reason: &'static str,
    pub no_list: &'static str,
    pub overrides: &'static str,
    pub flagged: &'static str,
}

impl Lang {
    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::En => &Labels {
                title: "Single-disease QC report",
                period: "Discharged",
                department: "Department",
                all_departments: "all",
                encounters: "Encounters evaluated after discharge",
                measure: "Measure",
                denominator: "Denominator",
                met: "Met",
                not_met: "Not met",
                excluded: "Excluded",
                pending: "Pending at discharge",
                error: "Error",
                rate: "Rate",
                ci: "95% CI (Wilson)",
                coverage: "Coverage",
                coverage_line: "discharges on the list evaluated after discharge",
                not_met_list: "Not-met encounters for review",
                run_chart: "Rate by discharge month",
                month: "Month",
                by_reason: "by reason",
                no_list: "no discharge list given: coverage unknown",
                overrides: "Clinician overrides (rule, version, department: overridden/feedback)",
                flagged: "FLAGGED: override ratio above threshold",
            },
            Lang::ZhCn => &Labels {
                title: "单病种质控报表",
                period: "出院时间",
                department: "科室",
                all_departments: "全部",
                encounters: "出院后已评估病例数",
                measure: "指标",
                denominator: "分母",
                met: "达标",
                not_met: "未达标",
                excluded: "排除",
                pending: "出院时待定",
                error: "错误",
                rate: "达标率",
                ci: "95% 置信区间（Wilson）",
                coverage: "覆盖率",
                coverage_line: "出院名单中出院后已评估的病例",
                not_met_list: "待复核的未达标病例",
                run_chart: "按出院月份的达标率",
                month: "月份",
                by_reason: "按原因",
                no_list: "未提供出院名单：覆盖率未知",
                overrides: "临床医生否决情况（规则、版本、科室：否决数/反馈数）",
                flagged: "已标记：否决率超过阈值",
            },
        }
    }
}

/// "85.0%" or "—".
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0))
}

/// "[49.0%, 94.3%]" or "—".
pub fn ci(c: &Counts) -> String {
    c.wilson().map_or_else(|| "—".into(), |(lo, hi)| format!("[{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0))
}

fn reasons(c: &Counts) -> String {
    c.excluded_by_reason.iter().map(|(r, n)| format!("{r}: {n}")).collect::<Vec<_>>().join("; ")
}

/// "rule version department: overridden/feedback (ratio)".
pub fn override_text(o: &super::OverrideRow) -> String {
    format!(
        "{} {} {}: {}/{} ({})",
        o.source_id,
        o.source_version,
        o.department,
        o.overridden,
        o.accepted + o.overridden,
        pct(Some(o.ratio))
    )
}

/// The coverage line in `lang`.
pub fn coverage_line(r: &Report, lang: Lang) -> String {
    let l = lang.labels();
    match &r.coverage {
        None => format!("{}: {}", l.coverage, l.no_list),
        Some(c) => {
            let share = if c.discharges == 0 { None } else { Some(c.evaluated as f64 / c.discharges as f64) };
            format!("{}: {}/{} {} ({})", l.coverage, c.evaluated, c.discharges, l.coverage_line, pct(share))
        }
    }
}

/// The table for a terminal.
pub fn table(r: &Report, lang: Lang) -> String {
    let l = lang.labels();
    let mut out = String::new();
    let _ = writeln!(out, "{} — {} {} .. {}", l.title, l.period, r.from, r.to);
    let _ = writeln!(out, "{}: {}", l.department, r.department.as_deref().unwrap_or(l.all_departments));
    let _ = writeln!(out, "{}: {}", l.encounters, r.encounters);
    let _ = writeln!(out, "{}", coverage_line(r, lang));
    let _ = writeln!(
        out,
        "\n{:<36} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
        l.measure, l.denominator, l.met, l.not_met, l.excluded, l.pending, l.error, l.rate, l.ci
    );
    for m in &r.measures {
        let c = &m.counts;
        let _ = writeln!(
            out,
            "{:<36} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
            m.rule_id,
            c.denominator,
            c.met,
            c.not_met,
            c.excluded,
            c.pending,
            c.error,
            pct(c.rate()),
            ci(c)
        );
        if c.excluded > 0 {
            let _ = writeln!(out, "    {} {}: {}", l.excluded, l.by_reason, reasons(c));
        }
        if m.months.len() > 1 {
            let months: Vec<String> = m.months.iter().map(|(k, v)| format!("{k} {}", pct(v.rate()))).collect();
            let _ = writeln!(out, "    {}: {}", l.run_chart, months.join(", "));
        }
        if !m.not_met.is_empty() {
            let _ = writeln!(out, "    {}: {}", l.not_met_list, m.not_met.join(", "));
        }
    }
    if !r.overrides.is_empty() {
        let _ = writeln!(out, "\n{}", l.overrides);
        for o in &r.overrides {
            let flag = if o.flagged { format!("  {}", l.flagged) } else { String::new() };
            let _ = writeln!(out, "  {}{flag}", override_text(o));
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV: one row per measure and month (`all` = the period); the coverage as a `#` comment line first.
pub fn csv(r: &Report) -> String {
    let mut out = String::new();
    if let Some(c) = &r.coverage {
        let _ = writeln!(out, "# coverage,{},{},{}", c.evaluated, c.discharges, c.not_on_list);
    }
    for o in &r.overrides {
        let _ = writeln!(
            out,
            "# override,{},{},{},{},{},{:.4},{}",
            csv_field(&o.source_id),
            csv_field(&o.source_version),
            csv_field(&o.department),
            o.accepted,
            o.overridden,
            o.ratio,
            o.flagged
        );
    }
    out.push_str(
        "rule_id,pack,measure,month,denominator,met,not_met,excluded,pending,error,rate,ci_low,ci_high,excluded_by_reason,not_met_encounters\n",
    );
    for m in &r.measures {
        let mut row = |month: &str, c: &Counts, not_met: &str| {
            let (lo, hi) =
                c.wilson().map_or((String::new(), String::new()), |(a, b)| (format!("{a:.4}"), format!("{b:.4}")));
            let _ = writeln!(
                out,
                "{},{},{},{month},{},{},{},{},{},{},{},{lo},{hi},{},{}",
                csv_field(&m.rule_id),
                csv_field(&m.pack),
                csv_field(&m.measure),
                c.denominator,
                c.met,
                c.not_met,
                c.excluded,
                c.pending,
                c.error,
                c.rate().map_or(String::new(), |v| format!("{v:.4}")),
                csv_field(&reasons(c)),
                csv_field(not_met)
            );
        };
        row("all", &m.counts, &m.not_met.join(" "));
        for (month, c) in &m.months {
            row(month, c, "");
        }
    }
    out
}

/// JSON: the report as is, with rate and interval per measure and month.
pub fn json(r: &Report) -> String {
    let measures: Vec<serde_json::Value> = r
        .measures
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).expect("plain data");
            v["rate"] = serde_json::json!(m.counts.rate());
            v["ci95"] = serde_json::json!(m.counts.wilson().map(|(a, b)| [a, b]));
            v
        })
        .collect();
    let mut v = serde_json::to_value(r).expect("plain data");
    v["measures"] = serde_json::Value::Array(measures);
    serde_json::to_string_pretty(&v).expect("plain data")
}
