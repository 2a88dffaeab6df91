//! `cdssd export nhc` and the report's figures over example encounters (and variations)
//! evaluated into a real store, run through the real binary: exact worksheet items against
//! values computed here by hand from the example files, the `needs_confirmation` marking,
//! the required-item and dependency errors, the access-log entry; the continuous measures,
//! mortality and antimicrobial days in every report format. The export also runs against
//! a real PostgreSQL server.

use std::{path::Path, sync::Arc};

use cdssd::{
    audit::{self, keys::KeyRing, DecisionRecord},
    pipeline::Pipeline,
    proto::v1 as pb,
};
use serde_json::{json, Value};

use crate::{pg::PgCluster, support};

/// An example as a request under a new id, evaluated a day after its discharge; `edit`
/// changes the encounter's JSON first.
fn variant(name: &str, id: &str, edit: impl FnOnce(&mut Value)) -> pb::EvaluateRequest {
    let mut req = support::request(name);
    let mut enc = serde_json::to_value(req.encounter.as_ref().unwrap()).unwrap();
    enc["id"] = id.into();
    edit(&mut enc);
    let enc: pb::Encounter = serde_json::from_value(enc).unwrap();
    req.evaluation_time =
        Some(pbjson_types::Timestamp { seconds: enc.discharge_time.unwrap().seconds + 86_400, nanos: 0 });
    req.encounter = Some(enc);
    req
}

/// Shift the thrombolytic administrations of the stroke example by `minutes`.
fn shift_tpa(enc: &mut Value, minutes: i64) {
    for a in enc["medicationAdministrations"].as_array_mut().unwrap() {
        if a["id"].as_str().unwrap().starts_with("ma-tpa") {
            for key in ["startTime", "endTime"] {
                if let Some(t) = a[key].as_str() {
                    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap() + chrono::Duration::minutes(minutes);
                    a[key] = t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
                }
            }
        }
    }
}

/// Evaluate the requests and record them (plus, for `pending_only`, one decision before discharge).
async fn record(env: &[(&str, &str)], reqs: &[pb::EvaluateRequest], before_only: &[pb::EvaluateRequest]) {
    let settings = support::settings_with(env);
    let keys = KeyRing::load(&settings.audit.key_path(), true).unwrap();
    let pipeline = Pipeline::new(Arc::new(settings.clone())).unwrap();
    let mut records = Vec::new();
    for (i, req) in reqs.iter().chain(before_only).enumerate() {
        let call = cdssd::pipeline::Call {
            request_id: "r".into(),
            deadline: None,
            budget: cdssd::pipeline::Budget::Decision,
            caller: "test".into(),
        };
        let d = pipeline.evaluate(&pipeline.prepare(req, call).unwrap()).await.unwrap();
        let mut r = DecisionRecord::build(&keys, req, &d, "t", "Asia/Shanghai").unwrap();
        if i >= reqs.len() {
            r.evaluated_us =
                req.encounter.as_ref().unwrap().discharge_time.unwrap().seconds * 1_000_000 - 3_600_000_000;
        }
        records.push(r);
    }
    tokio::task::spawn_blocking(move || audit::open(&settings.audit).unwrap().unwrap().append(&records).unwrap())
        .await
        .unwrap();
}

/// Run the binary with the audit settings in `env`.
fn cli(env: &[(&str, &str)], args: &[&str]) -> String {
    let root = support::root();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"));
    cmd.args(args)
        .env("CDSSD__RULES__DIR", root.join("rules"))
        .env("CDSSD__RULES__EXAMPLES_DIR", root.join("examples"))
        .env("CDSSD__RISK__DIR", root.join("models"))
        .env_remove("CDSSD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cdssd {args:?}: {text}");
    text
}

fn export(env: &[(&str, &str)], out: &Path, more: &[&str]) -> Value {
    let o = out.to_str().unwrap();
    let mut args = vec!["export", "nhc", "--from", "2026-03-01", "--to", "2026-03-31", "--out", o, "--format", "json"];
    args.extend(more);
    cli(env, &args);
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn items(w: &Value) -> &serde_json::Map<String, Value> {
    w["items"].as_object().unwrap()
}

fn errors(w: &Value) -> Vec<(String, String)> {
    w["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["item"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string()))
        .collect()
}

/// The export over one store (SQLite or PostgreSQL, by `env`), checked against hand-computed values.
async fn export_suite(env: &[(&str, &str)], dir: &Path) {
    let s1 = variant("stemi_primary_pci.json", "enc-n-stemi-1", |_| {});
    // No onset time, arrival by EMS: dependency errors on the onset and pre-hospital items.
    let s2 = variant("stemi_primary_pci.json", "enc-n-stemi-2", |e| {
        e.as_object_mut().unwrap().remove("symptomOnsetTime");
        e["arrivalMode"] = "ARRIVAL_MODE_EMS".into();
    });
    let k1 = variant("stroke_thrombolysis.json", "enc-n-stk-1", |_| {});
    let hf = variant("heart_failure.json", "enc-n-hf-1", |_| {}); // not a monitored disease here
    let early = variant("stemi_primary_pci.json", "enc-n-stemi-early", |_| {}); // only evaluated before discharge
    record(env, &[s1, s2, k1, hf], &[early]).await;
    let settings = support::settings_with(env);
    let keys = KeyRing::load(&settings.audit.key_path(), false).unwrap();
    let pid = |id: &str| keys.pseudonym(id);

    let doc = export(env, &dir.join("all.json"), &[]);
    assert_eq!(doc["format"], "cdssd-nhc-worksheet/1");
    let ws = doc["worksheets"].as_array().unwrap();
    let keyed: Vec<(&str, &str)> =
        ws.iter().map(|w| (w["encounter"].as_str().unwrap(), w["disease"].as_str().unwrap())).collect();
    let mut want = [(pid("enc-n-stemi-1"), "STEMI"), (pid("enc-n-stemi-2"), "STEMI"), (pid("enc-n-stk-1"), "STK")];
    want.sort_by(|a, b| (a.1 != "STEMI", &a.0).cmp(&(b.1 != "STEMI", &b.0)));
    assert_eq!(keyed, want.iter().map(|(p, d)| (p.as_str(), *d)).collect::<Vec<_>>());
    let by = |id: &str| ws.iter().find(|w| w["encounter"] == pid(id).as_str()).unwrap();

    // STEMI example, times in Asia/Shanghai (UTC+8), from examples/encounters/stemi_primary_pci.json.
    let w = by("enc-n-stemi-1");
    let it = items(w);
    let derived = |id: &str, value: Value, source: Value| {
        assert_eq!(it[id]["value"], value, "{id}");
        assert_eq!(it[id]["status"], "derived", "{id}");
        assert_eq!(it[id]["source"], source, "{id}");
    };
    derived("CM-0-1-1-5", json!("CARDIOLOGY"), json!(["encounter.department"]));
    derived("CM-0-1-3-1", json!("I21.0"), json!(["diagnoses[dx-1].code"]));
    derived("CM-0-2-1-2", json!("1"), json!(["patient.sex"]));
    derived("CM-0-2-1-3", json!(78.0), json!(["vitals[vs-wt-1].quantity"]));
    derived("CM-0-2-1-4", json!(172.0), json!(["vitals[vs-ht-1].quantity"]));
    // 78 / 1.72² = 26.37 → 26.4.
    derived("CM-0-2-1-5", json!(26.4), json!(["vitals[vs-wt-1].quantity", "vitals[vs-ht-1].quantity"]));
    derived("CM-0-2-2-1", json!("2026-03-02 20:30"), json!(["encounter.symptom_onset_time"])); // 12:30Z
    derived("CM-0-3-1", json!("2026-03-02 22:30"), json!(["encounter.arrival_time"])); // 14:30Z
    derived("CM-0-3-2", json!("2026-03-03 00:30"), json!(["encounter.admission_time"])); // 16:30Z
    derived("CM-0-3-3", json!("2026-03-06 10:30"), json!(["encounter.discharge_time"])); // 03-06 02:30Z
                                                                                         // First ECG after arrival: the procedure at 14:34Z (the impression is at 14:35Z).
    derived("STEMI-1-1-1", json!("2026-03-02 22:34"), json!(["procedures[proc-ecg-1].start_time"]));
    derived("STEMI-1-1-2", json!("I"), json!(["assessments[asm-killip-1].value"]));
    derived("STEMI-1-2-2", json!(180.0), json!(["medication_administrations[ma-tica-1].dose"]));
    derived("STEMI-1-2-3", json!("2026-03-02 22:39"), json!(["medication_administrations[ma-tica-1].start_time"]));
    derived("STEMI-1-3-1", json!(["cTnI"]), json!(["labs[lab-tni-1].code"])); // multi-choice: an array
    derived("STEMI-1-3-2", json!("2026-03-02 22:37"), json!(["labs[lab-tni-1].effective_time"]));
    // Needs confirmation: candidates and items the contract does not carry.
    for (id, value) in [
        ("CM-0-1-3-2", Value::Null),    // I21.0 has no 6-character national extension
        ("CM-0-1-4-1", json!("00.66")), // candidate: the PCI; procedures are not ranked
        ("CM-0-2-1-1", Value::Null),    // age only, no birth date
        ("CM-0-3-6", Value::Null),      // payment type
        ("STEMI-1-2-1", json!(false)),  // P2Y12 given: candidate "no contraindication"
        ("STEMI-0-4-3", Value::Null),   // thrombolysis in the ambulance
    ] {
        assert_eq!(it[id]["status"], "needs_confirmation", "{id}");
        assert_eq!(it[id]["value"], value, "{id}");
        assert!(it[id]["note"]["zh-CN"].is_string() && it[id]["note"]["en"].is_string(), "{id}");
    }
    // Identifiers are never filled: listed as withheld, absent from the items.
    let withheld: Vec<&str> = w["withheld"].as_array().unwrap().iter().map(|x| x["item"].as_str().unwrap()).collect();
    assert_eq!(withheld, ["CM-0-1-1-1", "CM-0-1-1-2", "CM-0-1-1-3", "CM-0-1-1-4", "caseId", "idCard"]);
    for id in &withheld {
        assert!(!it.contains_key(*id), "{id} is not pre-filled");
    }
    let text = serde_json::to_string(w).unwrap();
    assert!(!text.contains("pt-000101") && !text.contains("enc-n-stemi-1"), "no patient or EMR encounter id");
    // Required-item errors, exactly these (onset given, P2Y12 data given, no EMS arrival).
    let e = errors(w);
    let want: Vec<(String, String)> = ["CM-0-1-3-2", "CM-0-1-5", "CM-0-2-1-1", "CM-0-3-6", "CM-0-3-7", "CM-0-3-8"]
        .iter()
        .map(|i| (i.to_string(), "required_missing".to_string()))
        .collect();
    assert_eq!(e, want);
    let stemi_findings = w["indicators"].as_array().unwrap();
    assert!(stemi_findings.iter().any(|f| f["measure_set"] == "NHC-2022" && f["measure_id"] == "4.1.1.3"));

    // No onset, EMS arrival: the dependent items are named.
    let w2 = by("enc-n-stemi-2");
    assert_eq!(items(w2)["CM-0-3-8"]["value"], json!(["ems"]));
    assert_eq!(items(w2)["CM-0-2-2-1"]["status"], "needs_confirmation");
    let e2 = errors(w2);
    for (item, code) in
        [("CM-0-2-2-1", "required_when"), ("STEMI-0-4-2", "required_when"), ("STEMI-0-4-3", "required_when")]
    {
        assert!(e2.contains(&(item.into(), code.into())), "{item} {code}: {e2:?}");
    }
    assert!(!e2.iter().any(|(i, _)| i == "CM-0-3-8"), "transport is given");

    // Stroke example: common block only; birth date given.
    let k = items(by("enc-n-stk-1"));
    assert_eq!(k["CM-0-1-3-1"]["value"], "I63.5");
    assert_eq!(k["CM-0-2-1-1"]["value"], "1954-07-18");
    assert_eq!(k["CM-0-3-1"]["value"], "2026-03-14 22:30"); // 14:30Z
    assert!(!k.keys().any(|id| id.starts_with("STEMI")));

    // --disease and the directory form: one file per worksheet.
    let out = dir.join("sheets");
    std::fs::create_dir(&out).unwrap();
    let o = out.to_str().unwrap();
    let said =
        cli(env, &["export", "nhc", "--from", "2026-03-01", "--to", "2026-03-31", "--disease", "stroke", "--out", o]);
    assert!(said.contains("1 worksheet(s)"), "{said}");
    let files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files, [format!("{}-STK.json", pid("enc-n-stk-1"))]);

    // The reads are recorded.
    let log =
        tokio::task::spawn_blocking(move || audit::open(&settings.audit).unwrap().unwrap().access_log(10).unwrap())
            .await
            .unwrap();
    assert_eq!(log.iter().filter(|a| a.action == "export_nhc").count(), 2, "{log:?}");
    assert!(log.iter().all(|a| a.action != "export_nhc" || a.subject == "2026-03-01..2026-03-31"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nhc_worksheets_from_sqlite_match_hand_computed_items_and_name_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    export_suite(&[("CDSSD__AUDIT__DIR", &d)], dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nhc_worksheets_from_postgres_match_the_same_expectations() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, key) = (pg.url(), dir.path().join("keys.toml").display().to_string());
    let env = [
        ("CDSSD__AUDIT__BACKEND", "postgres"),
        ("CDSSD__AUDIT__URL", url.as_str()),
        ("CDSSD__AUDIT__KEY_FILE", key.as_str()),
    ];
    export_suite(&env, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_figures_equal_hand_computed_medians_mortality_and_antimicrobial_days() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let env = [("CDSSD__AUDIT__DIR", d.as_str())];
    // Door-to-needle: arrival 14:30Z, alteplase 15:15Z = 45 min; shifted to 30 and 75 min.
    // One of the three died. Sorted [30, 45, 75]: median 45, Q1 37.5, Q3 60 (type 7).
    let k1 = variant("stroke_thrombolysis.json", "enc-f-stk-1", |e| shift_tpa(e, -15));
    let k2 = variant("stroke_thrombolysis.json", "enc-f-stk-2", |_| {});
    let k3 = variant("stroke_thrombolysis.json", "enc-f-stk-3", |e| {
        shift_tpa(e, 30);
        e["dischargeDisposition"] = "DISCHARGE_DISPOSITION_EXPIRED".into();
    });
    // Door-to-device: arrival 14:30Z, PCI start 15:40Z = 70 min (two copies).
    let s1 = variant("stemi_primary_pci.json", "enc-f-stemi-1", |_| {});
    let s2 = variant("stemi_primary_pci.json", "enc-f-stemi-2", |_| {});
    // Antimicrobial days: ceftriaxone 03-05..03-08, azithromycin 03-05..03-07, amoxicillin-
    // clavulanate 03-09 (twice) and 03-10 (local dates, UTC+8) = 6 distinct days.
    let cap = variant("pneumonia_cap.json", "enc-f-cap-1", |_| {});
    record(&env, &[k1, k2, k3, s1, s2, cap], &[]).await;
    let base = ["report", "--from", "2026-03-01", "--to", "2026-03-31"];
    let run = |more: &[&str]| cli(&env, &[&base[..], more].concat());

    let json: Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    let f = &json["figures"];
    let cont = |name: &str| f["continuous"].as_array().unwrap().iter().find(|c| c["figure"] == name).unwrap().clone();
    let dtn = cont("door_to_needle");
    assert_eq!(
        (dtn["n"].as_u64(), dtn["median"].as_f64(), dtn["q1"].as_f64(), dtn["q3"].as_f64()),
        (Some(3), Some(45.0), Some(37.5), Some(60.0))
    );
    assert_eq!(dtn["rule_id"], "stroke.door_to_needle_60");
    let d2d = cont("door_to_device");
    assert_eq!(
        (d2d["n"].as_u64(), d2d["median"].as_f64(), d2d["q1"].as_f64(), d2d["q3"].as_f64()),
        (Some(2), Some(70.0), Some(70.0), Some(70.0))
    );
    assert_eq!((d2d["measure_set"].as_str(), d2d["measure_id"].as_str()), (Some("CMS"), Some("AMI-8a")));
    let cond = |pack: &str| f["conditions"].as_array().unwrap().iter().find(|c| c["pack"] == pack).unwrap().clone();
    let stroke = cond("stroke");
    assert_eq!((stroke["encounters"].as_u64(), stroke["died"].as_u64()), (Some(3), Some(1)));
    assert!((stroke["mortality"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    let (lo, hi) = cdssd::report::count::wilson(1, 3).unwrap();
    assert_eq!(stroke["mortality_ci95"], json!([lo, hi]));
    assert_eq!((cond("stemi")["encounters"].as_u64(), cond("stemi")["died"].as_u64()), (Some(2), Some(0)));
    let pneu = cond("pneumonia");
    assert_eq!((pneu["antimicrobial_treated"].as_u64(), pneu["antimicrobial_days"].as_u64()), (Some(1), Some(6)));
    assert_eq!(pneu["mean_antimicrobial_days"].as_f64(), Some(6.0));
    assert_eq!(stroke["antimicrobial_treated"].as_u64(), Some(0));

    // CSV, table in both languages, HTML: the same figures.
    let csv = run(&["--format", "csv"]);
    assert!(
        csv.contains(
            "# continuous,door_to_needle,stroke.door_to_needle_60,AHA,Target: Stroke,3,45.0000,37.5000,60.0000,0\n"
        ),
        "{csv}"
    );
    assert!(csv.contains(&format!("# condition,stroke,3,1,0.3333,{lo:.4},{hi:.4},0,0,\n")), "{csv}");
    assert!(csv.contains("# condition,pneumonia,1,0,0.0000,"), "{csv}");
    for (lang, needle, death) in
        [("en", "Door-to-needle time", "In-hospital deaths 1"), ("zh-CN", "门-针时间", "住院死亡 1")]
    {
        let t = run(&["--format", "table", "--lang", lang]);
        let line = t.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{t}"));
        assert!(line.contains("n=3") && line.contains("45.0") && line.contains("[37.5, 60.0]"), "{line}");
        let line = t.lines().find(|l| l.trim_start().starts_with("stroke:")).unwrap();
        assert!(line.contains(death) && line.contains("33.3%"), "{line}");
    }
    let html = dir.path().join("r.html");
    run(&["--format", "html", "--output", html.to_str().unwrap()]);
    let h = std::fs::read_to_string(&html).unwrap();
    assert_eq!(h.matches("<tr data-figure=\"door_to_needle\">").count(), 2, "both languages");
    assert!(h.contains("<td class=\"median\">45.0</td><td class=\"iqr\">[37.5, 60.0]</td>"));
    assert!(h.contains("<tr data-condition=\"stroke\"><td>stroke</td><td class=\"n\">3</td><td class=\"died\">1</td><td class=\"mortality\">33.3%</td>"));
    assert!(h.contains("门-针时间") && h.contains("Door-to-needle time"));

    // Selection by measure set and item: only that item's rows; the figure of another set is gone.
    let only: Value =
        serde_json::from_str(&run(&["--format", "json", "--measure-set", "CMS", "--measure-id", "AMI-8a"])).unwrap();
    let rows = only["measures"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["measure_set"].as_str(), rows[0]["rule_id"].as_str()),
        (Some("CMS"), Some("stemi.door_to_device_90"))
    );
    assert_eq!(rows[0]["counts"]["denominator"], 2);
    let figs: Vec<&str> =
        only["figures"]["continuous"].as_array().unwrap().iter().map(|c| c["figure"].as_str().unwrap()).collect();
    assert_eq!(figs, ["door_to_device"]);
    let tjc: Value = serde_json::from_str(&run(&["--format", "json", "--measure-set", "TJC"])).unwrap();
    assert!(tjc["measures"].as_array().unwrap().iter().all(|m| m["measure_set"] == "TJC"));
    assert!(!tjc["measures"].as_array().unwrap().is_empty());

    // Opening the requests for the figures is a recorded read.
    let settings = support::settings_with(&env);
    let log = audit::open(&settings.audit).unwrap().unwrap().access_log(50).unwrap();
    assert!(log.iter().any(|a| a.action == "report_figures" && a.records == 6), "{log:?}");
}
