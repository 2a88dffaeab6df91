//! The SQLite audit store unwritable under a running daemon (issue 16, reliability): calls
//! fail closed with UNAVAILABLE, nothing is acknowledged that was not stored, and service
//! resumes when the store is writable again.
//!
//! The daemon runs in its own user and mount namespace (`unshare -rm`) with its audit
//! directory on a small tmpfs there; the test fills that file system through `nsenter`
//! (ENOSPC: the disk-full a hospital sees) and frees it again. A read-only remount cannot
//! be used: the kernel refuses it (EBUSY) while SQLite holds its files open for writing,
//! which it always does. What was stored is read back over the real `AuditService` RPC.

use std::{collections::BTreeSet, ffi::OsStr, process::Command, time::Duration};

use cdssd::proto::v1::{self as pb, audit_service_client::AuditServiceClient};

use crate::daemon::{request, Daemon};

/// `script` run by sh inside the daemon's namespaces, with `$D` = its audit directory.
fn inside(daemon: &Daemon, script: &str) -> std::process::Output {
    let pid = daemon.daemon_pid().expect("cdssd runs under the wrapper").to_string();
    Command::new("nsenter")
        .args(["-t", &pid, "-U", "-m", "--preserve-credentials", "sh", "-c", script])
        .env("D", daemon.audit_dir.path())
        .output()
        .expect("nsenter runs")
}

/// Fill the audit file system to the last block (dd stops at ENOSPC).
fn fill(daemon: &Daemon) {
    let out = inside(daemon, r#"dd if=/dev/zero of="$D/filler" bs=64k 2>&1; df -k "$D""#);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No space left on device"), "the file system is full: {text}");
}

fn free(daemon: &Daemon) {
    let out = inside(daemon, r#"rm "$D/filler""#);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn call(
    client: &mut pb::cds_service_client::CdsServiceClient<tonic::transport::Channel>,
) -> Result<String, tonic::Status> {
    client
        .evaluate(request("heart_failure.json", pb::Trigger::Discharge))
        .await
        .map(|r| r.into_inner().decision.unwrap().decision_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_fails_closed_and_service_resumes() {
    // sh stays the parent of cdssd (Daemon finds cdssd as the wrapper's child).
    let script = r#"mount -t tmpfs -o size=16m tmpfs "$CDSSD__AUDIT__DIR" && "$@"; status=$?; exit $status"#;
    let wrapper: Vec<&OsStr> = ["unshare", "-rm", "sh", "-c", script, "sh"].into_iter().map(OsStr::new).collect();
    let daemon = Daemon::start_under(&wrapper, &[]);
    let mut client = daemon.client().await;
    let mut acked = BTreeSet::new();
    for _ in 0..5 {
        acked.insert(call(&mut client).await.expect("store writable"));
    }

    fill(&daemon);
    let mut refused = 0;
    for _ in 0..5 {
        match call(&mut client).await {
            Ok(id) => panic!("answered {id} while the store was full"),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                assert!(!s.message().contains("pt-000201") && !s.message().contains("enc-hf"), "{}", s.message());
                refused += 1;
            }
        }
    }
    // Other calls keep working meanwhile (the store is not needed to list rule packs).
    client.list_rule_packs(pb::ListRulePacksRequest {}).await.expect("rules still listed");

    free(&daemon);
    let mut resumed = false;
    for _ in 0..40 {
        if let Ok(id) = call(&mut client).await {
            acked.insert(id);
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(resumed, "service resumes when the store is writable again");
    for _ in 0..3 {
        acked.insert(call(&mut client).await.expect("store writable again"));
    }

    let scrape = daemon.scrape().await;
    assert!(scrape.get("cdssd_audit_failed_closed_total") >= f64::from(refused), "counted:\n{}", scrape.text);

    // What is stored: exactly the acknowledged decisions, none twice, none of the refused.
    let mut audit = AuditServiceClient::connect(format!("http://{}", daemon.grpc_addr())).await.unwrap();
    let history = audit
        .get_encounter_history(pb::GetEncounterHistoryRequest { encounter_id: "enc-hf-001".into() })
        .await
        .expect("history")
        .into_inner();
    let stored: Vec<String> = history.decisions.iter().map(|d| d.decision_id.clone()).collect();
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no duplicated records: {stored:?}");
    assert_eq!(unique, acked, "stored = acknowledged (nothing lost, nothing refused stored)");
    println!("sqlite disk full: {} acknowledged (all stored), {refused} refused UNAVAILABLE while full", acked.len());
    assert!(daemon.stop().success());
}
