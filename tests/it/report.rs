//! `cdssd report` over a batch of example encounters and generated variations
//! (time-shifted copies under new ids), recorded in a real store, against counts
//! computed here by hand from the decisions that the counting rule must pick:
//! each discharged encounter once per measure, its latest evaluation at or after
//! discharge. Checked in every format, with the coverage line; the HTML file is
//! rendered in headless Chromium in both languages.

use std::{collections::BTreeMap, path::Path, process::Command, sync::Arc};

use cdssd::{
    audit::{self, keys::KeyRing, DecisionRecord},
    pipeline::Pipeline,
    proto::v1 as pb,
};

use crate::support;

/// Shift every RFC 3339 time in the request by `days` and give the encounter a new id.
fn variation(name: &str, id: &str, days: i64) -> pb::EvaluateRequest {
    fn shift(v: &mut serde_json::Value, days: i64) {
        match v {
            serde_json::Value::String(s) => {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    *s = (t + chrono::Duration::days(days)).to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift(x, days)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| shift(x, days)),
            _ => {}
        }
    }
    let mut req = support::request(name);
    let mut enc = serde_json::to_value(req.encounter.as_ref().unwrap()).unwrap();
    shift(&mut enc, days);
    enc["id"] = id.into();
    let enc: pb::Encounter = serde_json::from_value(enc).unwrap();
    let discharge = enc.discharge_time.unwrap();
    req.evaluation_time = Some(pbjson_types::Timestamp { seconds: discharge.seconds + 86_400, nanos: 0 });
    req.encounter = Some(enc);
    req
}

fn discharge_us(req: &pb::EvaluateRequest) -> i64 {
    req.encounter.as_ref().unwrap().discharge_time.unwrap().seconds * 1_000_000
}

/// status counts per rule id: rule → status → n.
type Expected = BTreeMap<String, BTreeMap<String, u64>>;

fn tally(expected: &mut Expected, d: &pb::Decision) {
    for f in &d.findings {
        let status = audit::record::enum_label(f.status().as_str_name(), "FINDING_STATUS_");
        *expected.entry(f.rule_id.clone()).or_default().entry(status).or_default() += 1;
    }
}

fn n(e: &Expected, rule: &str, status: &str) -> u64 {
    e.get(rule).and_then(|s| s.get(status)).copied().unwrap_or(0)
}

struct Batch {
    dir: tempfile::TempDir,
    expected: Expected,
    list: std::path::PathBuf,
}

async fn batch() -> Batch {
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings_with(&[("CDSSD__AUDIT__DIR", dir.path().to_str().unwrap())]);
    let store = audit::open(&settings.audit).unwrap().unwrap();
    let keys = KeyRing::load(&settings.audit.key_path(), true).unwrap();
    let pipeline = Pipeline::new(Arc::new(settings)).unwrap();
    let mut expected = Expected::new();
    let evaluate = async |req: &pb::EvaluateRequest| {
        let ctx = pipeline
            .prepare(
                req,
                cdssd::pipeline::Call {
                    request_id: "r".into(),
                    deadline: None,
                    budget: cdssd::pipeline::Budget::Decision,
                    caller: "test".into(),
                },
            )
            .expect("valid variation");
        pipeline.evaluate(&ctx).await.unwrap()
    };
    let rec = |req: &pb::EvaluateRequest, d: &pb::Decision| {
        DecisionRecord::build(&keys, req, d, "t", "Asia/Shanghai").unwrap()
    };
    // A fake earlier evaluation before discharge with every finding pending: must never be counted.
    let before = |req: &pb::EvaluateRequest, d: &pb::Decision| {
        let mut r = rec(req, d);
        r.evaluated_us = discharge_us(req) - 3_600_000_000;
        r.findings.iter_mut().for_each(|f| f.status = "pending".into());
        r
    };
    let s1 = variation("stemi_primary_pci.json", "enc-r-stemi-1", 0);
    let s2 = variation("stemi_primary_pci.json", "enc-r-stemi-2", 31);
    let h1 = variation("heart_failure.json", "enc-r-hf-1", 0);
    let h2 = variation("heart_failure.json", "enc-r-hf-2", 0);
    let k1 = variation("stroke_thrombolysis.json", "enc-r-stk-1", 31);
    let late = variation("stemi_primary_pci.json", "enc-r-stemi-late", 120);
    let (ds1, ds2, dh1, dh2, dk1, dlate) = (
        evaluate(&s1).await,
        evaluate(&s2).await,
        evaluate(&h1).await,
        evaluate(&h2).await,
        evaluate(&k1).await,
        evaluate(&late).await,
    );
    store.append(&[before(&s1, &ds1), rec(&s1, &ds1)]).unwrap(); // counted once, post-discharge
    store.append(&[rec(&s2, &ds2), rec(&s2, &ds2)]).unwrap(); // evaluated twice: counted once
    store.append(&[rec(&h1, &dh1), before(&h2, &dh2), rec(&k1, &dk1), rec(&late, &dlate)]).unwrap(); // h2: only before
    for d in [&ds1, &ds2, &dh1, &dk1] {
        tally(&mut expected, d);
    }
    // Feedback in the period: S1's first card overridden twice, H1's first card accepted once.
    let feedback = |d: &pb::Decision, dep: &str, outcome: &str, t_us: i64| audit::FeedbackRecord {
        id: uuid::Uuid::new_v4().to_string(),
        decision_id: "d".into(),
        card_id: d.cards[0].uuid.clone(),
        source_id: d.cards[0].source.as_ref().unwrap().id.clone(),
        source_version: d.cards[0].source.as_ref().unwrap().version.clone(),
        department: dep.into(),
        outcome: outcome.into(),
        reason_code: "not_relevant".into(),
        comment: keys.seal("c", b"").unwrap(),
        user_role: "physician".into(),
        time_us: t_us,
        recorded_us: t_us,
    };
    let t = discharge_us(&s1);
    store.append_feedback(&feedback(&ds1, "CARDIOLOGY", "overridden", t)).unwrap();
    store.append_feedback(&feedback(&ds1, "CARDIOLOGY", "overridden", t + 1)).unwrap();
    store.append_feedback(&feedback(&dh1, "CARDIOLOGY", "accepted", t + 2)).unwrap();
    let list = dir.path().join("discharges.csv");
    let mut csv = String::from("encounter_id,discharge_time,department\n");
    for r in [&s1, &s2, &h1, &h2, &k1, &late] {
        let e = r.encounter.as_ref().unwrap();
        let t = chrono::DateTime::from_timestamp(e.discharge_time.unwrap().seconds, 0).unwrap();
        csv += &format!("{},{},{}\n", e.id, t.to_rfc3339(), e.department);
    }
    csv += "enc-r-missing,2026-04-10 09:00,CARDIOLOGY\n";
    std::fs::write(&list, csv).unwrap();
    Batch { dir, expected, list }
}

fn report(b: &Batch, args: &[&str]) -> String {
    let fixed = ["report", "--from", "2026-03-01", "--to", "2026-04-30", "--discharges", b.list.to_str().unwrap()];
    let all: Vec<&std::ffi::OsStr> = fixed.iter().chain(args).map(std::ffi::OsStr::new).collect();
    let (code, out) = support::cdssd_cli(b.dir.path(), &all);
    assert_eq!(code, 0, "cdssd report {args:?}: {out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_equal_hand_computed_expectations_in_every_format() {
    let b = batch().await;
    let e = &b.expected;
    assert!(e.len() >= 10, "the batch covers several packs: {e:?}");
    let rules: Vec<&String> = e.keys().collect();

    // JSON.
    let json: serde_json::Value = serde_json::from_str(&report(&b, &["--format", "json"])).unwrap();
    assert_eq!(json["encounters"], 4, "S1, S2, H1, K1 (H2 only before discharge; the late one outside the period)");
    assert_eq!(json["coverage"]["discharges"], 6);
    assert_eq!(json["coverage"]["evaluated"], 4);
    assert_eq!(json["coverage"]["missing"], serde_json::json!(["enc-r-hf-2", "enc-r-missing"]));
    let measures = json["measures"].as_array().unwrap();
    assert_eq!(measures.len(), rules.len());
    for m in measures {
        let rule = m["rule_id"].as_str().unwrap();
        let c = &m["counts"];
        let (met, not_met) = (n(e, rule, "met"), n(e, rule, "not_met"));
        assert_eq!(c["met"], met, "{rule}");
        assert_eq!(c["not_met"], not_met, "{rule}");
        assert_eq!(c["denominator"], met + not_met, "{rule}");
        assert_eq!(c["excluded"], n(e, rule, "excluded"), "{rule}");
        assert_eq!(c["pending"], n(e, rule, "pending"), "{rule}");
        if met + not_met > 0 {
            let rate = met as f64 / (met + not_met) as f64;
            assert!((m["rate"].as_f64().unwrap() - rate).abs() < 1e-9, "{rule}");
            let (lo, hi) = cdssd::report::count::wilson(met, met + not_met).unwrap();
            assert!(
                (m["ci95"][0].as_f64().unwrap() - lo).abs() < 1e-9
                    && (m["ci95"][1].as_f64().unwrap() - hi).abs() < 1e-9
            );
        }
        assert_eq!(
            m["not_met"].as_array().unwrap().len() as u64,
            not_met,
            "{rule}: one list entry per not-met encounter"
        );
    }
    // Months: the STEMI measures have one copy discharged in March and one in April.
    let stemi = measures.iter().find(|m| m["pack"] == "stemi").unwrap();
    let months: Vec<&String> = stemi["months"].as_object().unwrap().keys().collect();
    assert_eq!(months, ["2026-03", "2026-04"]);

    // Override analytics: the twice-overridden rule is flagged, the accepted one is not.
    let overrides = json["overrides"].as_array().unwrap();
    let flagged: Vec<&serde_json::Value> = overrides.iter().filter(|o| o["flagged"] == true).collect();
    assert_eq!(flagged.len(), 1, "{overrides:?}");
    assert_eq!((flagged[0]["overridden"].as_u64(), flagged[0]["accepted"].as_u64()), (Some(2), Some(0)));
    assert_eq!(overrides.len(), 2, "{overrides:?}");

    // CSV: the period rows.
    let csv = report(&b, &["--format", "csv"]);
    assert!(csv.starts_with("# coverage,4,6,0\n"), "{csv}");
    let mut seen = 0;
    for line in csv.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[5] != "all" {
            continue;
        }
        let rule = f[2];
        seen += 1;
        let (met, not_met) = (n(e, rule, "met"), n(e, rule, "not_met"));
        let nums: Vec<u64> = f[6..13].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!(
            nums,
            [
                met + not_met,
                met,
                not_met,
                n(e, rule, "excluded"),
                n(e, rule, "pending"),
                n(e, rule, "missing_data"),
                n(e, rule, "error")
            ],
            "{line}"
        );
    }
    assert_eq!(seen, rules.len());

    // Table, both languages, with the coverage line.
    for (lang, coverage) in [("en", "Coverage: 4/6"), ("zh-CN", "覆盖率: 4/6")] {
        let table = report(&b, &["--format", "table", "--lang", lang]);
        assert!(table.contains(coverage), "{table}");
        for rule in &rules {
            // Rows: item, rule id, the counts (grouped under a "[measure set: …]" line).
            let line = table.lines().find(|l| l.split_whitespace().any(|w| w == rule.as_str())).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == rule.as_str()).unwrap();
            let nums: Vec<u64> = words[at + 1..at + 8].iter().map(|x| x.parse().unwrap()).collect();
            let (met, not_met) = (n(e, rule, "met"), n(e, rule, "not_met"));
            assert_eq!(
                nums,
                [
                    met + not_met,
                    met,
                    not_met,
                    n(e, rule, "excluded"),
                    n(e, rule, "pending"),
                    n(e, rule, "missing_data"),
                    n(e, rule, "error")
                ],
                "{line}"
            );
        }
    }

    // A department filter: only the stroke encounter's department.
    let dep = json_department(&b);
    let only: serde_json::Value =
        serde_json::from_str(&report(&b, &["--format", "json", "--department", &dep])).unwrap();
    assert!(only["encounters"].as_u64().unwrap() < 4);

    // HTML in headless Chromium: both languages, the figures in the DOM, a run chart per measure.
    let html = b.dir.path().join("report.html");
    report(&b, &["--format", "html", "--output", html.to_str().unwrap()]);
    let text = std::fs::read_to_string(&html).unwrap();
    for asset in ["<script", "<link", "<img", "src=", "url(", "@import"] {
        assert!(!text.contains(asset), "no external assets ({asset})");
    }
    let dom = chromium(&html, "dump-dom");
    for lang in ["zh-CN", "en"] {
        assert!(dom.contains(&format!("<section lang=\"{lang}\">")), "{lang} section rendered");
    }
    assert!(dom.contains("单病种质控报表") && dom.contains("Single-disease QC report"));
    for rule in &rules {
        let (met, not_met) = (n(e, rule, "met"), n(e, rule, "not_met"));
        let row = format!("<tr data-rule=\"{rule}\" ");
        let at = dom.find(&row).unwrap_or_else(|| panic!("{rule} row in the DOM"));
        let tail = &dom[at..at + dom[at..].find("</tr>").unwrap()];
        assert!(tail.contains(&format!("<td class=\"den\">{}</td>", met + not_met)), "{tail}");
        assert!(tail.contains(&format!("<td class=\"met\">{met}</td>")), "{tail}");
    }
    assert_eq!(dom.matches("class=\"run-chart\"").count(), 2 * rules.len(), "one chart per measure and language");
    chromium(&html, "screenshot");
}

fn json_department(b: &Batch) -> String {
    let text = std::fs::read_to_string(&b.list).unwrap();
    text.lines().find(|l| l.starts_with("enc-r-stk-1")).unwrap().rsplit(',').next().unwrap().to_string()
}

/// Headless Chromium on the file: `dump-dom` returns the rendered DOM; `screenshot`
/// saves target/test-artefacts/report.png.
fn chromium(file: &Path, what: &str) -> String {
    let exe = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new("sh").args(["-c", &format!("command -v {c}")]).output().is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is installed (Debian `chromium`; scripts/setup.sh / .ci/run install it)");
    let profile = tempfile::tempdir().unwrap();
    let artefacts = support::root().join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    if what == "dump-dom" {
        cmd.arg("--dump-dom");
    } else {
        cmd.arg(format!("--screenshot={}", artefacts.join("report.png").display())).arg("--window-size=1200,1600");
    }
    let out = cmd.arg(format!("file://{}", file.display())).output().unwrap();
    assert!(out.status.success(), "chromium {what}: {}", String::from_utf8_lossy(&out.stderr));
    if what == "screenshot" {
        assert!(artefacts.join("report.png").metadata().unwrap().len() > 1000, "a screenshot was written");
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
