//! Unit tests: every engine limit (in the spirit of rhai's tests/operations.rs), the
//! language restrictions, time helpers, value sets, metadata and lint.
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rhai::{CallFnOptions, Dynamic, EvalAltResult, Scope};

use super::api::time::{end_of_hospital_day, hospital_day, rel_label, CallState};
use super::engine::{build_engine, Budget, RuleLimits};
use super::eval::describe_error;
use super::valueset::{normalize_code, parse_value_set};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Compile `body` as the body of `evaluate(enc)` and run it once.
fn run_with(limits: &RuleLimits, src: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    let engine = build_engine(limits, SHANGHAI);
    let ast = engine.compile(src)?;
    let _b = Budget::start(limits.time_budget());
    engine.call_fn_with_options::<Dynamic>(
        CallFnOptions::new().eval_ast(false).with_tag(CallState::new(t("2026-03-02T12:00:00Z"))),
        &mut Scope::new(),
        &ast,
        "evaluate",
        (Dynamic::UNIT,),
    )
}

/// Default limits with a wall-clock budget that never fires first in a debug build.
fn lim() -> RuleLimits {
    RuleLimits { time_budget_ms: 30_000, ..RuleLimits::default() }
}

fn run(src: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    run_with(&lim(), src)
}

fn err_of(src: &str) -> Box<EvalAltResult> {
    run(src).expect_err("script should fail")
}

#[test]
fn endless_loop_stops_at_max_operations() {
    let e = err_of("fn evaluate(enc) { let x = 0; loop { x += 1; } }");
    assert!(matches!(*e, EvalAltResult::ErrorTooManyOperations(_)), "{e:?}");
    let (_, msg) = describe_error(&e);
    assert!(msg.contains("more operations than allowed"), "{msg}");
}

#[test]
fn operation_limit_is_exact_enough_for_real_rules() {
    // 1,000 iterations fit in the default budget; the same loop with a budget of 500 does not.
    assert!(run("fn evaluate(enc) { let x = 0; for i in 0..1000 { x += i; } x }").is_ok());
    let tight = RuleLimits { max_operations: 500, ..lim() };
    let e = run_with(&tight, "fn evaluate(enc) { let x = 0; for i in 0..1000 { x += i; } x }").unwrap_err();
    assert!(matches!(*e, EvalAltResult::ErrorTooManyOperations(_)), "{e:?}");
}

#[test]
fn endless_loop_stops_at_time_budget_when_operations_are_unbounded_enough() {
    let limits = RuleLimits { max_operations: u64::MAX / 2, time_budget_ms: 20, ..RuleLimits::default() };
    let e = run_with(&limits, "fn evaluate(enc) { loop { } }").unwrap_err();
    assert!(matches!(*e, EvalAltResult::ErrorTerminated(..)), "{e:?}");
    let (_, msg) = describe_error(&e);
    assert!(msg.contains("time budget"), "{msg}");
}

#[test]
fn unbounded_recursion_stops_at_call_levels() {
    let e = err_of("fn down(n) { down(n + 1) }\nfn evaluate(enc) { down(0) }");
    let (_, msg) = describe_error(&e);
    assert!(msg.contains("nested function calls"), "{msg} {e:?}");
}

#[test]
fn recursion_within_call_levels_is_fine() {
    let v = run("fn fact(n) { if n <= 1 { 1 } else { n * fact(n - 1) } }\nfn evaluate(enc) { fact(10) }").unwrap();
    assert_eq!(v.as_int().unwrap(), 3_628_800);
}

#[test]
fn huge_string_is_cut_off() {
    let e = err_of("fn evaluate(enc) { let s = \"xxxxxxxx\"; loop { s += s; } }");
    assert!(matches!(*e, EvalAltResult::ErrorDataTooLarge(..)), "{e:?}");
    let (_, msg) = describe_error(&e);
    assert!(msg.contains("allowed size"), "{msg}");
}

#[test]
fn huge_array_is_cut_off() {
    let e = err_of("fn evaluate(enc) { let a = []; loop { a.push(1); } }");
    assert!(matches!(*e, EvalAltResult::ErrorDataTooLarge(..)), "{e:?}");
}

#[test]
fn huge_map_is_cut_off() {
    // Rhai checks a map's size when the statement that grew it completes, so a map grown
    // inside one long loop is bounded by the operation limit instead (next test).
    let limits = RuleLimits { max_map_size: 20, ..lim() };
    let e =
        run_with(&limits, "fn evaluate(enc) { let m = #{}; for i in 0..100 { m[`k${i}`] = i; } m.len() }").unwrap_err();
    assert!(matches!(*e, EvalAltResult::ErrorDataTooLarge(..)), "{e:?}");
    let e = run("fn evaluate(enc) { let m = #{}; for i in 0..1000000 { m[`k${i}`] = i; } m }").unwrap_err();
    assert!(matches!(*e, EvalAltResult::ErrorTooManyOperations(..)), "{e:?}");
}

#[test]
fn too_many_variables() {
    let limits = RuleLimits { max_variables: 3, ..lim() };
    let e = run_with(&limits, "fn evaluate(enc) { let a = 1; let b = 2; let c = 3; let d = 4; a }").unwrap_err();
    assert!(matches!(*e, EvalAltResult::ErrorTooManyVariables(_)), "{e:?}");
}

#[test]
fn too_deep_expression_is_a_parse_error() {
    let deep = format!("fn evaluate(enc) {{ {}1{} }}", "(".repeat(200), ")".repeat(200));
    let engine = build_engine(&RuleLimits::default(), SHANGHAI);
    let e = engine.compile(&deep).unwrap_err();
    assert!(e.to_string().to_lowercase().contains("complex"), "{e}");
}

#[test]
fn too_many_functions_is_a_parse_error() {
    let limits = RuleLimits { max_functions: 3, ..RuleLimits::default() };
    let engine = build_engine(&limits, SHANGHAI);
    let src = "fn a() {1} fn b() {2} fn c() {3} fn d() {4} fn evaluate(enc) { 0 }";
    assert!(engine.compile(src).is_err());
}

#[test]
fn eval_import_and_undeclared_variables_are_rejected_at_compile_time() {
    let engine = build_engine(&RuleLimits::default(), SHANGHAI);
    for src in [
        "fn evaluate(enc) { eval(\"40 + 2\") }",
        "import \"x\" as y;\nfn evaluate(enc) { 1 }",
        "fn evaluate(enc) { undeclared + 1 }",
    ] {
        let err = engine.compile(src).expect_err(src);
        assert!(err.1.line().is_some(), "{src}: {err}");
    }
}

#[test]
fn no_wall_clock_in_scripts() {
    // `timestamp()` (the host clock) is not registered: rules see time only through now().
    let e = err_of("fn evaluate(enc) { timestamp() }");
    assert!(matches!(*e, EvalAltResult::ErrorFunctionNotFound(..)), "{e:?}");
    let v = run("fn evaluate(enc) { now() }").unwrap();
    assert_eq!(v.type_name().rsplit("::").next(), Some("Time"));
}

#[test]
fn runtime_type_error_has_a_position() {
    let e = err_of("fn evaluate(enc) {\n  let x = \"a\";\n  x - 1\n}");
    let (pos, msg) = describe_error(&e);
    assert_eq!(pos.line(), Some(3), "{e:?}");
    assert!(msg.contains("-"), "{msg}");
}

#[test]
fn missing_value_hint() {
    let e = err_of("fn evaluate(enc) { minutes_between(now(), ()) }");
    let (_, msg) = describe_error(&e);
    assert!(msg.contains("missing"), "{msg}");
}

#[test]
fn time_helpers_in_scripts() {
    let v = run("fn evaluate(enc) { let t = now(); [minutes_between(t, t.plus_hours(2)), hours_between(t, t.plus_minutes(90)), rel(t, t.plus_minutes(125)), t < t.plus_days(1), is_time(t), is_time(())] }")
        .unwrap()
        .into_array()
        .unwrap();
    assert_eq!(v[0].as_float().unwrap(), 120.0);
    assert_eq!(v[1].as_float().unwrap(), 1.5);
    assert_eq!(v[2].clone().into_string().unwrap(), "T+2 h 05 min");
    assert!(v[3].as_bool().unwrap());
    assert!(v[4].as_bool().unwrap());
    assert!(!v[5].as_bool().unwrap());
}

#[test]
fn calendar_hospital_days_use_the_hospital_time_zone() {
    // 2026-03-02 23:30 in Shanghai is 15:30Z; 00:30 local the next day is day 2.
    let t0 = t("2026-03-02T15:30:00Z");
    assert_eq!(hospital_day(SHANGHAI, t0, t0), 1);
    assert_eq!(hospital_day(SHANGHAI, t0, t("2026-03-02T16:30:00Z")), 2);
    // In UTC the same two instants are on the same calendar day.
    assert_eq!(hospital_day(Tz::UTC, t0, t("2026-03-02T16:30:00Z")), 1);
    // End of day 2 = 2026-03-04 00:00 +08:00 (exclusive).
    assert_eq!(end_of_hospital_day(SHANGHAI, t0, 2).unwrap(), t("2026-03-03T16:00:00Z"));
    assert_eq!(hospital_day(SHANGHAI, t0, t("2026-03-02T10:00:00Z")), 1);
    assert_eq!(hospital_day(SHANGHAI, t0, t("2026-03-01T10:00:00Z")), 0);
}

#[test]
fn calendar_days_across_a_dst_change() {
    let ny: Tz = chrono_tz::America::New_York;
    // DST starts 2026-03-08 02:00 local; day 1 = 03-07, end of day 2 = 03-09 00:00 EDT.
    let t0 = ny.with_ymd_and_hms(2026, 3, 7, 22, 0, 0).unwrap().with_timezone(&Utc);
    assert_eq!(end_of_hospital_day(ny, t0, 2).unwrap(), t("2026-03-09T04:00:00Z"));
    // End of day 1 = 03-08 00:00 EST (before the change).
    assert_eq!(end_of_hospital_day(ny, t0, 1).unwrap(), t("2026-03-08T05:00:00Z"));
}

#[test]
fn relative_labels() {
    let t0 = t("2026-03-02T12:00:00Z");
    assert_eq!(rel_label(t0, t("2026-03-02T12:35:00Z")), "T+35 min");
    assert_eq!(rel_label(t0, t("2026-03-02T11:50:00Z")), "T-10 min");
    assert_eq!(rel_label(t0, t("2026-03-03T14:05:00Z")), "T+26 h 05 min");
}

#[test]
fn value_set_matching() {
    let src = r#"
name = "stemi"
[[include]]
system = "http://hl7.org/fhir/sid/icd-10"
ranges = ["I21.0-I21.3"]
codes = ["I21.9"]
[[include]]
system = "ATC"
prefixes = ["c10aa"]
"#;
    let vs = parse_value_set("valuesets/stemi.toml", src, &[]).unwrap();
    for code in ["I21.0", "I21.01", "I213", "i21.9", " I21.2 "] {
        assert!(vs.matches("ICD-10", code), "{code}");
    }
    for code in ["I21.4", "I20.9", "I22", "I21"] {
        assert!(!vs.matches("ICD-10", code), "{code}");
    }
    assert!(vs.matches("ATC", "C10AA05"));
    assert!(!vs.matches("LOINC", "C10AA05"));
    assert_eq!(normalize_code("ICD-10", "i21.0"), "I210");
    assert_eq!(normalize_code("LOINC", "2524-7"), "2524-7");
}

#[test]
fn value_set_errors_have_positions() {
    let src = "name = \"lactate\"\n[[include]]\nsystem = \"NOPE\"\ncodes = [\"1\"]\n";
    let errs = parse_value_set("valuesets/lactate.toml", src, &[]).unwrap_err();
    assert_eq!(errs[0].to_string(), "valuesets/lactate.toml:3:10: unknown code system 'NOPE' (ICD-10, ICD-10-CM, ICD-10-PCS, ICD-9-CM-3, LOINC, SNOMED-CT, ATC, RXNORM, CPT or a configured local system)");
    let errs =
        parse_value_set("valuesets/x.toml", "name = \"y\"\n[[include]]\nsystem = \"ATC\"\ncodes = [\"A\"]\n", &[])
            .unwrap_err();
    assert!(errs[0].to_string().starts_with("valuesets/x.toml:1:8: value set name 'y' must match"), "{}", errs[0]);
    let errs = parse_value_set("valuesets/z.toml", "name = \"z\"\ncodes = [\n", &[]).unwrap_err();
    assert!(errs[0].to_string().starts_with("valuesets/z.toml:"), "{}", errs[0]);
    assert!(errs[0].line >= 2, "{}", errs[0]);
}

#[test]
fn limits_validation_reports_every_zero() {
    let l = RuleLimits { max_operations: 0, time_budget_ms: 0, ..RuleLimits::default() };
    let fields: Vec<_> = l.validate().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["max_operations", "time_budget_ms"]);
    assert!(RuleLimits::default().validate().is_empty());
}
