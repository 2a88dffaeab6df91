//! One test suite for the audit store, run against both backends: SQLite (a
//! file in a temp dir) and PostgreSQL (a real server started by the test).
//! Decisions come from the real pipeline on the example encounters.

use std::{collections::BTreeSet, sync::Arc};

use cdssd::{
    audit::{
        self, db::Conn, keys::KeyRing, AccessRecord, AuditStore, AuditWriter, DecisionRecord, FeedbackRecord,
        RetainedTable, Scan,
    },
    pipeline::Pipeline,
    proto::v1 as pb,
};

use crate::{pg::PgCluster, support};

const EXAMPLES: &[&str] =
    &["stemi_primary_pci.json", "heart_failure.json", "stroke_thrombolysis.json", "septic_shock.json"];

/// Real decisions for the examples (rules + risk, no LLM), with their requests.
pub(crate) async fn decisions() -> Vec<(pb::EvaluateRequest, pb::Decision)> {
    let pipeline = Pipeline::new(Arc::new(support::settings_with(&[]))).expect("pipeline builds");
    let mut out = Vec::new();
    for name in EXAMPLES {
        let req = support::request(name);
        let ctx = pipeline
            .prepare(
                &req,
                cdssd::pipeline::Call {
                    request_id: format!("req-{name}"),
                    deadline: None,
                    budget: cdssd::pipeline::Budget::Decision,
                    caller: "test".into(),
                },
            )
            .expect("valid example");
        out.push((req, pipeline.evaluate(&ctx).await.expect("evaluates")));
    }
    out
}

fn keys(dir: &std::path::Path) -> KeyRing {
    KeyRing::load(&dir.join("keys.toml"), true).unwrap()
}

/// The suite: `raw` is a second connection to the same database, for what the trait must not allow.
/// Runs on a blocking thread (the PostgreSQL client blocks and must not run on an async worker).
fn suite(
    store: Arc<dyn AuditStore>,
    raw: &mut dyn Conn,
    keys: &KeyRing,
    evaluated: &[(pb::EvaluateRequest, pb::Decision)],
) {
    let rt = tokio::runtime::Handle::current();
    let records: Vec<DecisionRecord> = evaluated
        .iter()
        .map(|(req, d)| DecisionRecord::build(keys, req, d, "test-caller", "Asia/Shanghai").unwrap())
        .collect();
    store.append(&records[..2]).unwrap();
    store.append(&records[2..]).unwrap();
    assert_eq!(store.count("decisions").unwrap(), records.len() as i64);

    // Round trip: every field, findings, risks and the sealed request; the request opens to the original.
    for (rec, (req, decision)) in records.iter().zip(evaluated.iter()) {
        let back = store.decision(&rec.id).unwrap();
        assert_eq!(&back, rec, "{} reads back unchanged", rec.id);
        assert_eq!(&back.open_request(keys).unwrap(), req);
        assert!(!back.findings.is_empty());
        assert_eq!(back.findings.len(), decision.findings.len());
        assert_eq!(back.rule_set_version, decision.versions.as_ref().unwrap().rule_set);
    }
    let stemi = &records[0];
    assert_eq!(stemi.encounter_pid, keys.pseudonym("enc-stemi-001"));
    assert!(stemi.risks.iter().any(|r| r.model_id == "ami-1y-mortality"), "{:?}", stemi.risks);
    assert!(matches!(store.decision("no-such-id"), Err(audit::AuditError::NotFound(_))));

    // History of one encounter: a second evaluation appends, oldest first.
    let again = DecisionRecord::build(keys, &evaluated[0].0, &evaluated[0].1, "test-caller", "Asia/Shanghai").unwrap();
    store.append(std::slice::from_ref(&again)).unwrap();
    let history = store.history(&stemi.encounter_pid).unwrap();
    assert_eq!(history.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec![stemi.id.as_str(), again.id.as_str()]);
    assert_eq!(history[0].findings, stemi.findings.len() as i64);

    // Scans filter by discharge period and department.
    let mut seen = Vec::new();
    store.scan(&Scan::default(), &mut |d| seen.push(d.id)).unwrap();
    assert_eq!(seen.len(), records.len() + 1);
    let mut cardiology = 0;
    let dep = stemi.department.clone();
    store
        .scan(&Scan { department: Some(dep.clone()), ..Default::default() }, &mut |d| {
            assert_eq!(d.department, dep);
            cardiology += 1;
        })
        .unwrap();
    assert!(cardiology >= 2, "{cardiology}");
    let mut none = 0;
    store.scan(&Scan { discharged_to_us: Some(0), ..Default::default() }, &mut |_| none += 1).unwrap();
    assert_eq!(none, 0);

    // PHI minimisation: the decision tables hold no EMR encounter or patient id.
    for table in ["decisions", "findings", "risks"] {
        let rows = cdssd::audit::db::rows(raw, &format!("SELECT * FROM {table}"), &[]).unwrap();
        let text = format!("{rows:?}");
        for (req, _) in evaluated {
            let enc = req.encounter.as_ref().unwrap();
            assert!(!text.contains(&enc.id), "{table} holds encounter id {}", enc.id);
            assert!(!text.contains(&enc.patient.as_ref().unwrap().id), "{table} holds a patient id");
        }
    }

    // Feedback is stored against the decision, its comment sealed.
    let card = &stemi.cards[0];
    let fb = FeedbackRecord {
        id: uuid::Uuid::new_v4().to_string(),
        decision_id: stemi.id.clone(),
        card_id: card.card_id.clone(),
        source_id: card.source_id.clone(),
        source_version: card.source_version.clone(),
        department: stemi.department.clone(),
        outcome: "overridden".into(),
        reason_code: "contraindicated".into(),
        comment: keys.seal("fb", "Patient Zhang refused".as_bytes()).unwrap(),
        user_role: "physician".into(),
        time_us: audit::now_us(),
        recorded_us: audit::now_us(),
    };
    store.append_feedback(&fb).unwrap();
    assert_eq!(store.feedback(0, i64::MAX).unwrap(), vec![fb.clone()]);
    let raw_fb = format!("{:?}", cdssd::audit::db::rows(raw, "SELECT * FROM feedback", &[]).unwrap());
    assert!(!raw_fb.contains("Zhang"), "feedback comment stored in clear");

    // Reads of PHI are recorded.
    store.record_access(&AccessRecord::now("qc-nurse", "decision_request", &stemi.id, 1)).unwrap();
    let log = store.access_log(10).unwrap();
    assert_eq!((log[0].actor.as_str(), log[0].action.as_str(), log[0].records), ("qc-nurse", "decision_request", 1));

    // Append-only: UPDATE and DELETE are refused by the database itself.
    for sql in [
        "UPDATE decisions SET department = 'X'",
        "DELETE FROM decisions",
        "UPDATE findings SET status = 'met'",
        "DELETE FROM requests",
        "DELETE FROM access_log",
    ] {
        let e = raw.batch(sql).expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(store.count("decisions").unwrap(), records.len() as i64 + 1);

    // Retention: purging requests keeps the decisions; purging decisions cascades; each run is recorded.
    let cutoff = again.recorded_us; // everything before the second STEMI evaluation
    let purged = store.purge(RetainedTable::Requests, cutoff, "test").unwrap();
    assert_eq!(purged, records.len() as u64);
    assert_eq!(store.count("requests").unwrap(), 1);
    assert_eq!(store.count("decisions").unwrap(), records.len() as i64 + 1);
    let purged = store.purge(RetainedTable::Decisions, cutoff, "test").unwrap();
    assert_eq!(purged, records.len() as u64);
    assert_eq!(store.count("decisions").unwrap(), 1);
    assert_eq!(store.count("findings").unwrap(), again.findings.len() as i64, "findings follow their decision");
    let runs = cdssd::audit::db::rows(raw, "SELECT table_name, deleted FROM purge_runs ORDER BY time_us", &[]).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0][0].text(), "requests");
    assert_eq!(runs[1][1].int(), records.len() as i64);
    assert!(raw.batch("DELETE FROM decisions").is_err(), "append-only again after the purge");

    // Group commit under concurrency: every acknowledged record is there exactly once.
    let writer = AuditWriter::start(store.clone(), 16, 64);
    let template = records[1].clone();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (w, mut r) = (writer.clone(), template.clone());
        tasks.push(rt.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..25 {
                r.id = format!("concurrent-{t}-{i}");
                w.record(r.clone()).await.unwrap();
                ids.push(r.id.clone());
            }
            ids
        }));
    }
    let mut acked = BTreeSet::new();
    for t in tasks {
        acked.extend(rt.block_on(t).unwrap());
    }
    assert_eq!(acked.len(), 200);
    let mut stored = BTreeSet::new();
    store
        .scan(&Scan::default(), &mut |d| {
            if d.id.starts_with("concurrent-") {
                assert!(stored.insert(d.id), "duplicate");
            }
        })
        .unwrap();
    assert_eq!(stored, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend_passes_the_audit_suite() {
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings_with(&[("CDSSD__AUDIT__DIR", dir.path().to_str().unwrap())]);
    let store = audit::open(&settings.audit).unwrap().expect("sqlite is on");
    assert_eq!(store.backend().label(), "sqlite");
    let mut raw = audit::sqlite::SqliteConn::open(&settings.audit.sqlite_path()).unwrap();
    let evaluated = decisions().await;
    let keys = keys(dir.path());
    tokio::task::spawn_blocking(move || {
        suite(store, &mut raw, &keys, &evaluated);
        // WAL journal on the file.
        let mode = cdssd::audit::db::rows(&mut raw, "PRAGMA journal_mode", &[]).unwrap();
        assert_eq!(mode[0][0].text(), "wal");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend_passes_the_audit_suite() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let settings = support::settings_with(&[("CDSSD__AUDIT__BACKEND", "postgres"), ("CDSSD__AUDIT__URL", &url)]);
    let evaluated = decisions().await;
    let keys = keys(dir.path());
    tokio::task::spawn_blocking(move || {
        let store = audit::open(&settings.audit).unwrap().unwrap();
        assert_eq!(store.backend().label(), "postgres");
        let mut raw = audit::postgres::PgConn::connect(&url, None, std::time::Duration::from_secs(5)).unwrap();
        suite(store, &mut raw, &keys, &evaluated);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_and_a_second_open_finds_them_done() {
    let dir = tempfile::tempdir().unwrap();
    let settings = support::settings_with(&[("CDSSD__AUDIT__DIR", dir.path().to_str().unwrap())]);
    drop(audit::open(&settings.audit).unwrap());
    drop(audit::open(&settings.audit).unwrap());
    let mut raw = audit::sqlite::SqliteConn::open(&settings.audit.sqlite_path()).unwrap();
    let applied = cdssd::audit::db::rows(&mut raw, "SELECT version FROM audit_migrations", &[]).unwrap();
    assert_eq!(applied.len(), 1);
}
