//! Runs the test cases of a rule set (`cdssd rules test`) and checks coverage and
//! fixtures (`cdssd rules check`), rendering a table QC staff can read.
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono_tz::Tz;
use serde_json::Value;

use super::api::encounter::EncounterView;
use super::api::time::display;
use super::finding::{Finding, Status};
use super::load::RuleSet;
use super::testcase::{apply_edits, TestCase, TestFile};
use crate::diagnostic::Diagnostic;
use crate::encounter::{self, Limits};
use crate::locale::Locale;
use crate::proto::v1 as pb;

/// Outcome of one test case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub rule_id: String,
    pub case: String,
    /// `path:line` of the case.
    pub location: String,
    pub expected: Status,
    /// The finding, when the rule ran.
    pub finding: Option<Finding>,
    /// Why the case failed; `None` when it passed.
    pub failure: Option<String>,
    /// The declared outcome (`status:key`) the rule's script returned for the case's
    /// encounter — run past the pack's `[applies_to]` gate when the gate answered instead.
    pub reached: Option<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Why a case's encounter could not be built.
#[derive(Debug, Clone)]
pub enum CaseError {
    /// The base encounter file is nowhere it is looked for: the case cannot run.
    NotFound(String),
    /// The base was found but the edited encounter is not valid.
    Invalid(String),
}

impl std::fmt::Display for CaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(m) | Self::Invalid(m) => f.write_str(m),
        }
    }
}

/// Where a case's `base` (`examples/encounters/x.json`) is looked for, in order:
/// `rules.examples_dir` (as the directory holding `examples/`, then as `examples/` itself),
/// the rules directory, then each directory above it (the source tree: `<repo>/examples`).
pub fn base_candidates(root: &Path, examples_dir: Option<&Path>, base: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = examples_dir {
        out.push(dir.join(base));
        if let Some(rest) = base.strip_prefix("examples/") {
            out.push(dir.join(rest));
        }
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    out.extend(root.ancestors().map(|a| a.join(base)));
    out
}

/// The file of `base` for the set (see [`base_candidates`]).
pub fn resolve_base(set: &RuleSet, base: &str) -> Option<PathBuf> {
    base_candidates(&set.root, set.examples_dir.as_deref(), base).into_iter().find(|p| p.is_file())
}

fn not_found(set: &RuleSet, base: &str) -> String {
    let also = match &set.examples_dir {
        Some(d) => format!(" nor in rules.examples_dir ({})", d.display()),
        None => String::new(),
    };
    format!(
        "base encounter '{base}' not found in {} or a directory above it{also}: set rules.examples_dir \
         (or --examples) to the directory that holds examples/",
        set.root.display()
    )
}

/// Build the validated encounter of a case.
pub fn case_encounter(
    set: &RuleSet,
    case: &TestCase,
    limits: &Limits,
    cache: &mut HashMap<String, Value>,
) -> Result<encounter::Encounter, CaseError> {
    let base = match cache.get(&case.base) {
        Some(v) => v.clone(),
        None => {
            let path = resolve_base(set, &case.base).ok_or_else(|| CaseError::NotFound(not_found(set, &case.base)))?;
            let text =
                std::fs::read_to_string(&path).map_err(|e| CaseError::Invalid(format!("{}: {e}", path.display())))?;
            let v: Value =
                serde_json::from_str(&text).map_err(|e| CaseError::Invalid(format!("{}: {e}", path.display())))?;
            cache.insert(case.base.clone(), v.clone());
            v
        }
    };
    let mut json = base;
    apply_edits(&mut json, case).map_err(CaseError::Invalid)?;
    let pb_enc: pb::Encounter = serde_json::from_value(json)
        .map_err(|e| CaseError::Invalid(format!("edited encounter is not valid proto3 JSON: {e}")))?;
    encounter::from_proto(&pb_enc, limits, case.now).map_err(|e| CaseError::Invalid(e.to_string()))
}

/// Run every case (of rules whose id contains `filter`, if given); findings and failure
/// explanations are written in `locale`.
pub fn run_tests(set: &RuleSet, limits: &Limits, filter: Option<&str>, locale: Locale) -> Vec<CaseResult> {
    let mut cache = HashMap::new();
    let mut out = Vec::new();
    for file in &set.tests {
        if filter.is_some_and(|f| !file.rule_id.contains(f)) {
            continue;
        }
        let Some(rule) = set.rule(&file.rule_id) else { continue };
        for case in &file.cases {
            let mut r = CaseResult {
                rule_id: file.rule_id.clone(),
                case: case.name.clone(),
                location: format!("{}:{}", file.path, case.line),
                expected: case.expect,
                finding: None,
                failure: None,
                reached: None,
            };
            match case_encounter(set, case, limits, &mut cache) {
                Err(e) => {
                    r.failure = Some(format!("{}: {e}", locale.pick("无法构建病例", "cannot build the encounter")))
                }
                Ok(enc) => {
                    let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
                    let f = set.evaluate_rule_gated(rule, &view, case.now, super::probe::PROBE_BUDGET, locale);
                    r.reached = match outcome_label(&f) {
                        Some(l) => Some(l),
                        None if f.fault.is_none() => outcome_label(&set.evaluate_rule_in(
                            rule,
                            &view,
                            case.now,
                            super::probe::PROBE_BUDGET,
                            locale,
                        )),
                        None => None,
                    };
                    r.failure = compare(case, &f, set.tz(), locale);
                    r.finding = Some(f);
                }
            }
            out.push(r);
        }
    }
    out
}

/// Every test case's encounter (of every rule) against every pack with an `[applies_to]`:
/// a rule that finds applicable an encounter its pack excludes is a contradiction. Cases
/// whose encounter cannot be built are skipped here (`run_tests` reports them).
pub fn check_applies_to(set: &RuleSet, limits: &Limits) -> Vec<Diagnostic> {
    if set.packs.iter().all(|p| p.applies_to.is_none()) {
        return Vec::new();
    }
    let mut cache = HashMap::new();
    let mut out = Vec::new();
    for file in &set.tests {
        for case in &file.cases {
            let Ok(enc) = case_encounter(set, case, limits, &mut cache) else { continue };
            let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
            let context = format!("test case '{}' ({}:{})", case.name, file.path, case.line);
            out.extend(super::applies::check_all(set, &view, case.now, &context));
        }
    }
    out
}

pub(crate) fn compare(case: &TestCase, f: &Finding, tz: Tz, l: Locale) -> Option<String> {
    let mut problems = Vec::new();
    if f.status != case.expect {
        problems.push(match l {
            Locale::ZhCn => format!("预期 {}，实际 {}", case.expect, f.status),
            Locale::En => format!("expected {}, got {}", case.expect, f.status),
        });
    }
    if let Some(want) = case.expect_deadline.filter(|w| f.deadline != Some(*w)) {
        let (want, got) = (display(tz, want), f.deadline.map(|d| display(tz, d)));
        problems.push(match (l, got) {
            (Locale::ZhCn, Some(got)) => format!("预期截止时间 {want}，实际 {got}"),
            (Locale::ZhCn, None) => format!("预期截止时间 {want}，实际没有截止时间"),
            (Locale::En, Some(got)) => format!("expected deadline {want}, got {got}"),
            (Locale::En, None) => format!("expected deadline {want}, got none"),
        });
    }
    if let Some(want) = &case.expect_reason {
        if &f.reason_key != want {
            problems.push(match l {
                Locale::ZhCn => format!("预期结果键 '{want}'，实际 '{}'", f.reason_key),
                Locale::En => format!("expected reason '{want}', got '{}'", f.reason_key),
            });
        }
    }
    if let Some(want) = &case.expect_missing {
        let w: BTreeSet<&String> = want.iter().collect();
        let g: BTreeSet<&String> = f.missing_data.iter().collect();
        if w != g {
            problems.push(match l {
                Locale::ZhCn => format!("预期缺失数据 {want:?}，实际 {:?}", f.missing_data),
                Locale::En => format!("expected missing {want:?}, got {:?}", f.missing_data),
            });
        }
    }
    (!problems.is_empty()).then(|| problems.join(l.pick("；", "; ")))
}

/// Which declared outcomes of one rule its cases reach.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub rule_id: String,
    /// `status:key` of every declared outcome; empty for a legacy (free-text) rule.
    pub declared: Vec<String>,
    pub reached: BTreeSet<String>,
}

impl Coverage {
    pub fn unreached(&self) -> Vec<&str> {
        self.declared.iter().filter(|d| !self.reached.contains(*d)).map(String::as_str).collect()
    }
    pub fn complete(&self) -> bool {
        self.unreached().is_empty()
    }
}

/// The `status:key` of the outcome a finding reports ("" when it has no reason key).
pub fn outcome_label(f: &Finding) -> Option<String> {
    if f.reason_key.is_empty() {
        return None;
    }
    let kind = super::meta::kind_of(f.status)?;
    Some(format!("{kind}:{}", f.reason_key))
}

/// Outcome coverage per rule (of the rules whose cases ran in `results`, or every rule
/// when `filter` is `None`).
pub fn coverage(set: &RuleSet, results: &[CaseResult], filter: Option<&str>) -> Vec<Coverage> {
    set.rules()
        .filter(|r| filter.is_none_or(|f| r.meta.id.contains(f)))
        .map(|r| Coverage {
            rule_id: r.meta.id.clone(),
            declared: r.meta.outcomes.iter().map(|o| o.label()).collect(),
            reached: results.iter().filter(|c| c.rule_id == r.meta.id).filter_map(|c| c.reached.clone()).collect(),
        })
        .collect()
}

/// Statuses every rule must have a case for.
const REQUIRED: [Status; 4] = [Status::Met, Status::NotMet, Status::Excluded, Status::NotApplicable];

/// Coverage and fixture problems: rules without cases for met / not met / excluded /
/// not applicable, and cases whose base encounter cannot be found.
pub fn check_tests(set: &RuleSet) -> Vec<String> {
    let mut warnings = Vec::new();
    let by_rule: HashMap<&str, &TestFile> = set.tests.iter().map(|t| (t.rule_id.as_str(), t)).collect();
    for rule in set.rules() {
        let Some(file) = by_rule.get(rule.meta.id.as_str()) else {
            warnings.push(format!("{}: no test cases ({}/tests/{}.toml)", rule.path, rule.pack, stem(&rule.path)));
            continue;
        };
        let have: BTreeSet<Status> = file.cases.iter().map(|c| c.expect).collect();
        // A rule that declares its outcomes needs cases for the statuses it declares (a
        // measure without exclusions has no `excluded` case to write; outcome coverage
        // checks the rest); a free-text rule, for every status of REQUIRED.
        let declared: BTreeSet<Status> = rule.meta.outcomes.iter().filter_map(|o| o.status()).collect();
        let needed = |s: &&Status| !rule.meta.keyed() || declared.contains(s);
        let missing: Vec<&str> =
            REQUIRED.iter().filter(needed).filter(|s| !have.contains(s)).map(|s| s.as_str()).collect();
        if !missing.is_empty() {
            warnings.push(format!("{}: no case expecting {}", file.path, missing.join(", ")));
        }
        for c in &file.cases {
            if resolve_base(set, &c.base).is_none() {
                warnings.push(format!("{}:{}: {}", file.path, c.line, not_found(set, &c.base)));
            }
        }
    }
    warnings
}

/// Rules lacking texts in `locales`: legacy rules whose messages are free text in one
/// language (keyed rules lacking a text are load errors already).
pub fn text_warnings(set: &RuleSet, locales: &[Locale]) -> Vec<String> {
    let tags: Vec<&str> = locales.iter().map(|l| l.tag()).collect();
    set.rules()
        .filter(|r| !r.meta.keyed())
        .map(|r| {
            format!(
                "{}: messages are free text, not texts per locale ({}) — declare meta().outcomes",
                r.path,
                tags.join(", ")
            )
        })
        .collect()
}

fn stem(path: &str) -> &str {
    Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or(path)
}
