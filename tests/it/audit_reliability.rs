//! Reliability of the audit with a real PostgreSQL server (loopback, bounded):
//! the server stopped mid-run → calls fail closed with UNAVAILABLE, nothing
//! acknowledged is missing, service resumes when it returns; two daemons writing
//! to one database → no lost or duplicated records.

use std::collections::BTreeSet;

use cdssd::{
    audit::{self, AuditStore},
    proto::v1 as pb,
};

use crate::{
    daemon::{request, Daemon},
    pg::PgCluster,
};

fn pg_daemon(pg: &PgCluster) -> Daemon {
    let url = pg.url();
    Daemon::start(&[
        ("CDSSD__AUDIT__BACKEND", "postgres"),
        ("CDSSD__AUDIT__URL", &url),
        ("CDSSD__AUDIT__CONNECT_TIMEOUT_MS", "500"),
    ])
}

async fn stored_ids(pg: &PgCluster) -> BTreeSet<String> {
    let url = pg.url();
    tokio::task::spawn_blocking(move || {
        let mut settings =
            crate::support::settings_with(&[("CDSSD__AUDIT__BACKEND", "postgres"), ("CDSSD__AUDIT__URL", &url)]);
        settings.audit.dir = std::env::temp_dir();
        let store: std::sync::Arc<dyn AuditStore> = audit::open(&settings.audit).unwrap().unwrap();
        let mut ids = Vec::new();
        store.scan(&audit::Scan::default(), &mut |d| ids.push(d.id)).unwrap();
        let n = ids.len();
        let set: BTreeSet<String> = ids.into_iter().collect();
        assert_eq!(set.len(), n, "no duplicated records");
        set
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_closed_and_service_resumes() {
    let pg = PgCluster::start();
    let daemon = pg_daemon(&pg);
    let mut client = daemon.client().await;
    let mut acked = BTreeSet::new();
    let call = async |client: &mut pb::cds_service_client::CdsServiceClient<tonic::transport::Channel>| {
        client
            .evaluate(request("heart_failure.json", pb::Trigger::Discharge))
            .await
            .map(|r| r.into_inner().decision.unwrap().decision_id)
    };
    for _ in 0..5 {
        acked.insert(call(&mut client).await.expect("store up"));
    }
    pg.stop();
    let mut refused = 0;
    for _ in 0..5 {
        match call(&mut client).await {
            Ok(id) => panic!("answered {id} while the store was down"),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                refused += 1;
            }
        }
    }
    pg.restart();
    let mut resumed = false;
    for _ in 0..20 {
        if let Ok(id) = call(&mut client).await {
            acked.insert(id);
            resumed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(resumed, "service resumes when the store returns");
    let scrape = daemon.scrape().await;
    assert!(scrape.get("cdssd_audit_failed_closed_total") >= f64::from(refused), "counted");
    let stored = stored_ids(&pg).await;
    assert!(
        acked.is_subset(&stored),
        "acknowledged but not stored: {:?}",
        acked.difference(&stored).collect::<Vec<_>>()
    );
    println!("postgres outage: {} acknowledged (all stored), {refused} refused UNAVAILABLE while down", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_postgres_lose_and_duplicate_nothing() {
    let pg = PgCluster::start();
    let (a, b) = (pg_daemon(&pg), pg_daemon(&pg));
    let mut tasks = Vec::new();
    for d in [&a, &b] {
        for _ in 0..3 {
            let addr = d.grpc_addr();
            tasks.push(tokio::spawn(async move {
                let mut c = pb::cds_service_client::CdsServiceClient::connect(format!("http://{addr}")).await.unwrap();
                let mut ids = Vec::new();
                for _ in 0..40 {
                    let r = c.evaluate(request("stemi_primary_pci.json", pb::Trigger::Discharge)).await.unwrap();
                    ids.push(r.into_inner().decision.unwrap().decision_id);
                }
                ids
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let stored = stored_ids(&pg).await;
    let unique: BTreeSet<String> = acked.iter().cloned().collect();
    assert_eq!(unique.len(), acked.len(), "decision ids are unique across daemons");
    assert_eq!(stored, unique, "every acknowledged record stored once, nothing else");
    println!("two daemons: {} acknowledged, {} stored, 0 lost, 0 duplicated", acked.len(), stored.len());
}
