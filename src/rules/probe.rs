//! Load-time probe: every rule runs once on a synthetic, nearly empty encounter and on
//! each of its test-case encounters that can be built here. A script fault found this
//! way (endless loop, runaway recursion, huge string/array, type error, unknown value
//! set, bad return value) is a load error at the script's `path:line:col`, so a reload
//! containing it is rejected as a whole. Findings that merely differ from a case's
//! expectation are not load errors: that is what `cdssd rules test` reports. A rule that
//! finds an encounter applicable although its pack's `[applies_to]` excludes it is a load
//! error at that section (see [`super::applies`]).
//!
//! The same pass compares each case's finding with its expectation (as `cdssd rules
//! test` does, through the pack's gate) and returns the [`Verification`] the store's
//! test gate (`rules.require_passing_tests`) and `ListRulePacks` use: the cases run once.
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::api::encounter::EncounterView;
use super::applies::contradiction;
use super::load::RuleSet;
use super::runner::{case_encounter, compare, outcome_label, CaseError};
use super::testcase::TestFile;
use super::verify::{CaseFailure, Verification};
use crate::diagnostic::{Diagnostic, Text};
use crate::encounter::{DatePrecision, Encounter, EncounterClass, Limits, Patient, Sex};
use crate::locale::Locale;

/// Wall-clock budget of one rule call off the request path (load-time probe and
/// `rules test`): generous, so a busy machine cannot fail a good rule; the operation
/// limit still stops endless loops.
pub(crate) const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// An encounter with only the required fields: an adult inpatient who arrived two hours
/// before `now` and has nothing recorded yet.
pub fn synthetic_encounter(now: DateTime<Utc>) -> Encounter {
    Encounter {
        id: "probe".into(),
        patient: Patient {
            id: "probe".into(),
            birth_date: None,
            birth_date_precision: DatePrecision::Day,
            age_years: 60.0,
            sex: Sex::Unknown,
            race: None,
        },
        class: EncounterClass::Inpatient,
        department: String::new(),
        arrival: now - Duration::hours(2),
        admission: None,
        discharge: None,
        disposition: None,
        transferred_in: false,
        onset: None,
        last_known_well: None,
        diagnoses: Vec::new(),
        vitals: Vec::new(),
        labs: Vec::new(),
        assessments: Vec::new(),
        medication_orders: Vec::new(),
        administrations: Vec::new(),
        procedures: Vec::new(),
        allergies: Vec::new(),
        notes: Vec::new(),
        locations: Vec::new(),
        arrival_mode: None,
        prehospital_ecg: None,
        first_admission: None,
        care_documentation: Vec::new(),
        prior_encounters: Vec::new(),
        prior_conditions: Vec::new(),
        implausible: Vec::new(),
    }
}

/// Every script fault found (empty when all rules ran cleanly), and the verdict of the
/// test cases.
pub fn probe(set: &RuleSet, limits: &Limits) -> (Vec<Diagnostic>, Verification) {
    let mut errors = Vec::new();
    let now = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    let synthetic = EncounterView::dynamic(Arc::new(synthetic_encounter(now)), set.value_sets.clone());
    for rule in set.rules() {
        let f = set.evaluate_rule_within(rule, &synthetic, now, PROBE_BUDGET);
        errors.extend(contradiction(set, rule, &synthetic, &f, "the load-time probe's encounter with no data"));
        if let Some(fault) = f.fault {
            errors.push(with_context(fault, &Text::both("（在没有数据的病例上）", " — on an encounter with no data")));
        }
    }
    let mut verification = Verification::default();
    for p in &set.packs {
        verification.pack_mut(&p.id);
    }
    // The cases run on several threads, contiguous slices of the test files each (the
    // engine and the set are shared read-only; the time budget is per thread), and are
    // merged back in file order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS);
    let chunk = set.tests.len().div_ceil(threads).max(1);
    let parts: Vec<(Vec<Diagnostic>, Verification)> = std::thread::scope(|s| {
        let handles: Vec<_> =
            set.tests.chunks(chunk).map(|files| s.spawn(move || run_cases(set, limits, files))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (
                        vec![Diagnostic::file("rules", "running the test cases panicked (a bug in cdssd)")],
                        Verification::default(),
                    )
                })
            })
            .collect()
    });
    for (e, v) in parts {
        errors.extend(e);
        for (id, p) in v.packs {
            let into = verification.pack_mut(&id);
            into.total += p.total;
            into.passed += p.passed;
            into.not_found += p.not_found;
            into.failures.extend(p.failures);
        }
        for (rule, r) in v.reached {
            verification.reached.entry(rule).or_default().extend(r);
        }
    }
    (errors, verification)
}

/// Most threads the load-time case run uses.
const MAX_THREADS: usize = 8;

/// Run the cases of `files`: faults found, and their verdict.
fn run_cases(set: &RuleSet, limits: &Limits, files: &[TestFile]) -> (Vec<Diagnostic>, Verification) {
    let mut errors = Vec::new();
    let mut verification = Verification::default();
    let mut cache = HashMap::new();
    for file in files {
        let Some(rule) = set.rule(&file.rule_id) else { continue };
        for case in &file.cases {
            let fail = |why: Text, not_found: bool| CaseFailure {
                rule_id: file.rule_id.clone(),
                case: case.name.clone(),
                path: file.path.clone(),
                line: case.line,
                why: why.en,
                why_zh: why.zh,
                not_found,
            };
            let pack = verification.pack_mut(&rule.pack);
            pack.total += 1;
            let enc = match case_encounter(set, case, limits, &mut cache) {
                Ok(enc) => enc,
                Err(e @ CaseError::NotFound(_)) => {
                    pack.not_found += 1;
                    let zh = format!(
                        "找不到基础病例 '{}'：把 rules.examples_dir（或 --examples）设为包含 examples/ 的目录",
                        case.base
                    );
                    pack.failures.push(fail(Text::both(zh, e.to_string()), true));
                    continue;
                }
                Err(e) => {
                    let why = Text::both(format!("无法构建病例：{e}"), format!("cannot build the encounter: {e}"));
                    pack.failures.push(fail(why, false));
                    continue;
                }
            };
            let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
            let context = format!("test case '{}' ({}:{})", case.name, file.path, case.line);
            let in_case = Text::both(
                format!("（在测试用例 '{}'，{}:{}）", case.name, file.path, case.line),
                format!(" — in {context}"),
            );
            let f = set.evaluate_rule_within(rule, &view, case.now, PROBE_BUDGET);
            errors.extend(contradiction(set, rule, &view, &f, &context));
            if let Some(fault) = &f.fault {
                errors.push(with_context(fault.clone(), &in_case));
            }
            let ungated = if f.fault.is_none() { outcome_label(&f) } else { None };
            // What a request would get: the pack's gate answers (without running the
            // script again) when it excludes the encounter.
            let gated = match set.pack(&rule.pack).and_then(|p| p.excludes(&view)) {
                Some(_) => set.evaluate_rule_gated(rule, &view, case.now, PROBE_BUDGET, Default::default()),
                None => f,
            };
            // Outcome coverage as `rules test` counts it (see `runner::run_tests`).
            let reached = outcome_label(&gated).or(ungated);
            // The gate's failure texts go to ListRulePacks (both locales) and the log (English).
            match compare(case, &gated, set.tz(), Locale::En) {
                None => pack.passed += 1,
                Some(en) => {
                    let zh = compare(case, &gated, set.tz(), Locale::ZhCn);
                    pack.failures.push(fail(Text { en, zh }, false))
                }
            }
            if let Some(l) = reached {
                verification.reached.entry(rule.meta.id.clone()).or_default().insert(l);
            }
        }
    }
    (errors, verification)
}

fn with_context(mut e: Diagnostic, context: &Text) -> Diagnostic {
    e.append(context);
    e
}
