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
    pub missing_data: &'static str,
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
    pub measure_set: &'static str,
    pub item: &'static str,
    pub continuous: &'static str,
    pub median: &'static str,
    pub iqr: &'static str,
    pub door_to_needle: &'static str,
    pub door_to_device: &'static str,
    pub conditions: &'static str,
    pub condition: &'static str,
    pub died: &'static str,
    pub mortality: &'static str,
    pub antimicrobial_treated: &'static str,
    pub mean_antimicrobial_days: &'static str,
    pub unresolved: &'static str,
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
                missing_data: "Missing data",
                error: "Rule error",
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
                measure_set: "Measure set",
                item: "Item",
                continuous: "Continuous measures (minutes; rule denominator, latest evaluation at or after discharge)",
                median: "Median",
                iqr: "IQR (Q1–Q3)",
                door_to_needle: "Door-to-needle time",
                door_to_device: "Door-to-device time",
                conditions: "Outcomes by condition",
                condition: "Condition",
                died: "In-hospital deaths",
                mortality: "In-hospital mortality",
                antimicrobial_treated: "Encounters with antimicrobials",
                mean_antimicrobial_days: "Mean antimicrobial days",
                unresolved: "item not found",
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
                missing_data: "资料缺失",
                error: "规则出错",
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
                measure_set: "指标集",
                item: "条目",
                continuous: "连续型指标（分钟；规则分母，出院时或出院后最后一次评估）",
                median: "中位数",
                iqr: "四分位距（Q1–Q3）",
                door_to_needle: "门-针时间",
                door_to_device: "门-球时间",
                conditions: "按病种的结局",
                condition: "病种",
                died: "住院死亡",
                mortality: "住院死亡率",
                antimicrobial_treated: "使用抗菌药物病例",
                mean_antimicrobial_days: "平均抗菌药物使用天数",
                unresolved: "未找到条目",
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

/// The name of a continuous figure in `lang`.
pub fn figure_name(figure: &str, lang: Lang) -> &'static str {
    let l = lang.labels();
    match figure {
        "door_to_needle" => l.door_to_needle,
        "door_to_device" => l.door_to_device,
        _ => "?",
    }
}

/// "45.0" or "—".
pub fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.1}"))
}

/// "[37.5, 60.0]" or "—".
pub fn iqr(c: &super::figures::Continuous) -> String {
    match (c.q1, c.q3) {
        (Some(a), Some(b)) => format!("[{a:.1}, {b:.1}]"),
        _ => "—".into(),
    }
}

/// "[0.9%, 79.2%]" or "—".
pub fn ci_of(w: Option<(f64, f64)>) -> String {
    w.map_or_else(|| "—".into(), |(lo, hi)| format!("[{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0))
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
        "\n{:<16} {:<36} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
        l.item,
        l.measure,
        l.denominator,
        l.met,
        l.not_met,
        l.excluded,
        l.pending,
        l.missing_data,
        l.error,
        l.rate,
        l.ci
    );
    let mut set = None;
    for m in &r.measures {
        if set != Some(&m.measure_set) {
            let _ = writeln!(out, "[{}: {}]", l.measure_set, m.measure_set);
            set = Some(&m.measure_set);
        }
        let c = &m.counts;
        let _ = writeln!(
            out,
            "{:<16} {:<36} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
            m.measure_id,
            m.rule_id,
            c.denominator,
            c.met,
            c.not_met,
            c.excluded,
            c.pending,
            c.missing_data,
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
    figures_table(&mut out, r, lang);
    if !r.overrides.is_empty() {
        let _ = writeln!(out, "\n{}", l.overrides);
        for o in &r.overrides {
            let flag = if o.flagged { format!("  {}", l.flagged) } else { String::new() };
            let _ = writeln!(out, "  {}{flag}", override_text(o));
        }
    }
    out
}

fn figures_table(out: &mut String, r: &Report, lang: Lang) {
    let (l, f) = (lang.labels(), &r.figures);
    if !f.continuous.is_empty() {
        let _ = writeln!(out, "\n{}", l.continuous);
        for c in &f.continuous {
            let _ = writeln!(
                out,
                "  {} ({} {} {}): n={}  {} {}  {} {}{}",
                figure_name(&c.figure, lang),
                c.measure_set,
                c.measure_id,
                c.rule_id,
                c.n,
                l.median,
                num(c.median),
                l.iqr,
                iqr(c),
                if c.unresolved > 0 { format!("  ({} {})", l.unresolved, c.unresolved) } else { String::new() }
            );
        }
    }
    if !f.conditions.is_empty() {
        let _ = writeln!(out, "\n{}", l.conditions);
        for c in &f.conditions {
            let _ = writeln!(
                out,
                "  {}: n={}  {} {}  {} {} {}  {} {}  {} {}",
                c.pack,
                c.encounters,
                l.died,
                c.died,
                l.mortality,
                pct(c.mortality()),
                ci_of(c.mortality_ci()),
                l.antimicrobial_treated,
                c.antimicrobial_treated,
                l.mean_antimicrobial_days,
                num(c.mean_antimicrobial_days())
            );
        }
    }
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
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.4}"));
    for c in &r.figures.continuous {
        let _ = writeln!(
            out,
            "# continuous,{},{},{},{},{},{},{},{},{}",
            c.figure,
            csv_field(&c.rule_id),
            csv_field(&c.measure_set),
            csv_field(&c.measure_id),
            c.n,
            opt(c.median),
            opt(c.q1),
            opt(c.q3),
            c.unresolved
        );
    }
    for c in &r.figures.conditions {
        let (lo, hi) = c.mortality_ci().map_or((None, None), |(a, b)| (Some(a), Some(b)));
        let _ = writeln!(
            out,
            "# condition,{},{},{},{},{},{},{},{},{}",
            csv_field(&c.pack),
            c.encounters,
            c.died,
            opt(c.mortality()),
            opt(lo),
            opt(hi),
            c.antimicrobial_treated,
            c.antimicrobial_days,
            opt(c.mean_antimicrobial_days())
        );
    }
    out.push_str(
        "measure_set,measure_id,rule_id,pack,measure,month,denominator,met,not_met,excluded,pending,missing_data,error,rate,ci_low,ci_high,excluded_by_reason,not_met_encounters\n",
    );
    for m in &r.measures {
        let mut row = |month: &str, c: &Counts, not_met: &str| {
            let (lo, hi) =
                c.wilson().map_or((String::new(), String::new()), |(a, b)| (format!("{a:.4}"), format!("{b:.4}")));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{month},{},{},{},{},{},{},{},{},{lo},{hi},{},{}",
                csv_field(&m.measure_set),
                csv_field(&m.measure_id),
                csv_field(&m.rule_id),
                csv_field(&m.pack),
                csv_field(&m.measure),
                c.denominator,
                c.met,
                c.not_met,
                c.excluded,
                c.pending,
                c.missing_data,
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
    if let Some(conditions) = v["figures"]["conditions"].as_array_mut() {
        for (c, row) in conditions.iter_mut().zip(&r.figures.conditions) {
            c["mortality"] = serde_json::json!(row.mortality());
            c["mortality_ci95"] = serde_json::json!(row.mortality_ci().map(|(a, b)| [a, b]));
            c["mean_antimicrobial_days"] = serde_json::json!(row.mean_antimicrobial_days());
        }
    }
    serde_json::to_string_pretty(&v).expect("plain data")
}
