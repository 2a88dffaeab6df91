//! The audit end to end over gRPC against the real daemon: every answered
//! decision is recorded (decision_id), retrieved with its basis, its request
//! read back (and that read logged); feedback stored against a card; and after
//! SIGKILL in the middle of a load run every acknowledged decision is in the store.

use std::collections::BTreeSet;

use cdssd::{
    audit::{self, AuditStore},
    proto::v1::{self as pb, audit_service_client::AuditServiceClient},
};

use crate::daemon::{request, Daemon};

fn store_of(daemon: &Daemon) -> std::sync::Arc<dyn AuditStore> {
    let settings = crate::support::settings_with(&[("CDSSD__AUDIT__DIR", daemon.audit_dir.path().to_str().unwrap())]);
    audit::open(&settings.audit).unwrap().unwrap()
}

#[tokio::test]
async fn decisions_are_recorded_retrieved_and_take_feedback_over_grpc() {
    let daemon = Daemon::start(&[]);
    let mut cds = daemon.client().await;
    let req = request("stemi_primary_pci.json", pb::Trigger::Discharge);
    let decision = cds.evaluate(req.clone()).await.unwrap().into_inner().decision.unwrap();
    assert!(!decision.decision_id.is_empty(), "the answered decision names its audit record");
    let mut audit = AuditServiceClient::connect(format!("http://{}", daemon.grpc_addr())).await.unwrap();

    // One decision with its basis, and the request itself on demand.
    let got = audit
        .get_decision(pb::GetDecisionRequest { decision_id: decision.decision_id.clone(), include_request: false })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.findings.len(), decision.findings.len());
    for (r, f) in got.findings.iter().zip(&decision.findings) {
        assert_eq!((&r.rule_id, &r.rule_version, r.status), (&f.rule_id, &f.rule_version, f.status));
        let refs: Vec<String> = f.evidence.iter().map(|e| format!("{}/{}", e.item_type, e.item_id)).collect();
        assert_eq!(r.evidence_refs, refs);
    }
    assert_eq!(got.risks.len(), decision.risks.len());
    assert!(got.request.is_none());
    let with_request = audit
        .get_decision(pb::GetDecisionRequest { decision_id: decision.decision_id.clone(), include_request: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(with_request.request.as_ref(), Some(&req), "the sealed request opens to what was sent");

    // The encounter's history.
    let history = audit
        .get_encounter_history(pb::GetEncounterHistoryRequest { encounter_id: "enc-stemi-001".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.decisions.len(), 1);
    assert_eq!(history.decisions[0].decision_id, decision.decision_id);
    assert!(!history.encounter_pseudonym.contains("stemi"));

    // Feedback on a card; bad feedback is refused with the right code.
    let card = &decision.cards[0];
    let fb = pb::FeedbackRequest {
        decision_id: decision.decision_id.clone(),
        card_id: card.uuid.clone(),
        outcome: pb::FeedbackOutcome::Overridden as i32,
        override_reason: "contraindicated".into(),
        comment: "see note".into(),
        user_role: "physician".into(),
        time: None,
    };
    let id = audit.feedback(fb.clone()).await.unwrap().into_inner().feedback_id;
    assert!(!id.is_empty());
    let e = audit.feedback(pb::FeedbackRequest { override_reason: String::new(), ..fb.clone() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = audit.feedback(pb::FeedbackRequest { card_id: "no-such-card".into(), ..fb.clone() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    let e = audit.get_decision(pb::GetDecisionRequest { decision_id: "nope".into(), include_request: false }).await;
    assert_eq!(e.unwrap_err().code(), tonic::Code::NotFound);

    daemon_store_checks(&daemon, &decision, card);

    // The worklist: the STEMI still in the ED (snapshot at 09:45 local) has pending measures by deadline.
    let mut live = request("stemi_in_progress.json", pb::Trigger::PeriodicReview);
    live.evaluation_time = Some(pbjson_types::Timestamp { seconds: 1_773_971_100, nanos: 0 }); // 2026-03-20T01:45:00Z
    let d = cds.evaluate(live).await.unwrap().into_inner().decision.unwrap();
    let pending: std::collections::BTreeSet<String> =
        d.findings.iter().filter(|f| f.status() == pb::FindingStatus::Pending).map(|f| f.rule_id.clone()).collect();
    assert!(pending.contains("stemi.door_to_device_90"), "{pending:?}");
    let items = audit.worklist(pb::WorklistRequest { department: String::new() }).await.unwrap().into_inner().items;
    let listed: std::collections::BTreeSet<String> = items.iter().map(|i| i.rule_id.clone()).collect();
    assert_eq!(
        listed, pending,
        "exactly the pending measures of the current inpatient (the discharged STEMI has none)"
    );
    let deadlines: Vec<i64> = items.iter().map(|i| i.deadline.map_or(i64::MAX, |t| t.seconds)).collect();
    assert!(deadlines.windows(2).all(|w| w[0] <= w[1]), "by deadline: {deadlines:?}");
    for i in &items {
        assert_eq!(i.decision_id, d.decision_id);
        assert_eq!(i.overdue, i.deadline.is_some(), "deadlines in March 2026 have passed: {i:?}");
    }
}

fn daemon_store_checks(daemon: &Daemon, decision: &pb::Decision, card: &pb::Card) {
    let store = store_of(daemon);
    let fb = store.feedback(0, i64::MAX).unwrap();
    assert_eq!(fb.len(), 1);
    assert_eq!((fb[0].card_id.as_str(), fb[0].outcome.as_str()), (card.uuid.as_str(), "overridden"));
    assert_eq!(fb[0].decision_id, decision.decision_id);
    assert_eq!(fb[0].source_id, card.source.as_ref().unwrap().id);
    let log = store.access_log(10).unwrap();
    assert!(log.iter().any(|a| a.action == "decision_request" && a.subject == decision.decision_id), "{log:?}");
}

#[tokio::test]
async fn after_sigkill_every_acknowledged_decision_is_in_the_store() {
    let daemon = Daemon::start(&[]);
    let addr = daemon.grpc_addr();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = pb::cds_service_client::CdsServiceClient::connect(format!("http://{addr}")).await.unwrap();
            let mut acked = Vec::new();
            for _ in 0..400 {
                let name = if t % 2 == 0 { "stemi_primary_pci.json" } else { "heart_failure.json" };
                match client.evaluate(request(name, pb::Trigger::Discharge)).await {
                    Ok(r) => {
                        acked.push(r.into_inner().decision.unwrap().decision_id);
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    // Kill in the middle of the run: once 100 calls were acknowledged (of 3,200), calls still in flight.
    let waited = std::time::Instant::now();
    while count.load(std::sync::atomic::Ordering::SeqCst) < 100
        && waited.elapsed() < std::time::Duration::from_secs(120)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    daemon.sigkill();
    let mut acked = BTreeSet::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(acked.len() >= 100 && acked.len() < 3200, "the kill came mid-run ({} acknowledged)", acked.len());
    let store = store_of(&daemon);
    let mut stored = BTreeSet::new();
    store
        .scan(&audit::Scan::default(), &mut |d| {
            stored.insert(d.id);
        })
        .unwrap();
    let lost: Vec<_> = acked.difference(&stored).collect();
    println!("sigkill: {} acknowledged, {} stored, {} lost", acked.len(), stored.len(), lost.len());
    assert!(lost.is_empty(), "{} acknowledged decisions lost: {lost:?}", lost.len());
}
