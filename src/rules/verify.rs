//! The verdict of a rule set's own test cases (`rules/<pack>/tests/*.toml`), computed at
//! every load by the probe (the same comparison as `cdssd rules test`) and kept with the
//! set: per pack how many cases there are, how many passed, which failed and why. A case
//! whose base encounter cannot be found has not run: it is counted apart and its pack is
//! never verified. [`super::store::RuleStore`] rejects a set whose cases do not all pass
//! when `rules.require_passing_tests` is on.
use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Diagnostic, Text};
pub use crate::metrics::UnverifiedReason;

/// One case that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    pub rule_id: String,
    pub case: String,
    /// Test file, relative to the rules directory.
    pub path: String,
    /// Line of the case's `[[case]]`.
    pub line: u32,
    /// Why it failed ("expected met, got not_met", "base encounter … not found …").
    pub why: String,
    /// The same in Chinese, when there is a Chinese text.
    pub why_zh: Option<String>,
    /// The case did not run: its base encounter was not found.
    pub not_found: bool,
}

impl CaseFailure {
    /// `path:line` of the case.
    pub fn location(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }

    /// As a load error at the case: what a rejected reload reports.
    pub fn to_load_error(&self) -> Diagnostic {
        let (case, rule, why) = (&self.case, &self.rule_id, &self.why);
        let why_zh = self.why_zh.as_deref().unwrap_or(why);
        Diagnostic::new(
            &self.path,
            self.line,
            1,
            Text::both(
                format!("规则 {rule} 的测试用例 '{case}' 未通过：{why_zh}"),
                format!("test case '{case}' of {rule} failed: {why}"),
            ),
        )
    }
}

/// The cases of one pack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackCases {
    pub total: u32,
    pub passed: u32,
    /// Cases that did not run because their base encounter was not found.
    pub not_found: u32,
    pub failures: Vec<CaseFailure>,
}

impl PackCases {
    /// The failing cases as load errors, each at its case; cases that could not run for
    /// the same reason (one base encounter not found) are one error at the first of them.
    pub fn load_errors(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut not_found: Vec<(&CaseFailure, usize)> = Vec::new();
        for f in &self.failures {
            if !f.not_found {
                out.push(f.to_load_error());
            } else if let Some(seen) = not_found.iter_mut().find(|(g, _)| g.why == f.why) {
                seen.1 += 1;
            } else {
                not_found.push((f, 1));
            }
        }
        for (f, n) in not_found {
            let (at, why) = (f.location(), &f.why);
            let msg = Text::both(
                format!("{n} 个测试用例无法运行（第一个在 {at}）：{}", f.why_zh.as_deref().unwrap_or(why)),
                format!("{n} test cases cannot run (first at {at}): {why}"),
            );
            out.push(Diagnostic::new(&f.path, f.line, 1, msg));
        }
        out
    }

    /// Every case ran and passed, and there is at least one.
    pub fn verified(&self) -> bool {
        self.total > 0 && self.passed == self.total && self.not_found == 0
    }

    /// Why the pack is not verified (`None` when it is): cases not found wins over
    /// failing cases, which wins over having none.
    pub fn unverified(&self) -> Option<UnverifiedReason> {
        if self.verified() {
            None
        } else if self.not_found > 0 {
            Some(UnverifiedReason::CasesNotFound)
        } else if self.total == 0 {
            Some(UnverifiedReason::NoTestCases)
        } else {
            Some(UnverifiedReason::CasesFailing)
        }
    }
}

/// The cases of every pack of a set (packs without cases included, with zero counts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    pub packs: BTreeMap<String, PackCases>,
    /// Per rule id, the declared outcomes (`status:key`) its cases reached — as `rules
    /// test` counts them: the outcome the request would get, else (when the pack's gate
    /// answered) the one the script returns past the gate.
    pub reached: BTreeMap<String, BTreeSet<String>>,
}

impl Verification {
    /// The counts of one pack (zero when it has no cases).
    pub fn pack(&self, id: &str) -> PackCases {
        self.packs.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn pack_mut(&mut self, id: &str) -> &mut PackCases {
        self.packs.entry(id.to_string()).or_default()
    }

    pub fn total(&self) -> u32 {
        self.packs.values().map(|p| p.total).sum()
    }

    pub fn passed(&self) -> u32 {
        self.packs.values().map(|p| p.passed).sum()
    }

    pub fn not_found(&self) -> u32 {
        self.packs.values().map(|p| p.not_found).sum()
    }

    /// Every failing case, pack by pack, in file order.
    pub fn failures(&self) -> impl Iterator<Item = &CaseFailure> {
        self.packs.values().flat_map(|p| p.failures.iter())
    }

    /// Every case of every pack ran and passed (a set without cases passes vacuously;
    /// its packs are still not verified).
    pub fn all_passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The packs that are not verified, with why, in pack order.
    pub fn unverified(&self) -> Vec<(&str, UnverifiedReason)> {
        self.packs.iter().filter_map(|(id, p)| p.unverified().map(|r| (id.as_str(), r))).collect()
    }

    /// Every pack verified.
    pub fn verified(&self) -> bool {
        !self.packs.is_empty() && self.packs.values().all(PackCases::verified)
    }

    /// Declared outcomes of `rule` that none of its cases reached (`status:key`, in
    /// declaration order); empty for a rule without declared outcomes.
    pub fn unreached(&self, rule: &super::meta::RuleMeta) -> Vec<String> {
        let reached = self.reached.get(&rule.id);
        rule.outcomes.iter().map(|o| o.label()).filter(|l| reached.is_none_or(|r| !r.contains(l))).collect()
    }

    /// The failing cases as load errors (`path:line:1: test case '…' of … failed: why`),
    /// pack by pack (see [`PackCases::load_errors`]).
    pub fn load_errors(&self) -> Vec<Diagnostic> {
        self.packs.values().flat_map(PackCases::load_errors).collect()
    }
}

/// One line per pack: `verified (26/26 test cases passed)`, or why not, in `locale`.
pub fn render(v: &Verification, locale: crate::locale::Locale) -> String {
    let w = v.packs.keys().map(String::len).max().unwrap_or(4);
    let mut out = String::new();
    for (id, p) in &v.packs {
        out.push_str(&format!("{id:<w$}  {}\n", pack_line(p, locale)));
    }
    out
}

/// `verified (26/26 test cases passed)` or `NOT VERIFIED (…)` for one pack, in `locale`
/// (zh-CN: `已验证（26/26 个用例通过）` / `未验证（…）`).
pub fn pack_line(p: &PackCases, locale: crate::locale::Locale) -> String {
    let (passed, total) = (p.passed, p.total);
    if p.verified() {
        return locale
            .pick(
                &format!("已验证（{passed}/{total} 个用例通过）"),
                &format!("verified ({passed}/{total} test cases passed)"),
            )
            .to_string();
    }
    let mut why = Vec::new();
    if p.total == 0 {
        why.push(locale.pick("没有测试用例", "no test cases").to_string());
    }
    let failed = p.total - p.passed - p.not_found;
    if failed > 0 {
        why.push(locale.pick(&format!("{failed} 个失败"), &format!("{failed} failed")).to_string());
    }
    if p.not_found > 0 {
        let n = p.not_found;
        why.push(
            locale
                .pick(
                    &format!("{n} 个未运行：找不到基础病例（请设置 rules.examples_dir）"),
                    &format!("{n} not run: base encounter not found (set rules.examples_dir)"),
                )
                .to_string(),
        );
    }
    locale
        .pick(
            &format!("未验证（{passed}/{total} 个用例通过；{}）", why.join("；")),
            &format!("NOT VERIFIED ({passed}/{total} test cases passed; {})", why.join("; ")),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(not_found: bool) -> CaseFailure {
        CaseFailure {
            rule_id: "stemi.x".into(),
            case: "met".into(),
            path: "stemi/tests/x.toml".into(),
            line: 7,
            why: "expected met, got not_met".into(),
            why_zh: None,
            not_found,
        }
    }

    #[test]
    fn a_pack_is_verified_only_when_every_case_ran_and_passed() {
        let ok = PackCases { total: 3, passed: 3, not_found: 0, failures: vec![] };
        assert!(ok.verified());
        assert!(!PackCases::default().verified(), "no cases: nothing verified");
        let missing = PackCases { total: 3, passed: 2, not_found: 1, failures: vec![failure(true)] };
        assert!(!missing.verified());
        let en = crate::locale::Locale::En;
        assert!(pack_line(&missing, en).contains("1 not run: base encounter not found"), "{}", pack_line(&missing, en));
        let failed = PackCases { total: 3, passed: 2, not_found: 0, failures: vec![failure(false)] };
        assert!(pack_line(&failed, en).starts_with("NOT VERIFIED (2/3 test cases passed; 1 failed"));
        let zh = crate::locale::Locale::ZhCn;
        assert_eq!(pack_line(&ok, zh), "已验证（3/3 个用例通过）");
        assert!(pack_line(&failed, zh).starts_with("未验证（2/3 个用例通过；1 个失败"), "{}", pack_line(&failed, zh));
        assert!(pack_line(&missing, zh).contains("1 个未运行：找不到基础病例"), "{}", pack_line(&missing, zh));
        assert_eq!(ok.unverified(), None);
        assert_eq!(missing.unverified(), Some(UnverifiedReason::CasesNotFound));
        assert_eq!(failed.unverified(), Some(UnverifiedReason::CasesFailing));
        assert_eq!(PackCases::default().unverified(), Some(UnverifiedReason::NoTestCases));
    }

    #[test]
    fn failures_become_load_errors_at_the_case() {
        let mut v = Verification::default();
        v.pack_mut("stemi").failures.push(failure(false));
        assert!(!v.all_passed());
        let mut missing = failure(true);
        missing.why = "base encounter 'examples/a.json' not found".into();
        for line in [9, 12] {
            v.pack_mut("stemi").failures.push(CaseFailure { line, ..missing.clone() });
        }
        let e: Vec<String> = v.load_errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            e,
            [
                "stemi/tests/x.toml:7:1: test case 'met' of stemi.x failed: expected met, got not_met",
                "stemi/tests/x.toml:9:1: 2 test cases cannot run (first at stemi/tests/x.toml:9): base encounter 'examples/a.json' not found",
            ]
        );
    }
}
