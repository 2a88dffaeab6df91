//! `cdssd batch` over NDJSON into the audit store: every request recorded with
//! trigger RETROSPECTIVE, a second run skips them all (resumable), a bad line is
//! reported as file:line without stopping the others.

use cdssd::audit;

use crate::support;

fn batch(dir: &std::path::Path, file: &std::path::Path) -> (i32, String) {
    support::cdssd_cli(dir, &["batch".as_ref(), "--jobs".as_ref(), "2".as_ref(), file.as_os_str()])
}

#[test]
fn batch_records_every_request_resumes_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    let mut text = String::new();
    for name in ["stemi_primary_pci.json", "heart_failure.json", "stroke_thrombolysis.json"] {
        text += &serde_json::to_string(&support::request(name)).unwrap();
        text.push('\n');
    }
    std::fs::write(&input, &text).unwrap();
    let (code, out) = batch(dir.path(), &input);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 evaluated and recorded, 0 already recorded"), "{out}");
    let (code, out) = batch(dir.path(), &input);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 evaluated and recorded, 3 already recorded"), "{out}");

    std::fs::write(&input, text + "{\"encounter\": 5}\n").unwrap();
    let (code, out) = batch(dir.path(), &input);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{}:4: ", input.display())), "{out}");

    let settings = support::settings_with(&[("CDSSD__AUDIT__DIR", dir.path().to_str().unwrap())]);
    let store = audit::open(&settings.audit).unwrap().unwrap();
    let mut triggers = Vec::new();
    store.scan(&audit::Scan::default(), &mut |d| triggers.push(d.trigger)).unwrap();
    assert_eq!(triggers, ["retrospective"; 3]);
}
