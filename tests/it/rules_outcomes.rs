//! Rule metadata (measure set/item/edition), declared outcomes checked against the script,
//! outcome coverage in `rules test`, texts per locale and `rules.measure_sets`.

use std::path::Path;

use cdssd::{
    locale::{has_chinese, Locale},
    rules::{api::encounter::EncounterView, runner, service::compiler_from, test_report, RuleSet, RulesError},
};

use crate::rules::{fixture_copy, SLOW_OK};
use crate::support::{root, settings_with};

fn compile_with(dir: &Path, env: &[(&str, &str)]) -> Result<RuleSet, Vec<String>> {
    let mut vars = vec![SLOW_OK];
    vars.extend_from_slice(env);
    match compiler_from(&settings_with(&vars)).compile_dir(dir) {
        Ok(s) => Ok(s),
        Err(RulesError::Load(errs)) => Err(errs.0.iter().map(ToString::to_string).collect()),
        Err(e) => Err(vec![e.to_string()]),
    }
}

/// A keyed rule for the fixture pack; `outcomes` and `body` are spliced in.
fn keyed_rule(extra_meta: &str, outcomes: &str, body: &str) -> String {
    format!(
        r#"fn meta() {{
    #{{
        id: "stemi.keyed",
        title: #{{ "zh-CN": "测试规则", en: "Test rule" }},
        measure: "TEST",
        measure_set: "LOCAL",
        measure_id: "T-1",
        measure_version: "1",
        version: "1.0.0",
        severity: "info",
        triggers: ["discharge"],{extra_meta}
        outcomes: #{{
{outcomes}
        }},
    }}
}}
fn evaluate(enc) {{
{body}
}}
"#
    )
}

const OUTCOMES: &str = r#"            met: #{ ok: #{ "zh-CN": "已完成，{n} 分钟", en: "Done in {n} min" } },
            not_applicable: #{ no_stemi: #{ "zh-CN": "无 STEMI", en: "No STEMI" } },"#;

const BODY: &str = r#"    if !enc.has_diagnosis("stemi") { return not_applicable("no_stemi"); }
    met("ok", #{ n: 5 }, [])"#;

/// `stemi/keyed.rhai:LINE:` of the first line of `src` containing `needle`.
fn at_line_of(src: &str, needle: &str) -> String {
    let line = src.lines().position(|l| l.contains(needle)).expect("needle in source") + 1;
    format!("stemi/keyed.rhai:{line}:")
}

fn errors_for(src: &str) -> Vec<String> {
    let (_tmp, dir) = fixture_copy();
    std::fs::write(dir.join("stemi/keyed.rhai"), src).unwrap();
    match compile_with(&dir, &[]) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

#[test]
fn a_keyed_rule_loads_and_renders_its_texts_in_each_locale() {
    let (_tmp, dir) = fixture_copy();
    std::fs::write(dir.join("stemi/keyed.rhai"), keyed_rule("", OUTCOMES, BODY)).unwrap();
    let set = compile_with(&dir, &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let rule = set.rule("stemi.keyed").unwrap();
    assert_eq!(rule.meta.measure_set, "LOCAL");
    assert_eq!(rule.meta.outcomes.len(), 2);
    let enc = cdssd::encounter::from_proto(
        &crate::support::example("stemi_primary_pci.json"),
        &cdssd::encounter::Limits::from_settings(&settings_with(&[]).encounter),
        chrono::DateTime::parse_from_rfc3339("2026-03-06T03:00:00Z").unwrap().into(),
    )
    .unwrap();
    let view = EncounterView::dynamic(std::sync::Arc::new(enc), set.value_sets.clone());
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-06T03:00:00Z").unwrap().into();
    let budget = std::time::Duration::from_secs(5);
    let zh = set.evaluate_rule_in(rule, &view, now, budget, Locale::ZhCn);
    let en = set.evaluate_rule_in(rule, &view, now, budget, Locale::En);
    assert_eq!(zh.status, en.status);
    assert_eq!((zh.reason_key.as_str(), en.reason_key.as_str()), ("ok", "ok"));
    assert_eq!(zh.message, "已完成，5 分钟");
    assert_eq!(en.message, "Done in 5 min");
    assert_eq!((zh.title.as_str(), en.title.as_str()), ("测试规则", "Test rule"));
}

#[test]
fn an_undeclared_outcome_is_a_load_error_at_the_call() {
    let body =
        "    if !enc.has_diagnosis(\"stemi\") { return not_applicable(\"no_stemi\"); }\n    not_met(\"late\", [])";
    let src = keyed_rule("", OUTCOMES, body);
    let errs = errors_for(&src);
    let e = errs.iter().find(|e| e.contains("'not_met:late' is not declared")).unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.starts_with(&at_line_of(&src, "not_met(\"late\"")), "{e}");
    // ... and the declared `met:ok` is now never returned.
    assert!(errs.iter().any(|e| e.contains("'met:ok' is declared but evaluate() never returns it")), "{errs:?}");
}

#[test]
fn a_declared_outcome_the_script_never_returns_is_a_load_error_at_the_declaration() {
    let outcomes =
        format!("{OUTCOMES}\n            excluded: #{{ transfer_in: #{{ \"zh-CN\": \"转入\", en: \"Transfer\" }} }},");
    let src = keyed_rule("", &outcomes, BODY);
    let errs = errors_for(&src);
    let e = errs
        .iter()
        .find(|e| e.contains("'excluded:transfer_in' is declared but"))
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.starts_with(&at_line_of(&src, "transfer_in:")), "at the key's line: {e}");
}

#[test]
fn a_call_in_a_function_evaluate_never_calls_does_not_return_the_outcome() {
    let outcomes =
        format!("{OUTCOMES}\n            excluded: #{{ transfer_in: #{{ \"zh-CN\": \"转入\", en: \"Transfer\" }} }},");
    let src = keyed_rule("", &outcomes, BODY) + "fn never_called(enc) { excluded(\"transfer_in\") }\n";
    let errs = errors_for(&src);
    assert!(
        errs.iter().any(|e| e.contains("'excluded:transfer_in' is declared but evaluate() never returns it")),
        "only functions reachable from evaluate() count: {errs:?}"
    );
    assert_eq!(errs.len(), 1, "one error, reported once: {errs:?}");
}

#[test]
fn reason_keys_must_be_literal_at_each_constructor_call() {
    // Funnelling every outcome through one call with a computed key is refused.
    let body =
        "    let k = if enc.has_diagnosis(\"stemi\") { \"ok\" } else { \"no_stemi\" };\n    met(k, #{ n: 1 }, [])";
    let errs = errors_for(&keyed_rule("", OUTCOMES, body));
    assert!(errs.iter().any(|e| e.contains("reason key of met(…) must be a literal string")), "{errs:?}");
}

#[test]
fn a_text_missing_a_configured_locale_or_a_placeholder_value_is_a_load_error() {
    let outcomes = r#"            met: #{ ok: #{ en: "Done in {n} min" } },
            not_applicable: #{ no_stemi: #{ "zh-CN": "无 STEMI", en: "No STEMI" } },"#;
    let errs = errors_for(&keyed_rule("", outcomes, BODY));
    assert!(errs.iter().any(|e| e.contains("outcomes.met.ok has no zh-CN text")), "{errs:?}");
    let body =
        "    if !enc.has_diagnosis(\"stemi\") { return not_applicable(\"no_stemi\"); }\n    met(\"ok\", #{ m: 5 }, [])";
    let errs = errors_for(&keyed_rule("", OUTCOMES, body));
    assert!(errs.iter().any(|e| e.contains("uses {n} but this call gives no 'n' value")), "{errs:?}");
}

#[test]
fn an_unknown_measure_set_is_a_load_error_with_position_and_a_suggestion() {
    let src = keyed_rule("", OUTCOMES, BODY).replace("measure_set: \"LOCAL\"", "measure_set: \"NHC-2021\"");
    let errs = errors_for(&src);
    let e = errs.iter().find(|e| e.contains("unknown measure set 'NHC-2021'")).unwrap_or_else(|| panic!("{errs:?}"));
    assert!(e.starts_with(&format!("{}9:", at_line_of(&src, "measure_set:"))), "{e}");
    assert!(e.contains("did you mean 'NHC-2022'"), "{e}");
}

#[test]
fn measure_sets_select_the_rules_that_run_and_an_unused_set_is_an_error() {
    let dir = root().join("rules");
    let all = compile_with(&dir, &[]).unwrap();
    let tjc = compile_with(&dir, &[("CDSSD__RULES__MEASURE_SETS", "TJC")]).unwrap();
    let enabled = |s: &RuleSet| s.rules().filter(|r| s.enabled(r)).count();
    assert_eq!(enabled(&all), all.rule_count());
    let n_tjc = all.rules().filter(|r| r.meta.measure_set == "TJC").count();
    assert!(n_tjc > 0);
    assert_eq!(enabled(&tjc), n_tjc);
    // A known set that no shipped rule names (chosen from the shipped rules, so that a new rule
    // naming a set does not break this test).
    let unused = cdssd::names::MEASURE_SETS
        .iter()
        .find(|m| !all.rules().any(|r| r.meta.measure_set == **m))
        .expect("a known measure set that no shipped rule names");
    let sets = format!("TJC,{unused}");
    let errs = compile_with(&dir, &[("CDSSD__RULES__MEASURE_SETS", sets.as_str())]).unwrap_err();
    let want = format!("measure set '{unused}' is configured but no rule names it");
    assert!(errs.iter().any(|e| e.contains(&want)), "{errs:?}");

    // An unknown name is a configuration error: exit 64 with the key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["rules", "check", dir.to_str().unwrap()])
        .env("CDSSD__RULES__MEASURE_SETS", "NHC-2021")
        .env("CDSSD__METRICS__LISTEN", "")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{text}");
    assert!(text.contains("rules.measure_sets[0]") && text.contains("NHC-2021"), "{text}");
}

#[test]
fn rules_test_fails_when_a_declared_outcome_is_unreached_by_the_cases() {
    let (_tmp, dir) = fixture_copy();
    std::fs::write(dir.join("stemi/keyed.rhai"), keyed_rule("", OUTCOMES, BODY)).unwrap();
    let case = "[[case]]\nname = \"met\"\nbase = \"examples/encounters/stemi_primary_pci.json\"\nnow = \"2026-03-06T03:00:00Z\"\nexpect = \"met\"\nexpect_reason = \"ok\"\n";
    std::fs::write(dir.join("stemi/tests/keyed.toml"), case).unwrap();
    let set = compile_with(&dir, &[]).unwrap();
    let limits = cdssd::encounter::Limits::from_settings(&settings_with(&[]).encounter);
    let results = runner::run_tests(&set, &limits, Some("keyed"), Locale::En);
    assert!(results.iter().all(|r| r.passed()), "{}", test_report::render(&results, set.tz(), Locale::En));
    let cov = runner::coverage(&set, &results, Some("keyed"));
    assert_eq!(cov[0].unreached(), vec!["not_applicable:no_stemi"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["rules", "test", dir.to_str().unwrap(), "--filter", "keyed", "--locale", "en"])
        .env("CDSSD__METRICS__LISTEN", "")
        .env(SLOW_OK.0, SLOW_OK.1)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  stemi.keyed  1/2 (50 %)  unreached: not_applicable:no_stemi"), "{text}");

    // A case reaching it (an encounter without STEMI; the pack gate answers for the
    // request, the script's own outcome counts for coverage) completes the coverage.
    let more = "\n[[case]]\nname = \"no stemi\"\nbase = \"examples/encounters/heart_failure.json\"\nnow = \"2026-03-13T04:00:00Z\"\nexpect = \"not_applicable\"\n";
    std::fs::write(dir.join("stemi/tests/keyed.toml"), format!("{case}{more}")).unwrap();
    let set = compile_with(&dir, &[]).unwrap();
    let results = runner::run_tests(&set, &limits, Some("keyed"), Locale::En);
    assert!(runner::coverage(&set, &results, Some("keyed"))[0].complete());
}

#[test]
fn shipped_keyed_rules_reach_every_declared_outcome_and_read_in_both_languages() {
    let set = compile_with(&root().join("rules"), &[]).unwrap();
    let limits = cdssd::encounter::Limits::from_settings(&settings_with(&[]).encounter);
    let results = runner::run_tests(&set, &limits, None, Locale::En);
    for c in runner::coverage(&set, &results, None) {
        assert!(c.complete(), "{}: unreached {:?}", c.rule_id, c.unreached());
    }
    for r in set.rules().filter(|r| r.meta.keyed()) {
        let zh = r.meta.title.get(Locale::ZhCn);
        assert!(has_chinese(zh) && zh != r.meta.title.get(Locale::En), "{}: title", r.meta.id);
        for o in &r.meta.outcomes {
            let (zh, en) = (o.text.get(Locale::ZhCn), o.text.get(Locale::En));
            assert!(has_chinese(zh) && zh != en, "{} {}: {zh:?} / {en:?}", r.meta.id, o.label());
        }
    }
}

#[tokio::test]
async fn the_request_locale_picks_the_texts_and_an_unknown_one_is_invalid_argument() {
    use cdssd::proto::v1::cds_service_client::CdsServiceClient;
    let server = crate::support::TestServer::start(settings_with(&[])).await;
    let mut cds = CdsServiceClient::new(server.channel().await);
    let mut by_locale = Vec::new();
    for tag in ["zh-CN", "en"] {
        let mut req = crate::support::request("stemi_primary_pci.json");
        req.options.as_mut().unwrap().locale = tag.into();
        req.options.as_mut().unwrap().include_not_applicable = true;
        let d = cds.evaluate(req).await.unwrap().into_inner().decision.unwrap();
        let f = d.findings.iter().find(|f| f.rule_id == "stemi.door_to_device_90").cloned().expect("finding");
        assert_eq!(f.locale, tag);
        assert_eq!((f.measure_set.as_str(), f.measure_id.as_str()), ("CMS", "AMI-8a"));
        by_locale.push(f);
    }
    let (zh, en) = (&by_locale[0], &by_locale[1]);
    assert_eq!(zh.status, en.status);
    assert_eq!(zh.reason_key, en.reason_key);
    assert!(has_chinese(&zh.message) && has_chinese(&zh.title), "{zh:?}");
    assert!(!has_chinese(&en.message) && zh.message != en.message, "{en:?}");

    let mut req = crate::support::request("stemi_primary_pci.json");
    req.options.as_mut().unwrap().locale = "fr-FR".into();
    let err = cds.evaluate(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let bad = tonic_types::StatusExt::get_details_bad_request(&err).expect("BadRequest details");
    assert_eq!(bad.field_violations[0].field, "options.locale", "{bad:?}");
    server.shutdown().await;
}
