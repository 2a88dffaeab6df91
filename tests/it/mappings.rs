//! Local-code mapping tables in a running daemon: a local code in no table gives the
//! data-quality notice and the metric and is listed by `AdminService.ListUnmappedCodes`;
//! after a table maps it and the rules reload, the rules read it and it is listed no more.
use cdssd::proto::v1 as pb;

use crate::daemon::{copy_tree, request, root, Daemon};

const TABLE: &str = r#"name = "his_drugs"
system = "HIS-DRUG"
description = "test table"

[[map]]
code = "YP-ASA-100"
display = "阿司匹林肠溶片"
to = ["ATC:B01AC06"]
"#;

fn recode_aspirin(req: &mut pb::EvaluateRequest, code: &str) {
    let enc = req.encounter.as_mut().unwrap();
    let local = pb::Coding { system: "HIS-DRUG".into(), code: code.into(), display: String::new() };
    for o in &mut enc.medication_orders {
        if o.codes.iter().any(|c| c.code == "B01AC06") {
            o.codes = vec![local.clone()];
        }
    }
    for a in &mut enc.medication_administrations {
        if a.codes.iter().any(|c| c.code == "B01AC06") {
            a.codes = vec![local.clone()];
        }
    }
}

fn status(d: &pb::Decision, rule: &str) -> pb::FindingStatus {
    d.findings.iter().find(|f| f.rule_id == rule).unwrap_or_else(|| panic!("{rule} ran")).status()
}

#[tokio::test]
async fn unmapped_local_codes_are_noticed_listed_and_read_once_mapped() {
    let rules = copy_tree(&root().join("rules"));
    let dir = rules.path().display().to_string();
    let daemon =
        Daemon::start(&[("CDSSD__RULES__DIR", &dir), ("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", "LOCAL,HIS-DRUG")]);
    let mut client = daemon.client().await;
    let mut admin = daemon.admin().await;
    let mut req = request("stemi_primary_pci.json", pb::Trigger::Discharge);
    recode_aspirin(&mut req, "YP-ASA-100");
    let before = daemon.scrape().await;
    let d = client.evaluate(req.clone()).await.expect("valid").into_inner().decision.unwrap();
    let after = daemon.scrape().await;
    // Unmapped: the aspirin items are unreadable, so aspirin on arrival is not met.
    assert_eq!(status(&d, "stemi.aspirin_arrival"), pb::FindingStatus::NotMet);
    let noticed: Vec<&str> = d.data_quality.iter().map(|n| n.item_id.as_str()).collect();
    assert!(noticed.contains(&"ma-asp-1") && noticed.contains(&"mo-asp-1"), "{noticed:?}");
    let key = r#"cdssd_data_quality_notices_total{list="medication_administrations",code_system="LOCAL",kind="unmatched_code"}"#;
    assert!(after.get(key) - before.get(key) >= 1.0, "{key}");
    assert!(!after.text.contains("YP-ASA-100") && !after.text.contains("HIS-DRUG"), "no codes in labels");
    let listed = admin.list_unmapped_codes(pb::ListUnmappedCodesRequest {}).await.expect("rpc").into_inner();
    let asa: Vec<&pb::UnmappedCode> = listed.codes.iter().filter(|c| c.code == "YP-ASA-100").collect();
    assert!(
        asa.iter().any(|c| c.list == "medication_administrations" && c.code_system == "HIS-DRUG" && c.count >= 1),
        "{listed:?}"
    );
    assert!(asa.iter().all(|c| c.first_seen_time.is_some() && c.last_seen_time.is_some()));

    // QC adds the table; the reload puts it in force.
    std::fs::create_dir_all(rules.path().join("mappings")).unwrap();
    std::fs::write(rules.path().join("mappings/his_drugs.toml"), TABLE).unwrap();
    let reload = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    assert!(reload.errors.is_empty(), "{reload:?}");
    let d = client.evaluate(req).await.expect("valid").into_inner().decision.unwrap();
    assert_eq!(status(&d, "stemi.aspirin_arrival"), pb::FindingStatus::Met, "the mapped code is aspirin");
    assert!(d.data_quality.iter().all(|n| n.item_id != "ma-asp-1"), "{:?}", d.data_quality);
    let listed = admin.list_unmapped_codes(pb::ListUnmappedCodesRequest {}).await.expect("rpc").into_inner();
    assert!(listed.codes.iter().all(|c| c.code != "YP-ASA-100"), "{listed:?}");
    assert_eq!(listed.rule_set_version, reload.version);

    // A broken table is rejected with its position; the set in force keeps the mapping.
    std::fs::write(rules.path().join("mappings/his_drugs.toml"), TABLE.replace("ATC:B01AC06", "ATC:B01AC6")).unwrap();
    let reload = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    let e = reload.errors.first().expect("rejected");
    assert_eq!((e.path.as_str(), e.line, e.column), ("mappings/his_drugs.toml", 8, 7), "{e:?}");
}
