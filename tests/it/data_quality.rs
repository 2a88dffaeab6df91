//! An encounter with a coding no loaded value set can match gets the data-quality notice
//! and the QC card in its decision, and the daemon counts it by list and code system.
use cdssd::proto::v1 as pb;

use crate::daemon::{request, Daemon};

#[tokio::test]
async fn unmatchable_local_diagnosis_gives_notice_card_and_metric() {
    let daemon = Daemon::start(&[("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", "LOCAL,HOSP-DX")]);
    let mut client = daemon.client().await;
    let before = daemon.scrape().await;
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Admission);
    let enc = req.encounter.as_mut().unwrap();
    let mut local = enc.diagnoses[0].clone();
    local.id = "dx-local".into();
    local.rank = pb::DiagnosisRank::Secondary as i32;
    local.code = Some(pb::Coding { system: "HOSP-DX".into(), code: "XB-7".into(), display: String::new() });
    enc.diagnoses.push(local);
    let decision = client.evaluate(req).await.expect("valid").into_inner().decision.expect("decision");
    let after = daemon.scrape().await;

    let notice = decision.data_quality.iter().find(|n| n.item_id == "dx-local").expect("notice for dx-local");
    assert_eq!((notice.list.as_str(), notice.code_system.as_str()), ("diagnoses", "HOSP-DX"));
    assert_eq!(notice.kind, pb::DataQualityKind::UnmatchedCode as i32);
    // Both texts name the coding a QC officer has to map.
    assert!(notice.text_en.contains("HOSP-DX (code XB-7)"), "{}", notice.text_en);
    assert!(notice.text_zh.contains("HOSP-DX 编码（编码 XB-7）"), "{}", notice.text_zh);
    assert_eq!(decision.data_quality.len(), 1, "the ICD-10 items are readable: {:?}", decision.data_quality);
    let card = decision
        .cards
        .iter()
        .find(|c| c.source.as_ref().is_some_and(|s| s.kind == pb::SourceKind::DataQuality as i32))
        .expect("QC card");
    assert!(card.detail.contains("diagnoses/dx-local"));
    let key = r#"cdssd_data_quality_notices_total{list="diagnoses",code_system="LOCAL",kind="unmatched_code"}"#;
    assert_eq!(after.get(key) - before.get(key), 1.0, "{key}");
    assert!(!after.text.contains("XB-7") && !after.text.contains("HOSP-DX"), "no codes or local names in labels");
}

/// Set the quantity value of item `id` of `list` in the request's encounter.
fn set_value(req: &mut pb::EvaluateRequest, list: &str, id: &str, value: f64) {
    let enc = req.encounter.as_mut().unwrap();
    let items = match list {
        "labs" => &mut enc.labs,
        "vitals" => &mut enc.vitals,
        _ => unreachable!("{list}"),
    };
    let item = items.iter_mut().find(|o| o.id == id).unwrap_or_else(|| panic!("{list}/{id}"));
    match item.value.as_mut() {
        Some(pb::observation::Value::Quantity(q)) => q.value = value,
        other => panic!("{list}/{id} has no quantity: {other:?}"),
    }
}

/// Issue 17: a physiologically impossible value (a unit slip: lactate 4.8 million mmol/L;
/// a negative heart rate) is not scored and does not cost the patient every card: the
/// observation is left out, the decision names it in a notice (without the value), the
/// rule that asked for lactate reports missing data instead of a verdict, every other
/// finding is the same as without the artefact, and the metric counts it by kind.
#[tokio::test]
async fn an_impossible_value_is_left_out_reported_and_turns_its_findings_into_missing_data() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    let base = request("septic_shock.json", pb::Trigger::Discharge);
    let baseline = client.evaluate(base.clone()).await.expect("valid").into_inner().decision.unwrap();
    let lactate = baseline.findings.iter().find(|f| f.rule_id == "sepsis.lactate_3h").expect("lactate_3h ran");
    assert_ne!(lactate.status, pb::FindingStatus::MissingData as i32, "decided without the artefact: {lactate:?}");
    assert!(baseline.data_quality.is_empty(), "{:?}", baseline.data_quality);

    let mut req = base.clone();
    set_value(&mut req, "labs", "lab-lact-1", 4_800_000.0);
    set_value(&mut req, "vitals", "vs-hr-1", -124.0);
    let before = daemon.scrape().await;
    let decision = client.evaluate(req).await.expect("an impossible value is no validation error").into_inner();
    let decision = decision.decision.unwrap();
    let after = daemon.scrape().await;

    let notice = |list: &str, id: &str| {
        decision
            .data_quality
            .iter()
            .find(|n| n.list == list && n.item_id == id)
            .unwrap_or_else(|| panic!("notice for {list}/{id}: {:?}", decision.data_quality))
            .clone()
    };
    let lact = notice("labs", "lab-lact-1");
    assert_eq!(lact.kind, pb::DataQualityKind::ImplausibleValue as i32);
    assert!(lact.field.starts_with("encounter.labs[") && lact.field.ends_with("].quantity.value"), "{}", lact.field);
    assert!(lact.text_en.contains("0–50 mmol/L") && lact.text_zh.contains("乳酸"), "{lact:?}");
    for text in [&lact.text_en, &lact.text_zh] {
        assert!(!text.contains("4800000") && !text.contains("4.8e6"), "the value is patient data: {text}");
    }
    assert!(lact.rule_ids.contains(&"sepsis.lactate_3h".to_string()), "{:?}", lact.rule_ids);
    let hr = notice("vitals", "vs-hr-1");
    assert_eq!(hr.kind, pb::DataQualityKind::ImplausibleValue as i32);
    assert!(!hr.text_en.contains("-124"), "{}", hr.text_en);
    assert_eq!(decision.data_quality.len(), 2, "{:?}", decision.data_quality);

    let f = decision.findings.iter().find(|f| f.rule_id == "sepsis.lactate_3h").unwrap();
    assert_eq!(f.status, pb::FindingStatus::MissingData as i32, "{f:?}");
    assert!(f.missing_data.contains(&"labs/lab-lact-1".to_string()), "{:?}", f.missing_data);
    // Every rule that did not ask for these items decides exactly as before.
    let changed: Vec<&str> = lact.rule_ids.iter().chain(&hr.rule_ids).map(String::as_str).collect();
    for b in &baseline.findings {
        if changed.contains(&b.rule_id.as_str()) {
            continue;
        }
        let a = decision.findings.iter().find(|f| f.rule_id == b.rule_id);
        let a = a.unwrap_or_else(|| panic!("{} is missing from the decision", b.rule_id));
        assert_eq!((a.status, &a.message), (b.status, &b.message), "{} changed", b.rule_id);
    }
    // No rule read the impossible value: none names it in its evidence.
    for f in &decision.findings {
        assert!(
            !f.evidence.iter().any(|e| e.item_id == "lab-lact-1" || e.item_id == "vs-hr-1"),
            "{} cites a left-out item",
            f.rule_id
        );
    }
    for (list, n) in [("labs", 1.0), ("vitals", 1.0)] {
        let key = format!(
            r#"cdssd_data_quality_notices_total{{list="{list}",code_system="LOINC",kind="implausible_value"}}"#
        );
        assert_eq!(after.get(&key) - before.get(&key), n, "{key}");
    }
    assert!(!after.text.contains("4800000"), "no values in metrics");
}
