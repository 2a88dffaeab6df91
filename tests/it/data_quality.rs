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
    let key = r#"cdssd_data_quality_notices_total{list="diagnoses",code_system="LOCAL"}"#;
    assert_eq!(after.get(key) - before.get(key), 1.0, "{key}");
    assert!(!after.text.contains("XB-7") && !after.text.contains("HOSP-DX"), "no codes or local names in labels");
}
