//! Local variants by explicit override (`meta().overrides`): one finding where there were
//! two, the variant's saying which rule it replaces, and every misuse a load error at the
//! variant's `overrides:` with `path:line:col`.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::api::encounter::EncounterView;
use super::eval::EvalOptions;
use super::load::Compiler;
use super::probe::synthetic_encounter;
use crate::encounter::Limits;

fn compiler() -> Compiler {
    let limits = Limits {
        max_items_per_list: 100,
        max_text_bytes: 1000,
        max_note_bytes: 1000,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: Vec::new(),
    };
    Compiler::new(super::engine::RuleLimits::default(), chrono_tz::Asia::Shanghai, limits)
}

/// A keyed rule `<pack>.<stem>` that always returns `kind(key)`; `extra` goes into meta().
fn rule(id: &str, set: &str, version: &str, kind: &str, extra: &str) -> String {
    format!(
        r#"fn meta() {{
    #{{
        id: "{id}",
        title: #{{ "zh-CN": "测试指标", en: "Test measure" }},
        measure: "{set} T-1",
        measure_set: "{set}",
        measure_id: "T-1",
        measure_version: "{version}",
        version: "1.0.0",
        severity: "warning",
        triggers: ["discharge"],{extra}
        outcomes: #{{ {kind}: #{{ k: #{{ "zh-CN": "结果", en: "result" }} }} }},
    }}
}}

fn evaluate(enc) {{
    {kind}("k")
}}
"#
    )
}

fn pack(files: &mut BTreeMap<String, String>, id: &str) {
    files.insert(format!("{id}/pack.toml"), format!("id = \"{id}\"\ntitle = \"{id}\"\n"));
}

/// `national.x` (met) and `local.x_local` (not met) replacing it.
fn files() -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    pack(&mut f, "national");
    pack(&mut f, "local");
    f.insert("national/x.rhai".into(), rule("national.x", "NHC-2022", "2022", "met", ""));
    f.insert(
        "local/x_local.rhai".into(),
        rule("local.x_local", "NHC-2022", "2022-local", "not_met", "\n        overrides: \"national.x\","),
    );
    f
}

fn errors(files: BTreeMap<String, String>, c: &Compiler) -> Vec<String> {
    c.compile_files(Path::new("r"), files).expect_err("rejected").0.iter().map(|e| e.to_string()).collect()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").unwrap().with_timezone(&Utc)
}

#[test]
fn the_replaced_rule_does_not_run_and_the_variant_says_whose_variant_it_is() {
    let set = compiler().compile_files(Path::new("r"), files()).expect("loads");
    assert_eq!(set.overridden_by("national.x"), Some("local.x_local"));
    assert_eq!(set.overridden_by("local.x_local"), None);
    let enc = EncounterView::dynamic(Arc::new(synthetic_encounter(now())), set.value_sets.clone());
    let run = set.evaluate(&enc, &EvalOptions { now: now(), ..Default::default() });
    let ids: Vec<&str> = run.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(ids, ["local.x_local"], "one finding, the variant's");
    let f = &run.findings[0];
    assert_eq!(f.local_variant_of, "national.x");
    assert_eq!(
        (f.measure_set.as_str(), f.measure_id.as_str(), f.measure_version.as_str()),
        ("NHC-2022", "T-1", "2022-local")
    );
    assert_eq!(f.status, super::Status::NotMet);

    // Asked for the replaced rule's pack only: still the variant, never the national rule.
    let only = set.evaluate(&enc, &EvalOptions { now: now(), packs: vec!["national".into()], ..Default::default() });
    assert_eq!(only.findings.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(), ["local.x_local"]);

    // Without the override both run: two findings.
    let mut plain = files();
    plain.insert("local/x_local.rhai".into(), rule("local.x_local", "NHC-2022", "2022-local", "not_met", ""));
    let set = compiler().compile_files(Path::new("r"), plain).expect("loads");
    let run = set.evaluate(&enc, &EvalOptions { now: now(), ..Default::default() });
    assert_eq!(run.findings.len(), 2);
    assert!(run.findings.iter().all(|f| f.local_variant_of.is_empty()));
    assert!(set.overrides.is_empty());
}

#[test]
fn misuses_of_overrides_are_load_errors_at_the_field() {
    let c = compiler();
    let variant = |target: &str, set: &str, version: &str| {
        rule("local.x_local", set, version, "not_met", &format!("\n        overrides: \"{target}\","))
    };
    let with = |v: String| {
        let mut f = files();
        f.insert("local/x_local.rhai".into(), v);
        f
    };
    // `overrides:` is on line 12, column 9 of the generated script.
    let at = "local/x_local.rhai:12:9: ";

    let e = errors(with(variant("national.y", "NHC-2022", "2022-local")), &c);
    assert_eq!(
        e,
        [format!("{at}overrides: unknown rule 'national.y' (a rule id of the set, <pack>.<file name>) — did you mean 'national.x'?")]
    );
    let e = errors(with(variant("local.x_local", "NHC-2022", "2022-local")), &c);
    assert!(e[0].starts_with(&format!("{at}'local.x_local' overrides itself")), "{e:?}");
    let e = errors(with(variant("national.x", "CMS", "2022-local")), &c);
    assert!(e[0].contains("measure_set 'CMS' and measure_id 'T-1' must be 'NHC-2022' and 'T-1'"), "{e:?}");
    let e = errors(with(variant("national.x", "NHC-2022", "2022")), &c);
    assert!(e[0].starts_with(&format!("{at}a local variant reports its own measure_version")), "{e:?}");
    assert!(e[0].contains("\"2022-local\""), "{e:?}");

    // Two variants of one rule: the second (by id) is refused, naming the first.
    let mut two = files();
    two.insert(
        "local/x_other.rhai".into(),
        rule("local.x_other", "NHC-2022", "2022-local", "not_met", "\n        overrides: \"national.x\","),
    );
    let e = errors(two, &c);
    assert_eq!(
        e,
        ["local/x_other.rhai:12:9: 'national.x' is already overridden by 'local.x_local' (local/x_local.rhai): one local variant per rule"]
    );

    // A chain: a variant of the variant.
    let mut chain = files();
    chain.insert(
        "local/x_again.rhai".into(),
        rule("local.x_again", "NHC-2022", "2022-local2", "not_met", "\n        overrides: \"local.x_local\","),
    );
    let e = errors(chain, &c);
    assert!(
        e[0].starts_with(
            "local/x_again.rhai:12:9: overrides 'local.x_local', which is itself a local variant (of 'national.x')"
        ),
        "{e:?}"
    );

    // The target's measure set is not run by the deployment.
    let mut other_set = files();
    pack(&mut other_set, "cms");
    other_set.insert("cms/y.rhai".into(), rule("cms.y", "CMS", "v1", "met", ""));
    let only_cms = compiler().with_measure_sets(&["CMS".to_string()]);
    let e = errors(other_set, &only_cms);
    assert!(
        e.iter()
            .any(|e| e.starts_with(at) && e.contains("which rules.measure_sets does not run: neither rule would run")),
        "{e:?}"
    );
}
