//! QC rules: the fixture pack's own cases, `cdssd rules check|test`, every fault the
//! engine must contain (each with file and position, the rest keep working, a reload
//! containing it is rejected whole), evaluation isolation and missing-data findings.

use std::{path::Path, process::Command, sync::Arc};

use cdssd::{
    encounter::Limits,
    locale::{has_chinese, Locale},
    rules::{
        api::encounter::EncounterView, probe::synthetic_encounter, runner, service::compiler_from, store::RuleStore,
        test_report, RuleSet, RulesError, Status,
    },
};

use crate::support::{root, settings_with};

/// The engine's own small pack (three STEMI rules, value sets, 16 cases).
pub fn fixture_dir() -> std::path::PathBuf {
    root().join("tests/fixtures/rules")
}

/// Copy a directory tree (files only; follows nothing special).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A writable copy of the fixture pack inside `<tmp>/repo/rules`, with the example
/// encounters reachable as `examples/encounters/...` from its parent.
pub fn fixture_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(&fixture_dir(), &repo.join("rules"));
    copy_tree(&root().join("examples/encounters"), &repo.join("examples/encounters"));
    (tmp, repo.join("rules"))
}

/// Generous wall-clock budget: a debug build on a busy machine must not turn a slow
/// (but finite) rule into a time-budget error; loops are stopped by the operation limit.
pub const SLOW_OK: (&str, &str) = ("CDSSD__RULES__MAX_RULE_MS", "5000");

fn compile(dir: &Path) -> Result<RuleSet, RulesError> {
    compiler_from(&settings_with(&[SLOW_OK])).compile_dir(dir)
}

fn encounter_limits() -> Limits {
    Limits::from_settings(&settings_with(&[]).encounter)
}

#[test]
fn fixture_pack_cases_all_pass() {
    let set = compile(&fixture_dir()).expect("fixture pack compiles");
    assert_eq!(set.rule_count(), 3);
    let results = runner::run_tests(&set, &encounter_limits(), None, Locale::En);
    assert_eq!(results.len(), 16);
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert!(failed.is_empty(), "{}", test_report::render(&results, set.tz(), Locale::En));
    assert!(runner::check_tests(&set).is_empty());
}

#[test]
fn shipped_rules_compile_and_pass_their_cases() {
    let set = compile(&root().join("rules")).unwrap_or_else(|e| panic!("rules/ must compile: {e}"));
    let results = runner::run_tests(&set, &encounter_limits(), None, Locale::En);
    assert!(results.iter().all(|r| r.passed()), "{}", test_report::render(&results, set.tz(), Locale::En));
}

#[test]
fn version_is_a_content_hash() {
    let a = compile(&fixture_dir()).unwrap();
    let b = compile(&fixture_dir()).unwrap();
    assert_eq!(a.version, b.version, "same content, same version");
    let (_tmp, dir) = fixture_copy();
    std::fs::write(dir.join("stemi/README.txt"), "ignored: not a rule file").unwrap();
    assert_eq!(compile(&dir).unwrap().version, a.version, "only .rhai/.toml files count");
    let p = dir.join("valuesets/statin.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace("\"C10BX\"]", "\"C10BX\", \"C10AX\"]");
    std::fs::write(&p, text).unwrap();
    assert_ne!(compile(&dir).unwrap().version, a.version, "a value-set edit is a new version");
}

fn cdssd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(args)
        .env("CDSSD__METRICS__LISTEN", "")
        .env(SLOW_OK.0, SLOW_OK.1)
        .output()
        .expect("cdssd runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_rules_test_prints_a_table_and_the_failing_evidence() {
    let dir = fixture_dir();
    let (code, out) = cdssd(&["rules", "test", dir.to_str().unwrap(), "--locale", "en"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("16 passed, 0 failed, 16 cases"), "{out}");
    assert!(out.contains("ok    stemi.door_to_device"), "{out}");

    let (_tmp, copy) = fixture_copy();
    let p = copy.join("stemi/tests/door_to_device.toml");
    let text = std::fs::read_to_string(&p).unwrap().replacen("expect = \"met\"", "expect = \"not_met\"", 1);
    std::fs::write(&p, text).unwrap();
    let (code, out) = cdssd(&["rules", "test", copy.to_str().unwrap(), "--filter", "door_to", "--locale", "en"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  stemi.door_to_device"), "{out}");
    assert!(out.contains("expected not_met, got met"), "{out}");
    assert!(out.contains("evidence: procedures/proc-pci-1"), "the failing finding's evidence is shown: {out}");
    assert!(out.contains("5 passed, 1 failed, 6 cases"), "{out}");
    assert!(!has_chinese(&out.replace(&copy.display().to_string(), "")), "en report: {out}");
}

/// `rules test` writes its report and the findings' texts in `--locale`, else in
/// `server.default_locale` (zh-CN embedded); the verdicts are the same in both.
#[test]
fn cli_rules_test_speaks_the_requested_locale_with_the_same_verdicts() {
    // A shipped rule with texts in both locales; its first case (met) deliberately miswritten.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("rules");
    for part in ["stemi", "valuesets", "mappings"] {
        copy_tree(&root().join("rules").join(part), &copy.join(part));
    }
    copy_tree(&root().join("examples/encounters"), &tmp.path().join("examples/encounters"));
    let p = copy.join("stemi/tests/ecg_10min_nhc.toml");
    let text = std::fs::read_to_string(&p).unwrap().replacen("expect = \"met\"", "expect = \"not_met\"", 1);
    std::fs::write(&p, text).unwrap();
    let dir = copy.to_str().unwrap();
    let only = "stemi.ecg_10min_nhc";
    let (code_default, default) = cdssd(&["rules", "test", dir, "--filter", only]);
    let (code_zh, zh) = cdssd(&["rules", "test", dir, "--filter", only, "--locale", "zh-CN"]);
    let (code_en, en) = cdssd(&["rules", "test", dir, "--filter", only, "--locale", "en"]);
    assert_eq!((code_default, code_zh, code_en), (1, 1, 1), "{zh}\n{en}");
    assert_eq!(default, zh, "the embedded default locale is zh-CN");
    assert!(zh.contains("预期 not_met，实际 met"), "{zh}");
    assert!(en.contains("expected not_met, got met"), "{en}");
    assert!(zh.contains("证据: procedures/proc-ecg-1"), "{zh}");
    assert!(zh.contains("通过 11，失败 1，共 12 个用例"), "{zh}");
    assert!(en.contains("11 passed, 1 failed, 12 cases"), "{en}");
    assert!(zh.contains("结果覆盖率"), "{zh}");
    // The finding's own text is the rule's zh-CN text, not the en one.
    let message = |out: &str, label: &str| {
        out.lines().find_map(|l| l.trim().strip_prefix(label).map(str::to_string)).unwrap_or_else(|| panic!("{out}"))
    };
    let (m_zh, m_en) = (message(&zh, "结果: "), message(&en, "finding: "));
    assert!(has_chinese(&m_zh) && !has_chinese(&m_en) && m_zh != m_en, "{m_zh} / {m_en}");
    // Same table rows (marks, rules, statuses) in both.
    let rows = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {}", w[0], w[1], w[w.len() - 1])
            })
            .collect()
    };
    assert_eq!(rows(&zh), rows(&en));
    assert!(rows(&zh).len() >= 7, "{zh}");

    let (code, out) = cdssd(&["rules", "test", dir, "--locale", "fr"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not supported (supported: zh-CN, en)"), "{out}");
}

#[test]
fn cli_rules_check_reports_path_line_col() {
    let (code, out) = cdssd(&["rules", "check", fixture_dir().to_str().unwrap(), "--locale", "en"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK — version"), "{out}");
    let (code, out) = cdssd(&["rules", "check", fixture_dir().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK — 版本"), "zh-CN by default: {out}");
    // The per-pack verification lines too.
    assert!(out.contains("各规则包的测试用例：\nstemi  已验证（16/16 个用例通过）"), "{out}");
    let (_tmp, copy) = fixture_copy();
    let p = copy.join("stemi/statin_discharge.rhai");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("enc.discharge_meds(\"statin\")", "enc.discharge_meds(\"statins\")");
    std::fs::write(&p, text).unwrap();
    let error = "stemi/statin_discharge.rhai:19:33: unknown value set 'statins' — did you mean 'statin'?";
    let (code, out) = cdssd(&["rules", "check", copy.to_str().unwrap(), "--locale", "en"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{error}\n  means: no value set of that name")), "{out}");
    assert!(out.contains("1 error(s); the rule set would be rejected"), "{out}");
    // In Chinese: the same error (it quotes the script), explained in Chinese under it.
    let (code, out) = cdssd(&["rules", "check", copy.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{error}\n  说明：valuesets/ 中没有这个值集")), "{out}");
    assert!(out.contains("1 处错误，整个规则集将被拒绝"), "{out}");
}

/// A rule file that fails in a particular way, and what the load error must say.
struct Fault {
    name: &'static str,
    body: &'static str,
    line: u32,
    needle: &'static str,
}

const META: &str = r#"fn meta() { #{ id: "stemi.bad", title: "Bad", measure: "TEST", measure_set: "LOCAL", measure_id: "T-1", measure_version: "1", version: "1.0.0", severity: "info", triggers: ["discharge"] } }
"#;

fn faults() -> Vec<Fault> {
    vec![
        Fault { name: "syntax error", body: "fn evaluate(enc) {\n  let x = ;\n}", line: 3, needle: "" },
        Fault {
            name: "unknown function",
            body: "fn evaluate(enc) {\n  met(minute_between(enc.arrival, now()))\n}",
            line: 3,
            needle: "unknown function 'minute_between' — did you mean 'minutes_between'?",
        },
        Fault { name: "infinite loop", body: "fn evaluate(enc) {\n  loop { }\n}", line: 2, needle: "endless loop" },
        Fault {
            name: "unbounded recursion",
            body: "fn down(n) { down(n + 1) }\nfn evaluate(enc) {\n  down(0)\n}",
            line: 3,
            needle: "recursion",
        },
        Fault {
            name: "huge string",
            body: "fn evaluate(enc) {\n  let s = \"xxxxxxxx\";\n  loop { s += s; }\n}",
            line: 2,
            needle: "allowed size",
        },
        Fault {
            name: "huge array",
            body: "fn evaluate(enc) {\n  let a = [0];\n  loop { a += a; }\n}",
            line: 2,
            needle: "allowed size",
        },
        Fault {
            name: "runtime type error",
            body: "fn evaluate(enc) {\n  let x = enc.department;\n  met(\"x\" + (x - 1))\n}",
            line: 4,
            needle: "-",
        },
        Fault { name: "not a finding", body: "fn evaluate(enc) {\n  42\n}", line: 2, needle: "must return a finding" },
        Fault {
            name: "unknown value set",
            body: "fn evaluate(enc) {\n  let vs = \"nope\";\n  met(\"\", enc.given(vs))\n}",
            line: 4,
            needle: "unknown value set 'nope'",
        },
    ]
}

#[test]
fn every_fault_is_reported_with_file_and_position_and_rejects_the_set() {
    for f in faults() {
        let (_tmp, dir) = fixture_copy();
        std::fs::write(dir.join("stemi/bad.rhai"), format!("{META}{}", f.body)).unwrap();
        let errs = match compile(&dir) {
            Err(RulesError::Load(e)) => e.0,
            other => panic!("{}: expected load errors, got {other:?}", f.name),
        };
        let e = errs.iter().find(|e| e.path == "stemi/bad.rhai").unwrap_or_else(|| panic!("{}: {errs:?}", f.name));
        assert_eq!(e.line, f.line, "{}: {e}", f.name);
        assert!(e.column >= 1, "{}: {e}", f.name);
        assert!(e.message.contains(f.needle), "{}: {e}", f.name);
        assert!(e.to_string().starts_with(&format!("stemi/bad.rhai:{}:{}: ", e.line, e.column)), "{e}");
        assert!(errs.iter().all(|e| e.path == "stemi/bad.rhai"), "{}: only the bad file is blamed: {errs:?}", f.name);
    }
}

#[test]
fn missing_or_invalid_metadata_is_a_load_error_at_the_field() {
    let (_tmp, dir) = fixture_copy();
    let src = "fn meta() {\n  #{\n    id: \"stemi.bad\",\n    title: \"Bad\",\n    version: \"one\",\n    severity: \"urgent\",\n    triggers: [\"discharge\", \"lunch\"],\n  }\n}\nfn evaluate(enc) { met(\"\") }\n";
    std::fs::write(dir.join("stemi/bad.rhai"), src).unwrap();
    let Err(RulesError::Load(errs)) = compile(&dir) else { panic!("must be rejected") };
    let text: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
    let want = [
        "stemi/bad.rhai:1:1: missing metadata field 'measure'",
        "stemi/bad.rhai:5:5: version 'one' must look like 1.0.0",
        "stemi/bad.rhai:6:5: severity 'urgent' must be info, warning or critical",
        "stemi/bad.rhai:7:5: unknown trigger 'lunch'",
    ];
    for w in want {
        assert!(text.iter().any(|t| t.starts_with(w)), "missing {w:?} in {text:#?}");
    }
}

#[test]
fn structural_problems_are_load_errors() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "stemi/other.rhai",
            &format!("{META}fn evaluate(enc) {{ met(\"\") }}"),
            "rule id 'stemi.bad' must be 'stemi.other'",
        ),
        ("stemi/top.rhai", "let x = 1;\nfn meta() { #{} }\nfn evaluate(enc) { met(\"\") }", "only `fn` definitions"),
        (
            "stemi/tests/ghost.toml",
            "[[case]]\nname = \"x\"\nbase = \"b.json\"\nnow = \"2026-01-01T00:00:00Z\"\nexpect = \"met\"\n",
            "test file has no rule",
        ),
        ("valuesets/bad.toml", "name = \"bad\"\n[[include]]\nsystem = \"ATC\"\nranges = [\"B01\"]\n", "must look like"),
    ];
    for (file, content, needle) in cases {
        let (_tmp, dir) = fixture_copy();
        std::fs::write(dir.join(file), content).unwrap();
        let Err(RulesError::Load(errs)) = compile(&dir) else { panic!("{file}: must be rejected") };
        assert!(errs.0.iter().any(|e| e.path == file && e.message.contains(needle)), "{file}: {errs}");
    }
}

#[test]
fn a_fault_on_a_test_case_encounter_rejects_the_set() {
    // Loops only for STEMI patients: the empty probe encounter passes, the test case catches it.
    let (_tmp, dir) = fixture_copy();
    let body =
        "fn evaluate(enc) {\n  if enc.has_diagnosis(\"stemi\") {\n    loop { }\n  }\n  not_applicable(\"no\")\n}";
    std::fs::write(dir.join("stemi/bad.rhai"), format!("{META}{body}")).unwrap();
    std::fs::write(
        dir.join("stemi/tests/bad.toml"),
        "[[case]]\nname = \"stemi\"\nbase = \"examples/encounters/stemi_primary_pci.json\"\nnow = \"2026-03-07T00:00:00Z\"\nexpect = \"met\"\n",
    )
    .unwrap();
    let Err(RulesError::Load(errs)) = compile(&dir) else { panic!("must be rejected") };
    let e = &errs.0[0];
    assert_eq!((e.path.as_str(), e.line), ("stemi/bad.rhai", 2), "{errs}");
    assert!(e.message.contains("endless loop") && e.message.contains("in test case 'stemi'"), "{e}");
}

#[test]
fn a_rule_failing_at_run_time_yields_error_for_that_rule_only() {
    // Fails only in a department no probe uses, so it loads; at run time only it errors.
    let (_tmp, dir) = fixture_copy();
    let body = "fn evaluate(enc) {\n  if enc.department == \"ZZZ\" {\n    let n = enc.department - 1;\n  }\n  not_applicable(\"no\")\n}";
    std::fs::write(dir.join("stemi/bad.rhai"), format!("{META}{body}")).unwrap();
    let set = compile(&dir).expect("loads");
    let mut enc = synthetic_encounter(chrono::Utc::now());
    enc.department = "ZZZ".into();
    let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
    let opts = cdssd::rules::eval::EvalOptions { now: chrono::Utc::now(), locale: Locale::En, ..Default::default() };
    let eval = set.evaluate(&view, &opts);
    assert_eq!(eval.findings.len(), 4);
    for f in &eval.findings {
        if f.rule_id == "stemi.bad" {
            assert_eq!(f.status, Status::Error);
            assert!(f.message.starts_with("Rule error: stemi/bad.rhai:4:"), "{}", f.message);
        } else {
            assert_eq!(f.status, Status::NotApplicable, "{f:?}");
        }
    }
}

#[test]
fn missing_data_is_named_not_a_silent_not_met() {
    let set = compile(&fixture_dir()).unwrap();
    let results = runner::run_tests(&set, &encounter_limits(), Some("door_to_device"), Locale::En);
    let r = results.iter().find(|r| r.case.starts_with("missing onset")).expect("case exists");
    let f = r.finding.as_ref().unwrap();
    assert_eq!(f.status, Status::MissingData);
    assert_eq!(f.missing_data, vec!["symptom_onset_time".to_string()]);
    assert!(f.fault.is_none(), "a deliberate missing_data finding is not a script fault");
}

#[test]
fn rejected_reload_keeps_the_old_set_and_reports_every_error() {
    let (_tmp, dir) = fixture_copy();
    let store = RuleStore::open(&dir, compiler_from(&settings_with(&[SLOW_OK]))).unwrap();
    let before = store.current();
    std::fs::write(dir.join("stemi/bad.rhai"), format!("{META}fn evaluate(enc) {{\n  loop {{ }}\n}}")).unwrap();
    std::fs::write(dir.join("stemi/worse.rhai"), "fn evaluate(enc) {\n  let = 1;\n}").unwrap();
    let outcome = store.reload(cdssd::reload::Cause::Admin);
    assert!(!outcome.loaded && !outcome.changed);
    assert_eq!(outcome.version, before.version);
    assert_eq!(store.current().version, before.version, "old set stays in force");
    let paths: Vec<&str> = outcome.errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"stemi/bad.rhai") && paths.contains(&"stemi/worse.rhai"), "{:?}", outcome.errors);
    assert_eq!(store.last_reload().errors.len(), outcome.errors.len());
    // Fix it: the next reload goes through.
    std::fs::remove_file(dir.join("stemi/bad.rhai")).unwrap();
    std::fs::remove_file(dir.join("stemi/worse.rhai")).unwrap();
    let p = dir.join("stemi/statin_discharge.rhai");
    std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replace("\"1.0.0\"", "\"1.1.0\"")).unwrap();
    let outcome = store.reload(cdssd::reload::Cause::Admin);
    assert!(outcome.loaded && outcome.changed, "{outcome:?}");
    assert_ne!(store.current().version, before.version);
    assert_eq!(store.current().rule("stemi.statin_discharge").unwrap().meta.version, "1.1.0");
    // The request that took the old set still holds it.
    assert_eq!(before.rule("stemi.statin_discharge").unwrap().meta.version, "1.0.0");
}

fn meta_for(id: &str) -> String {
    format!(
        "fn meta() {{ #{{ id: \"{id}\", title: \"T\", measure: \"TEST\", measure_set: \"LOCAL\", measure_id: \"T-1\", measure_version: \"1\", version: \"1.0.0\", severity: \"info\", triggers: [\"discharge\"] }} }}\n"
    )
}

#[test]
fn pack_library_and_memo_are_shared_within_a_pack_only() {
    let (_tmp, dir) = fixture_copy();
    std::fs::write(
        dir.join("stemi/lib.rhai"),
        "// Shared helpers of the STEMI pack.\nfn arrival_hour(enc) { hospital_day(enc.arrival, enc.arrival) }\nfn costly() {\n  memo(\"costly\", || { let s = 0; for i in 0..2000 { s += i; } s })\n}\nfn broken(enc) {\n  enc.department - 1\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("stemi/memo_a.rhai"),
        format!("{}fn evaluate(enc) {{ met(`${{costly()}} ${{arrival_hour(enc)}}`) }}", meta_for("stemi.memo_a")),
    )
    .unwrap();
    // Same key, a closure that would fail: it never runs because memo_a computed the value.
    std::fs::write(
        dir.join("stemi/memo_b.rhai"),
        format!(
            "{}fn evaluate(enc) {{\n  if enc.department == \"ZZZ\" {{ return met(`${{broken(enc)}}`); }}\n  met(`${{memo(\"costly\", || {{ throw \"memo_b computed\" }})}}`)\n}}",
            meta_for("stemi.memo_b")
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("other")).unwrap();
    std::fs::write(dir.join("other/pack.toml"), "id = \"other\"\ntitle = \"Other\"\n").unwrap();
    std::fs::write(
        dir.join("other/memo_c.rhai"),
        format!("{}fn evaluate(enc) {{ met(`${{memo(\"costly\", || 7)}}`) }}", meta_for("other.memo_c")),
    )
    .unwrap();
    let set = compile(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.rule_count(), 6, "lib.rhai is not a rule");

    let enc = Arc::new(synthetic_encounter(chrono::Utc::now()));
    let view = EncounterView::dynamic(enc.clone(), set.value_sets.clone());
    let eval = set.evaluate(&view, &cdssd::rules::eval::EvalOptions { now: chrono::Utc::now(), ..Default::default() });
    let msg = |id: &str| eval.findings.iter().find(|f| f.rule_id == id).unwrap().message.clone();
    assert_eq!(msg("stemi.memo_a"), "1999000 1");
    assert_eq!(msg("stemi.memo_b"), "1999000", "memo_b got memo_a's value");
    assert_eq!(msg("other.memo_c"), "7", "memo keys are per pack");

    // A run-time error inside a library function is reported in lib.rhai.
    let mut zzz = synthetic_encounter(chrono::Utc::now());
    zzz.department = "ZZZ".into();
    let view = EncounterView::dynamic(Arc::new(zzz), set.value_sets.clone());
    let budget = std::time::Duration::from_secs(5);
    let f = set.evaluate_rule_in(set.rule("stemi.memo_b").unwrap(), &view, chrono::Utc::now(), budget, Locale::En);
    assert_eq!(f.status, Status::Error);
    assert!(f.message.starts_with("Rule error: stemi/lib.rhai:7:"), "{}", f.message);
    let f = set.evaluate_rule_in(set.rule("stemi.memo_b").unwrap(), &view, chrono::Utc::now(), budget, Locale::ZhCn);
    assert!(f.message.starts_with("规则错误：stemi/lib.rhai:7:"), "{}", f.message);

    // A library is helpers only.
    std::fs::write(dir.join("stemi/lib.rhai"), "fn evaluate(enc) { met(\"\") }\n").unwrap();
    let Err(RulesError::Load(errs)) = compile(&dir) else { panic!("must be rejected") };
    assert!(
        errs.0.iter().any(|e| e.path == "stemi/lib.rhai" && e.message.contains("must not define 'evaluate'")),
        "{errs}"
    );
}
