//! `cdssd evaluate --fhir`: the project-written FHIR R4 bundles of `examples/fhir/` (written
//! by `scripts/fhir-examples.py` from the FHIR R4 specification, not by the mapper) evaluate,
//! through the real binary, to the same rule and model statuses as their proto JSON
//! counterparts in `examples/encounters/`; an invalid bundle is refused with locations; the
//! synthetic bundles of `tests/data/fhir/` (the CQL peer's generator) map and validate.

use std::ffi::OsStr;

use serde_json::Value;

use super::support::{cdssd_cli, root};

/// (example, evaluation time): the in-progress STEMI is a snapshot in the ED.
const PAIRS: &[(&str, &str)] = &[
    ("stemi_primary_pci", "2026-05-28T00:00:00Z"),
    ("stroke_thrombolysis", "2026-05-28T00:00:00Z"),
    ("stemi_in_progress", "2026-03-20T01:45:00Z"),
];

fn evaluate(file: &std::path::Path, now: &str, fhir: bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&OsStr> = vec!["evaluate".as_ref(), "--no-llm".as_ref(), "--format".as_ref(), "json".as_ref()];
    args.extend(["--include-not-applicable".as_ref(), "--now".as_ref(), OsStr::new(now)]);
    if fhir {
        args.push("--fhir".as_ref());
    }
    args.push(file.as_os_str());
    let (code, out) = cdssd_cli(dir.path(), &args);
    assert_eq!(code, 0, "{}: {out}", file.display());
    // stdout (the decision, pretty JSON) comes first; stderr (what was not mapped) follows.
    let start = out.find('{').unwrap_or_else(|| panic!("no JSON decision: {out}"));
    serde_json::Deserializer::from_str(&out[start..]).into_iter::<Value>().next().unwrap().unwrap()
}

fn statuses(d: &Value, list: &str, id: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = d[list]
        .as_array()
        .map(|a| {
            a.iter().map(|f| (f[id].as_str().unwrap().to_string(), f["status"].as_str().unwrap().to_string())).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fhir_examples_evaluate_to_the_statuses_of_their_proto_counterparts() {
    for (name, now) in PAIRS {
        let proto = evaluate(&root().join("examples/encounters").join(format!("{name}.json")), now, false);
        let fhir = evaluate(&root().join("examples/fhir").join(format!("{name}.bundle.json")), now, true);
        let (a, b) = (statuses(&proto, "findings", "ruleId"), statuses(&fhir, "findings", "ruleId"));
        assert!(a.len() >= 10, "{name}: too few findings to compare: {a:?}");
        assert!(a.iter().any(|(_, s)| s != "FINDING_STATUS_NOT_APPLICABLE"), "{name}: nothing applies: {a:?}");
        assert_eq!(a, b, "{name}: rule statuses differ between proto JSON and FHIR");
        assert_eq!(
            statuses(&proto, "risks", "modelId"),
            statuses(&fhir, "risks", "modelId"),
            "{name}: model statuses differ"
        );
        // The same measured items are cited (ids survive the round trip through FHIR).
        let cited = |d: &Value| {
            let mut v: Vec<String> = d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["itemId"].as_str().map(str::to_string))
                .collect();
            v.sort();
            v
        };
        assert_eq!(cited(&proto), cited(&fhir), "{name}: evidence differs");
    }
}

#[test]
fn an_invalid_bundle_is_refused_with_the_locations_of_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/fhir/stemi_primary_pci.bundle.json")).unwrap(),
    )
    .unwrap();
    let entries = bundle["entry"].as_array_mut().unwrap();
    entries[1]["resource"]["period"]["start"] = "2026-03-02T22:30:00".into();
    let lab = entries
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Observation" && e["resource"]["valueQuantity"].is_object())
        .unwrap();
    entries[lab]["resource"]["valueQuantity"]["comparator"] = "about".into();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, serde_json::to_string(&bundle).unwrap()).unwrap();
    let (code, out) =
        cdssd_cli(dir.path(), &["evaluate".as_ref(), "--fhir".as_ref(), "--no-llm".as_ref(), file.as_os_str()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Bundle.entry[1].resource.period.start") && out.contains("offset"), "{out}");
    assert!(out.contains(&format!("Bundle.entry[{lab}].resource.valueQuantity.comparator")), "{out}");
    assert!(!out.contains("22:30"), "a data value in the error: {out}");
    // Not JSON: path:line:col.
    std::fs::write(&file, "{\n  \"resourceType\": \"Bundle\",,\n}").unwrap();
    let (code, out) = cdssd_cli(dir.path(), &["evaluate".as_ref(), "--fhir".as_ref(), file.as_os_str()]);
    assert_ne!(code, 0);
    assert!(out.contains("bad.json:2:"), "{out}");
}

fn validator(files: &[std::path::PathBuf]) -> (bool, String) {
    let out = std::process::Command::new("node")
        .arg(root().join("scripts/fhir-validate.js"))
        .args(files)
        .output()
        .expect("node runs (scripts/setup.sh installs it)");
    assert_ne!(out.status.code(), Some(2), "the FHIR schema validator is not installed: run scripts/setup.sh");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn json_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn project_written_and_synthetic_bundles_pass_the_official_fhir_r4_json_schema() {
    let mut files = json_files("examples/fhir");
    assert_eq!(files.len(), PAIRS.len());
    files.extend(json_files("tests/data/fhir/synthetic"));
    let (ok, out) = validator(&files);
    assert!(ok, "{out}");
    assert_eq!(out.lines().filter(|l| l.ends_with(": ok")).count(), files.len(), "{out}");
    // The validator can fail: an Observation status outside its value set is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut b: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let obs =
        b["entry"].as_array().unwrap().iter().position(|e| e["resource"]["resourceType"] == "Observation").unwrap();
    b["entry"][obs]["resource"]["status"] = "bogus".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b.to_string()).unwrap();
    let (ok, out) = validator(&[bad]);
    assert!(!ok, "a broken bundle passed the schema: {out}");
}

/// The CQL peer's synthetic bundles (tests/data/fhir/synthetic/README.md): each maps and
/// evaluates, and where a shipped rule measures what the generator's truth states (aspirin
/// within 24 h of arrival for AMI, an antithrombotic by the end of hospital day 2 for stroke),
/// the statuses agree.
#[test]
fn synthetic_cql_peer_bundles_map_evaluate_and_agree_with_the_generators_truth() {
    let truth = [
        ("r10-p0.json", None),
        ("r10-p1.json", Some(("stroke.antithrombotic_day2", "FINDING_STATUS_MET"))),
        ("r10-p2.json", Some(("stemi.aspirin_arrival", "FINDING_STATUS_MET"))),
        ("r50-p1.json", Some(("stroke.antithrombotic_day2", "FINDING_STATUS_MET"))),
        ("r50-p2.json", Some(("stemi.aspirin_arrival", "FINDING_STATUS_MET"))),
        ("r50-p5.json", None),
        ("r500-p2.json", Some(("stemi.aspirin_arrival", "FINDING_STATUS_MET"))),
    ];
    assert_eq!(json_files("tests/data/fhir/synthetic").len(), truth.len());
    for (file, want) in truth {
        let d = evaluate(&root().join("tests/data/fhir/synthetic").join(file), "2026-12-01T00:00:00Z", true);
        let findings = statuses(&d, "findings", "ruleId");
        assert!(
            findings.iter().any(|(_, s)| s != "FINDING_STATUS_NOT_APPLICABLE"),
            "{file}: no rule applies: {findings:?}"
        );
        if let Some((rule, status)) = want {
            assert!(
                findings.contains(&(rule.to_string(), status.to_string())),
                "{file}: {rule} is not {status}: {findings:?}"
            );
        }
    }
}
