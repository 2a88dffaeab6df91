//! The recorder (bound, de-duplication, stated time zero, scope), the windowed selections'
//! verdicts, the texts in both locales and the exclusion sections found at load.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rhai::{CallFnOptions, Dynamic, Scope};

use super::*;
use crate::config::Settings;
use crate::encounter::{self, Encounter};
use crate::locale::Locale;
use crate::rules::api::time::CallState;
use crate::rules::engine::{build_engine, Budget, RuleLimits};
use crate::rules::finding::{Finding, Severity, Status};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn example() -> Encounter {
    let path = format!("{}/examples/encounters/stemi_primary_pci.json", env!("CARGO_MANIFEST_DIR"));
    let pb_enc = encounter::encounter_from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let limits = encounter::Limits::from_settings(&Settings::embedded().unwrap().encounter);
    encounter::from_proto(&pb_enc, &limits, t("2026-12-01T00:00:00Z")).unwrap()
}

fn finding(status: Status, locale: Locale) -> Finding {
    Finding {
        rule_id: "p.r".into(),
        rule_version: "1".into(),
        pack: "p".into(),
        title: String::new(),
        measure: String::new(),
        measure_set: String::new(),
        measure_id: String::new(),
        measure_version: String::new(),
        reason_key: "k".into(),
        locale,
        trail: Vec::new(),
        trail_truncated: false,
        status,
        severity: Severity::Info,
        message: String::new(),
        evidence: Vec::new(),
        deadline: None,
        exclusion_reason: String::new(),
        missing_data: Vec::new(),
        duration: Duration::ZERO,
        fault: None,
        local_variant_of: String::new(),
    }
}

fn none() -> Arc<[rhai::ImmutableString]> {
    Arc::from(Vec::new())
}

/// Run `evaluate(())` of `src` while recording, like `eval.rs` does.
fn record_script(src: &str) -> (Dynamic, Recorded) {
    let limits = RuleLimits { time_budget_ms: 30_000, ..RuleLimits::default() };
    let engine = build_engine(&limits, SHANGHAI);
    let ast = engine.compile(src).unwrap();
    let rec = Recording::start(none());
    let v = {
        let _b = Budget::start(limits.time_budget());
        engine
            .call_fn_with_options::<Dynamic>(
                CallFnOptions::new().eval_ast(false).with_tag(CallState::new(t("2026-03-02T12:00:00Z"))),
                &mut Scope::new(),
                &ast,
                "evaluate",
                (Dynamic::UNIT,),
            )
            .unwrap()
    };
    (v, rec.finish())
}

#[test]
fn nothing_is_recorded_outside_a_rule_call() {
    assert!(!active());
    time_zero(t("2026-03-02T12:00:00Z"), "arrival", false);
    let rec = Recording::start(none());
    assert!(active());
    assert!(rec.finish().steps.is_empty(), "a step recorded before the call does not leak into it");
    assert!(!active());
}

#[test]
fn the_trail_is_bounded_and_says_when_it_was_cut() {
    let rec = Recording::start(none());
    for m in 0..40 {
        time_zero(t("2026-03-02T12:00:00Z") + chrono::Duration::minutes(m), "derived", false);
    }
    let r = rec.finish();
    assert_eq!(r.steps.len(), MAX_STEPS - 1, "one slot stays for the outcome");
    assert!(r.truncated);
    let mut f = finding(Status::Met, Locale::En);
    render::finish(&mut f, r, SHANGHAI, &example());
    assert_eq!(f.trail.len(), MAX_STEPS);
    assert!(f.trail_truncated);
    assert_eq!(f.trail.last().unwrap().code, "outcome");

    // Under the bound nothing is cut.
    let rec = Recording::start(none());
    time_zero(t("2026-03-02T12:00:00Z"), "arrival", false);
    let mut f = finding(Status::Met, Locale::En);
    render::finish(&mut f, rec.finish(), SHANGHAI, &example());
    assert_eq!(f.trail.len(), 2);
    assert!(!f.trail_truncated);

    // Outside the denominator: no trail.
    let rec = Recording::start(none());
    time_zero(t("2026-03-02T12:00:00Z"), "arrival", false);
    let mut f = finding(Status::NotApplicable, Locale::En);
    render::finish(&mut f, rec.finish(), SHANGHAI, &example());
    assert!(f.trail.is_empty());
}

#[test]
fn repeated_steps_are_recorded_once_and_a_stated_time_zero_replaces_the_guess() {
    let rec = Recording::start(none());
    let t0 = t("2026-03-02T14:30:00Z");
    time_zero(t0, "arrival", false);
    window(t0, t0 + chrono::Duration::minutes(90), true, Some(t0));
    window(t0, t0 + chrono::Duration::minutes(90), true, Some(t0));
    time_zero(t0, "severe_sepsis_criteria", true);
    let r = rec.finish();
    assert_eq!(r.steps.len(), 2, "{:?}", r.steps);
    assert_eq!(r.steps[0].code, "severe_sepsis_criteria");
}

#[test]
fn texts_in_both_locales_with_local_times_and_a_bounded_length() {
    let t0 = t("2026-03-02T14:30:00Z"); // 22:30 in Shanghai
    for (loc, tz_text, win_text, outcome) in [
        (
            Locale::En,
            "Time zero: hospital arrival, 03-02 22:30",
            "Window 03-02 22:30 – 03-03 00:00 (end included)",
            "Outcome: not met (k)",
        ),
        (
            Locale::ZhCn,
            "时间零点：到院时间，03-02 22:30",
            "时间窗 03-02 22:30 – 03-03 00:00（含终点）",
            "结果：未达标（k）",
        ),
    ] {
        let rec = Recording::start(none());
        time_zero(t0, "arrival", false);
        window(t0, t0 + chrono::Duration::minutes(90), true, Some(t0));
        exclusion_field("enc.transferred_in", false, None);
        let mut f = finding(Status::NotMet, loc);
        render::finish(&mut f, rec.finish(), SHANGHAI, &example());
        let texts: Vec<&str> = f.trail.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts[0], tz_text);
        assert_eq!(texts[1], win_text);
        assert_eq!(texts[2], loc.pick("外院转入：否", "Transfer-in: no"));
        assert_eq!(texts[3], outcome);
        assert_eq!(f.trail[1].end_time, Some(t0 + chrono::Duration::minutes(90)));
        assert!(f.trail[2].accepted, "an exclusion that does not apply is passed");
    }
    let long = render::bounded("x".repeat(500));
    assert_eq!(long.chars().count(), MAX_TEXT_CHARS);
    assert!(long.ends_with('…'));
}

#[test]
fn windowed_selections_give_each_candidate_a_verdict() {
    // Arrival 10:00 (UTC); window 0..90 min, end included: 09:50 is before time zero, 11:30
    // exactly on the end is accepted, and the later one is never looked at.
    let (v, r) = record_script(
        r#"fn evaluate(enc) {
            let t0 = now().plus_hours(-2);
            let items = [#{ time: t0.plus_minutes(-10) }, #{ time: t0.plus_minutes(90) }, #{ time: t0.plus_minutes(100) }];
            first_between(items, t0, 0, 90)
        }"#,
    );
    assert!(v.is_map());
    let codes: Vec<(&str, bool)> = r.steps.iter().map(|s| (s.code, s.accepted)).collect();
    assert_eq!(codes, [("closed", false), ("before_time_zero", false), ("in_window", true)]);

    // first_in: [from, to), the end excluded; one second past the end is outside.
    let (v, r) = record_script(
        r#"fn evaluate(enc) {
            let from = now().plus_hours(-2);
            let to = from.plus_hours(1);
            first_in([#{ time: from.plus_minutes(-1) }, #{ time: to }], from, to)
        }"#,
    );
    assert!(v.is_unit());
    let codes: Vec<(&str, bool)> = r.steps.iter().map(|s| (s.code, s.accepted)).collect();
    assert_eq!(codes, [("half_open", false), ("before_window", false), ("outside_window", false)]);
}

#[test]
fn time_zero_states_its_reason_and_an_unknown_reason_is_an_error() {
    let (_, r) = record_script(
        r#"fn evaluate(enc) { time_zero(now(), "severe_sepsis_criteria"); end_of_hospital_day(now(), 2) }"#,
    );
    assert_eq!(r.steps[0].kind, Kind::TimeZero);
    assert_eq!(r.steps[0].code, "severe_sepsis_criteria");
    assert_eq!((r.steps[1].code, r.steps[1].n), ("hospital_days", 2));

    let engine = build_engine(&RuleLimits::default(), SHANGHAI);
    let ast = engine.compile(r#"fn evaluate(enc) { time_zero(now(), "whenever") }"#).unwrap();
    let e = engine
        .call_fn_with_options::<Dynamic>(
            CallFnOptions::new().eval_ast(false).with_tag(CallState::new(t("2026-03-02T12:00:00Z"))),
            &mut Scope::new(),
            &ast,
            "evaluate",
            (Dynamic::UNIT,),
        )
        .unwrap_err();
    assert!(e.to_string().contains("unknown time-zero reason 'whenever'"), "{e}");
}

#[test]
fn exclusion_sets_are_the_queries_of_the_exclusion_section_and_its_helpers() {
    let src = r#"
fn helper(enc) { enc.assessments("comfort_measures") }
fn evaluate(enc) {
    // --- Denominator
    if !enc.has_diagnosis("stemi") { return 1; }
    // --- Exclusions
    let trial = enc.assessments("clinical_trial");
    let c = helper(enc);
    // --- Numerator
    enc.procedures("pci")
}
"#;
    assert_eq!(sections::exclusion_lines(src), Some((6, 9)));
    let engine = build_engine(&RuleLimits::default(), SHANGHAI);
    let ast = engine.compile(src).unwrap();
    let sets: Vec<String> = sections::exclusion_sets(src, &ast).iter().map(|s| s.to_string()).collect();
    assert_eq!(sets, ["clinical_trial", "comfort_measures"]);
    assert!(sections::exclusion_sets("fn evaluate(enc) { 1 }", &engine.compile("fn evaluate(enc) { 1 }").unwrap())
        .is_empty());
}

#[test]
fn exclusion_sets_follow_a_helper_memoised_through_a_closure() {
    let src = r#"
fn cached(enc) { memo("x", || uncached(enc)) }
fn uncached(enc) { enc.assessments("comfort_measures") }
fn evaluate(enc) {
    // --- Exclusions
    let c = cached(enc);
    // --- Numerator
    1
}
"#;
    let engine = build_engine(&RuleLimits::default(), SHANGHAI);
    let ast = engine.compile(src).unwrap();
    let sets: Vec<String> = sections::exclusion_sets(src, &ast).iter().map(|s| s.to_string()).collect();
    assert_eq!(sets, ["comfort_measures"]);
}

#[test]
fn a_memo_records_every_exclusion_query_and_each_reader_keeps_those_it_checks() {
    let vs = |s: &str| rhai::ImmutableString::from(s);
    let query = |set: &str| exclusion_query(&vs(set), 0, || None);
    let args = |r: &Recorded| r.steps.iter().map(|s| s.arg.to_string()).collect::<Vec<_>>();
    // The first reader checks only "a": the memo keeps "a" and "b" apart from its own steps.
    let rule = Recording::start(Arc::from(vec![vs("a")]));
    query("a");
    let memo = MemoRecording::start();
    query("a");
    query("b");
    let steps = memo.finish();
    replay(&steps);
    let first = rule.finish();
    assert_eq!(steps.iter().map(|s| s.arg.to_string()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(args(&first), ["a"]);
    // A later reader checking "b" gets "b" from the memo's steps.
    let rule = Recording::start(Arc::from(vec![vs("b")]));
    replay(&steps);
    assert_eq!(args(&rule.finish()), ["b"]);
}
