//! A pack's `[applies_to]` (pack.toml): rules of packs that cannot apply are reported
//! `not_applicable` without running, the outcome is the same as running them, and a
//! section that would hide an applicable encounter is rejected (load) or reported
//! (`cdssd rules test`).

use std::{path::Path, sync::Arc};

use cdssd::{
    encounter::{self, Limits},
    rules::{api::encounter::EncounterView, eval::EvalOptions, runner, service::compiler_from, RuleSet, Status},
};
use chrono::{DateTime, Utc};

use crate::rules::{copy_tree, fixture_copy, SLOW_OK};
use crate::support::{example, root, settings_with};

fn compile(dir: &Path) -> Result<RuleSet, String> {
    compiler_from(&settings_with(&[SLOW_OK])).compile_dir(dir).map_err(|e| e.to_string())
}

fn limits() -> Limits {
    Limits::from_settings(&settings_with(&[]).encounter)
}

/// One hour after the last recorded time: every example is complete by then.
fn eval_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().with_timezone(&Utc)
}

#[test]
fn gated_evaluation_equals_running_every_rule() {
    let set = compile(&root().join("rules")).expect("rules/ compiles");
    assert_eq!(set.packs.iter().filter(|p| p.applies_to.is_some()).count(), 8, "every shipped pack declares one");
    let now = eval_time();
    let mut skipped = 0;
    let mut ran = 0;
    let examples = crate::support::example_files();
    assert_eq!(examples.len(), 9, "{examples:?}");
    for name in examples {
        let enc = encounter::from_proto(&example(&name), &limits(), now).expect("example validates");
        let enc = Arc::new(enc);
        let gated = set.evaluate(
            &EncounterView::dynamic(enc.clone(), set.value_sets.clone()),
            &EvalOptions { now, ..Default::default() },
        );
        assert_eq!(gated.findings.len(), set.rule_count(), "{name}: one finding per rule");
        for f in &gated.findings {
            let rule = set.rule(&f.rule_id).unwrap();
            // Fresh view: no memo shared with the gated run.
            let view = EncounterView::dynamic(enc.clone(), set.value_sets.clone());
            let full = set.evaluate_rule_within(rule, &view, now, std::time::Duration::from_secs(5));
            assert_eq!(f.status, full.status, "{name} {}: gated {:?} vs run {:?}", f.rule_id, f.message, full.message);
            if f.status != Status::NotApplicable {
                assert_eq!(f.message, full.message, "{name} {}", f.rule_id);
                assert_eq!(f.evidence.len(), full.evidence.len(), "{name} {}", f.rule_id);
            }
            let pack = set.pack(&rule.pack).unwrap();
            if pack.applies_to.as_ref().is_some_and(|a| f.message == a.reason(f.locale) && f.duration.is_zero()) {
                skipped += 1;
            } else {
                ran += 1;
            }
        }
    }
    // The examples are single-condition encounters: most packs are skipped for each.
    assert!(skipped > 250, "skipped {skipped}, ran {ran}");
    assert!(ran >= 40, "skipped {skipped}, ran {ran}");
}

#[test]
fn a_skipped_pack_reports_its_reason_and_names_each_rule() {
    let set = compile(&root().join("rules")).unwrap();
    let now = eval_time();
    let enc = encounter::from_proto(&example("outpatient_visit.json"), &limits(), now).unwrap();
    let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
    let eval = set.evaluate(&view, &EvalOptions { now, packs: vec!["stemi".into()], ..Default::default() });
    assert_eq!(eval.findings.len(), set.rules().filter(|r| r.pack == "stemi").count());
    assert!(eval.findings.len() >= 10);
    for f in &eval.findings {
        assert_eq!(f.status, Status::NotApplicable);
        // The pack's reason in the finding's locale (`[applies_to] reason` is bilingual).
        let expected = if f.locale == cdssd::locale::Locale::En { "No STEMI diagnosis" } else { "无 STEMI 诊断" };
        assert_eq!(f.message, expected);
        assert!(f.rule_id.starts_with("stemi.") && !f.rule_version.is_empty() && !f.measure.is_empty());
        assert!(f.evidence.is_empty() && f.fault.is_none());
    }
}

fn set_applies_to(rules: &Path, pack: &str, section: &str) {
    let p = rules.join(pack).join("pack.toml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    if let Some(i) = text.find("\n[applies_to]") {
        text.truncate(i);
    }
    text.push_str(&format!("\n\n[applies_to]\n{section}\n"));
    std::fs::write(&p, text).unwrap();
}

#[test]
fn an_applies_to_hiding_an_applicable_test_case_rejects_the_set_at_its_line() {
    let (_tmp, dir) = fixture_copy();
    set_applies_to(&dir, "stemi", "diagnosis = [\"stemi\"]\nreason = \"No STEMI diagnosis\"");
    compile(&dir).expect("a sound section loads");
    // Only outpatients: the fixture's STEMI cases are inpatients whose rules apply.
    set_applies_to(&dir, "stemi", "encounter_class = [\"outpatient\"]\nreason = \"Not an outpatient\"");
    let err = compile(&dir).expect_err("an unsound section is rejected");
    let text = std::fs::read_to_string(dir.join("stemi/pack.toml")).unwrap();
    let line = text.lines().position(|l| l == "[applies_to]").unwrap() + 1;
    assert!(err.contains(&format!("stemi/pack.toml:{line}:1: [applies_to] excludes test case '")), "{err}");
    assert!(err.contains("finds it met"), "{err}");
}

#[test]
fn applies_to_mistakes_are_load_errors() {
    let (_tmp, dir) = fixture_copy();
    for (section, needle) in [
        ("diagnosis = [\"stemii\"]\nreason = \"x\"", "diagnosis: unknown value set 'stemii'"),
        ("encounter_class = [\"ward\"]\nreason = \"x\"", "encounter_class: unknown class 'ward'"),
        ("diagnosis = [\"stemi\"]", "missing field `reason`"),
        ("reason = \"x\"", "names no condition"),
        ("diagnosis = [\"stemi\"]\nreason = \"  \"", "needs a `reason`"),
        ("diagnoses = [\"stemi\"]\nreason = \"x\"", "unknown field `diagnoses`"),
    ] {
        set_applies_to(&dir, "stemi", section);
        let err = compile(&dir).expect_err(section);
        assert!(err.contains("stemi/pack.toml:"), "{section}: {err}");
        assert!(err.contains(needle), "{section}: {err}");
    }
}

#[test]
fn rules_test_checks_every_pack_against_every_test_case() {
    let set = compile(&root().join("rules")).unwrap();
    assert!(runner::check_applies_to(&set, &limits()).is_empty());

    // A VTE section limited to emergency encounters passes the load probe once the pack's
    // own cases are gone, but the other packs' inpatient cases show what it would hide.
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(&root().join("rules"), &repo.join("rules"));
    copy_tree(&root().join("examples/encounters"), &repo.join("examples/encounters"));
    std::fs::remove_dir_all(repo.join("rules/vte/tests")).unwrap();
    set_applies_to(&repo.join("rules"), "vte", "encounter_class = [\"emergency\"]\nreason = \"Not an emergency\"");
    let set = compile(&repo.join("rules")).expect("the load probe has no case that contradicts it");
    let found = runner::check_applies_to(&set, &limits());
    assert!(!found.is_empty());
    assert!(found.iter().all(|e| e.path == "vte/pack.toml" && e.message.contains("[applies_to] excludes test case")));
    assert!(found.iter().any(|e| e.message.contains("rule vte.prophylaxis_vte1 finds it")), "{found:?}");
}
