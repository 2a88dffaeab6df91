//! What `cdssd rules test` prints, in the reader's locale: the pass/fail table, each
//! failure's details (the finding's text and evidence, times in the hospital's zone), the
//! outcome-coverage table and the totals.
//!
//! The `ok` / `FAIL` marks and the status words (`met`, `not_met`…) stay as QC staff
//! write them in the test files (`expect = "met"`), in both locales: the table compares
//! what the file says with what the rule returned.
use std::fmt::Write as _;

use chrono_tz::Tz;

use super::api::time::display;
use super::runner::{CaseResult, Coverage};
use crate::locale::{char_width, display_width, pad, Locale};

/// The totals line: "9 passed, 0 failed, 9 cases" / "通过 9，失败 0，共 9 个用例".
pub fn totals(passed: usize, failed: usize, l: Locale) -> String {
    let total = passed + failed;
    match l {
        Locale::ZhCn => format!("通过 {passed}，失败 {failed}，共 {total} 个用例"),
        Locale::En => format!("{passed} passed, {failed} failed, {total} cases"),
    }
}

/// The pass/fail table, then the details of each failure, then the totals.
pub fn render(results: &[CaseResult], tz: Tz, l: Locale) -> String {
    let (h_rule, h_case, h_expected, h_got) = match l {
        Locale::ZhCn => ("规则", "用例", "预期", "实际"),
        Locale::En => ("RULE", "CASE", "EXPECTED", "GOT"),
    };
    // Columns are padded by terminal width (a CJK character takes two), case names cut
    // at 60 columns.
    let cut = |s: &str| -> String {
        let mut w = 0;
        s.chars()
            .take_while(|c| {
                w += char_width(*c);
                w <= 60
            })
            .collect()
    };
    let cases: Vec<String> = results.iter().map(|r| cut(&r.case)).collect();
    let w_rule = results.iter().map(|r| r.rule_id.len()).max().unwrap_or(4).max(display_width(h_rule));
    let w_case = cases.iter().map(|c| display_width(c)).max().unwrap_or(4).max(display_width(h_case));
    let mut out = String::new();
    let _ =
        writeln!(out, "{:<4}  {}  {}  {}  {h_got}", "", pad(h_rule, w_rule), pad(h_case, w_case), pad(h_expected, 14));
    for (r, case) in results.iter().zip(&cases) {
        let got = r.finding.as_ref().map_or("-", |f| f.status.as_str());
        let mark = if r.passed() { "ok" } else { "FAIL" };
        let (rule, case) = (pad(&r.rule_id, w_rule), pad(case, w_case));
        let _ = writeln!(out, "{mark:<4}  {rule}  {case}  {:<14}  {got}", r.expected.as_str());
    }
    let failed: Vec<&CaseResult> = results.iter().filter(|r| !r.passed()).collect();
    for r in &failed {
        let _ = writeln!(out, "\nFAIL {} — {} ({})", r.rule_id, r.case, r.location);
        let _ = writeln!(out, "  {}", r.failure.as_deref().unwrap_or_default());
        if let Some(f) = &r.finding {
            let _ = writeln!(out, "  {}: {} — {}", l.pick("结果", "finding"), f.status, f.message);
            if let Some(d) = f.deadline {
                let _ = writeln!(out, "  {}: {}", l.pick("截止时间", "deadline"), display(tz, d));
            }
            if !f.missing_data.is_empty() {
                let _ = writeln!(out, "  {}: {}", l.pick("缺失数据", "missing data"), f.missing_data.join(", "));
            }
            let evidence = l.pick("证据", "evidence");
            if f.evidence.is_empty() {
                let _ = writeln!(out, "  {evidence}: {}", l.pick("（无）", "(none)"));
            }
            for e in &f.evidence {
                let mut line = format!("  {evidence}: {}/{} {}", e.item_type, e.item_id, e.label);
                if !e.value.is_empty() {
                    let _ = write!(line, " = {}", e.value);
                }
                if let Some(t) = e.time {
                    let _ = write!(line, " {} {}", l.pick("于", "at"), display(tz, t));
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ = writeln!(out, "\n{}", totals(results.len() - failed.len(), failed.len(), l));
    out
}

/// The coverage table: one line per rule, unreached outcomes named.
pub fn render_coverage(cov: &[Coverage], l: Locale) -> String {
    let mut out = format!(
        "\n{}\n",
        l.pick(
            "结果覆盖率（规则声明的结果中被其测试用例覆盖的）：",
            "Outcome coverage (declared outcomes reached by the rule's cases):"
        )
    );
    let w = cov.iter().map(|c| c.rule_id.len()).max().unwrap_or(4);
    for c in cov {
        if c.declared.is_empty() {
            let why = l.pick(
                "未声明结果（自由文本消息；请在 meta().outcomes 中声明）",
                "no declared outcomes (free-text messages; declare meta().outcomes)",
            );
            let _ = writeln!(out, "--    {:<w$}  {why}", c.rule_id);
            continue;
        }
        let n = c.declared.len() - c.unreached().len();
        let pct = 100 * n / c.declared.len();
        let mark = if c.complete() { "ok" } else { "FAIL" };
        let _ = write!(out, "{mark:<4}  {:<w$}  {n}/{} ({pct} %)", c.rule_id, c.declared.len());
        if !c.complete() {
            let _ = write!(out, "  {}: {}", l.pick("未覆盖", "unreached"), c.unreached().join(", "));
        }
        out.push('\n');
    }
    let full = cov.iter().filter(|c| !c.declared.is_empty() && c.complete()).count();
    let keyed = cov.iter().filter(|c| !c.declared.is_empty()).count();
    let free = cov.len() - keyed;
    let _ = writeln!(
        out,
        "{}",
        match l {
            Locale::ZhCn => format!("声明了结果的 {keyed} 条规则中 {full} 条覆盖率 100 %；未声明结果的规则 {free} 条"),
            Locale::En => format!(
                "{full} of {keyed} rules with declared outcomes at 100 %; {free} rule(s) without declared outcomes"
            ),
        }
    );
    out
}
