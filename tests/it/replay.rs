//! `cdssd replay --rules DIR` over recorded decisions: an unchanged copy of the
//! rules changes nothing (exit 0 even with --fail-on-change); an edited threshold
//! changes exactly that measure's finding for exactly the affected encounter.

use cdssd::audit::{self, keys::KeyRing, DecisionRecord};

use crate::{daemon::copy_tree, support};

fn replay(dir: &std::path::Path, rules: &std::path::Path) -> (i32, String) {
    let args = ["replay", "--json", "--fail-on-change", "--rules"].map(std::ffi::OsStr::new);
    support::cdssd_cli(dir, &[&args[..], &[rules.as_os_str()]].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_shows_exactly_the_findings_a_rule_edit_changes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings_with(&[("CDSSD__AUDIT__DIR", dir.path().to_str().unwrap())]);
    let store = audit::open(&settings.audit).unwrap().unwrap();
    let keys = KeyRing::load(&settings.audit.key_path(), true).unwrap();
    let evaluated = crate::audit_store::decisions().await;
    let records: Vec<DecisionRecord> =
        evaluated.iter().map(|(r, d)| DecisionRecord::build(&keys, r, d, "t", "Asia/Shanghai").unwrap()).collect();
    store.append(&records).unwrap();

    let same = copy_tree(&support::root().join("rules"));
    let (code, out) = replay(dir.path(), same.path());
    assert_eq!(code, 0, "{out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["replayed"], records.len());
    assert_eq!(r["changes"], serde_json::json!({}), "{out}");

    // Door-to-device 70 min: met at <= 90, not met at <= 60.
    let edited = copy_tree(&support::root().join("rules"));
    let rule = edited.path().join("stemi/door_to_device_90.rhai");
    let text = std::fs::read_to_string(&rule).unwrap();
    let window = "first_between([pci], t0, 0, 90)";
    assert!(text.contains(window), "the rule's 90-minute numerator window");
    std::fs::write(&rule, text.replace(window, "first_between([pci], t0, 0, 60)")).unwrap();
    std::fs::remove_file(edited.path().join("stemi/tests/door_to_device_90.toml")).unwrap();
    let (code, out) = replay(dir.path(), edited.path());
    assert_eq!(code, 1, "--fail-on-change: {out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changes = r["changes"].as_object().unwrap();
    assert_eq!(changes.keys().collect::<Vec<_>>(), ["stemi.door_to_device_90"], "{out}");
    let c = &changes["stemi.door_to_device_90"];
    assert_eq!(c.as_array().unwrap().len(), 1);
    assert_eq!((c[0]["before"].as_str(), c[0]["after"].as_str()), (Some("met"), Some("not_met")));
    assert_eq!(c[0]["encounter_pid"], keys.pseudonym("enc-stemi-001"));
    assert!(store.access_log(10).unwrap().iter().any(|a| a.action == "replay"), "the PHI read is recorded");
}
