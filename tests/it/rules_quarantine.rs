//! A rule that keeps hitting its budget is quarantined (issue 17, resource limits): the
//! real daemon over gRPC, a rules directory with a data-dependent endless loop that the
//! test cases do not reach. After `rules.quarantine_after` overruns the rule is skipped
//! (an `error` finding with reason `quarantined`, in the request's language, without
//! running it), the other rules answer as before, the event is logged without patient
//! data and counted; after the cool-down it runs on probation; a fixed and reloaded rule
//! set starts clean.

use std::time::Duration;

use cdssd::proto::v1 as pb;

use crate::daemon::{request, Daemon};
use crate::rules::fixture_copy;

const RULE: &str = "stemi.loops_on_age";
/// The age that sends the rule into its loop (no test case or probe encounter has it).
const LOOP_AGE: u32 = 103;

fn script(looping: bool) -> String {
    let body = if looping { "if enc.age == 103 { let n = 0; loop { n += 1; } }" } else { "" };
    format!(
        r#"// Fixture: loops forever on one age (a data-dependent endless loop).
fn meta() {{
    #{{
        id: "{RULE}",
        title: "Fixture rule that loops on one age",
        measure: "none (test fixture)",
        measure_set: "LOCAL",
        measure_id: "fixture",
        measure_version: "1",
        version: "1.0.0",
        severity: "info",
        triggers: ["admission", "discharge", "retrospective"],
    }}
}}

fn evaluate(enc) {{
    {body}
    if !enc.has_diagnosis("stemi") {{ return not_applicable("No STEMI diagnosis"); }}
    met("STEMI recorded", [])
}}
"#
    )
}

fn aged(age: u32, locale: &str) -> pb::EvaluateRequest {
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Admission);
    req.encounter.as_mut().unwrap().patient.as_mut().unwrap().age_years = Some(age);
    req.options.as_mut().unwrap().locale = locale.to_string();
    req
}

async fn run(
    client: &mut pb::cds_service_client::CdsServiceClient<tonic::transport::Channel>,
    age: u32,
    locale: &str,
) -> Vec<pb::Finding> {
    client.evaluate(aged(age, locale)).await.expect("evaluates").into_inner().decision.unwrap().findings
}

fn of<'a>(findings: &'a [pb::Finding], id: &str) -> &'a pb::Finding {
    findings.iter().find(|f| f.rule_id == id).unwrap_or_else(|| panic!("no finding of {id}: {findings:?}"))
}

/// Status of every finding but the looping rule's.
fn others(findings: &[pb::Finding]) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> =
        findings.iter().filter(|f| f.rule_id != RULE).map(|f| (f.rule_id.clone(), f.status)).collect();
    v.sort();
    v
}

fn quarantines(scrape: &crate::daemon::Scrape) -> f64 {
    scrape.get(&format!("cdssd_rule_quarantines_total{{rule_id=\"{RULE}\"}}"))
}

#[tokio::test]
async fn a_rule_that_keeps_hitting_its_budget_is_quarantined_then_on_probation_and_a_fixed_set_starts_clean() {
    let (_tmp, rules) = fixture_copy();
    let rule_file = rules.join("stemi/loops_on_age.rhai");
    std::fs::write(&rule_file, script(true)).unwrap();
    let dir = rules.to_str().unwrap();
    let daemon = Daemon::start(&[
        ("CDSSD__RULES__DIR", dir),
        ("CDSSD__RULES__WATCH", "false"),
        ("CDSSD__RULES__MAX_RULE_MS", "200"),
        ("CDSSD__RULES__QUARANTINE_AFTER", "2"),
        ("CDSSD__RULES__QUARANTINE_WINDOW_S", "60"),
        ("CDSSD__RULES__QUARANTINE_COOL_DOWN_S", "3"),
    ]);
    let mut client = daemon.client().await;

    // The same encounter at an ordinary age: the rule runs; the reference for the others.
    let normal = run(&mut client, 62, "en").await;
    assert_eq!(of(&normal, RULE).status(), pb::FindingStatus::Met, "{:?}", of(&normal, RULE));
    let reference = others(&normal);
    assert!(!reference.is_empty());

    // Two overruns: each an error saying the rule was stopped, the others unaffected.
    for i in 0..2 {
        let f = run(&mut client, LOOP_AGE, "en").await;
        let mine = of(&f, RULE);
        assert_eq!(mine.status(), pb::FindingStatus::Error, "overrun {i}: {mine:?}");
        assert!(mine.message.contains("stopped: the rule"), "overrun {i}: {}", mine.message);
        assert_ne!(mine.reason_key, "quarantined", "overrun {i}");
        assert_eq!(others(&f), reference, "overrun {i}: the other rules answer as before");
    }
    assert_eq!(quarantines(&daemon.scrape().await), 1.0, "the second overrun quarantined it");

    // Quarantined: skipped on every encounter, the looping one and the ordinary one, in
    // the request's language; the other rules answer as before.
    for (age, locale, says) in [
        (LOOP_AGE, "en", "Rule quarantined: it stopped at its operation or time budget 2 times within 60 s"),
        (62, "en", "Rule quarantined"),
        (62, "zh-CN", "规则已隔离：60 秒内 2 次超出运算量或时间上限"),
    ] {
        let f = run(&mut client, age, locale).await;
        let mine = of(&f, RULE);
        assert_eq!(mine.status(), pb::FindingStatus::Error, "{age} {locale}: {mine:?}");
        assert_eq!(mine.reason_key, "quarantined", "{age} {locale}");
        assert!(mine.message.contains(says), "{age} {locale}: {}", mine.message);
        assert!(!mine.message.contains("103") && !mine.message.contains("pt-"), "no patient data: {}", mine.message);
        assert_eq!(others(&f), reference, "{age} {locale}");
    }

    // After the cool-down: probation. One more overrun quarantines it at once.
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let f = run(&mut client, LOOP_AGE, "en").await;
    assert!(of(&f, RULE).message.contains("stopped: the rule"), "it ran again: {:?}", of(&f, RULE));
    let f = run(&mut client, 62, "en").await;
    assert_eq!(of(&f, RULE).reason_key, "quarantined", "probation: one overrun suffices");
    assert_eq!(quarantines(&daemon.scrape().await), 2.0);

    // Fixed and reloaded: a new set, a clean state; the rule answers at once.
    std::fs::write(&rule_file, script(false)).unwrap();
    let mut admin = daemon.admin().await;
    let reload = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    assert!(reload.errors.is_empty(), "{reload:?}");
    let f = run(&mut client, LOOP_AGE, "en").await;
    assert_eq!(of(&f, RULE).status(), pb::FindingStatus::Met, "{:?}", of(&f, RULE));

    let (status, logs) = daemon.stop_with_logs();
    assert!(status.success());
    let quarantined: Vec<&String> = logs.iter().filter(|l| l.contains("rule quarantined")).collect();
    assert_eq!(quarantined.len(), 2, "{logs:#?}");
    for line in quarantined {
        assert!(line.contains(RULE) && line.contains("ERROR"), "{line}");
        assert!(!line.contains("pt-000101"), "no patient data: {line}");
    }
}
