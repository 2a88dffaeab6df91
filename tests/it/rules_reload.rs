//! Hot reload of the rule set through the one reload path (`cdssd::reload`): the one
//! watcher (plain edits, Kubernetes ConfigMap `..data` symlink swaps, dot-files ignored),
//! SIGHUP, the admin RPC, `ListRulePacks`, and reloads while requests are in flight (no
//! request fails, each names exactly one version).

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
    time::Duration,
};

use cdssd::{
    proto::v1::{self as pb, admin_service_client::AdminServiceClient, cds_service_client::CdsServiceClient},
    reload::{Cause, Reload, Reloader, Running},
    rules::{service::compiler_from, store::RuleStore},
};

use crate::rules::{copy_tree, fixture_copy, fixture_dir};
use crate::support::{request, settings_with, TestServer};

/// The one watcher over `store` alone (no SIGHUP: other tests of this binary send it).
fn watch(store: &Arc<RuleStore>) -> Running {
    Reloader::new().add(store.clone(), true, Duration::from_millis(100)).start().unwrap()
}

/// Wait (up to 20 s) until `cond` holds; the watcher is asynchronous.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn bump_versions(dir: &Path, to: &str) {
    for name in ["aspirin_arrival", "door_to_device", "statin_discharge"] {
        let p = dir.join(format!("stemi/{name}.rhai"));
        let text = std::fs::read_to_string(&p).unwrap();
        let text = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("version:") {
                    format!("        version: \"{to}\",")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&p, text).unwrap();
    }
}

#[tokio::test]
async fn watcher_reloads_an_edit_and_rejects_a_broken_one() {
    let (_tmp, dir) = fixture_copy();
    let store = Arc::new(RuleStore::open(&dir, compiler_from(&settings_with(&[]))).unwrap());
    let _w = watch(&store);
    let v0 = store.current().version.clone();

    bump_versions(&dir, "2.0.0");
    eventually("edit in force", || store.current().version != v0).await;
    let v1 = store.current().version.clone();
    assert_eq!(store.current().rule("stemi.aspirin_arrival").unwrap().meta.version, "2.0.0");

    let p = dir.join("stemi/aspirin_arrival.rhai");
    let good = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, good.replace("fn evaluate(enc) {", "fn evaluate(enc) {\n    let = ;")).unwrap();
    eventually("broken edit rejected", || !store.last_reload().loaded).await;
    assert_eq!(store.current().version, v1, "the previous set keeps answering");
    let last = store.last_reload();
    assert_eq!((last.cause, last.version.as_str(), last.changed), (Cause::FileChange, v1.as_str(), false));
    let e = &last.errors[0];
    assert_eq!(e.path, "stemi/aspirin_arrival.rhai");
    assert!(e.line > 0 && e.column > 0, "{e}");
}

#[tokio::test]
async fn dot_file_edits_trigger_no_reload() {
    let (_tmp, dir) = fixture_copy();
    let store = Arc::new(RuleStore::open(&dir, compiler_from(&settings_with(&[]))).unwrap());
    let _w = watch(&store);
    let attempts = store.attempts();
    // An editor's swap file, a hidden directory and a dot-file of a rule: nothing to reload.
    std::fs::write(dir.join("stemi/.aspirin_arrival.rhai.swp"), "swap").unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join(".git/index"), "x").unwrap();
    std::fs::write(dir.join("stemi/.hidden.rhai"), "fn evaluate(enc) { let = ; }").unwrap();
    // Longer than the debounce (100 ms) and the longest postponement (1.5 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(store.attempts(), attempts, "a dot-entry started a reload: {:?}", store.last_reload());
    // The same watcher does react to a real file (so the quiet above was not a dead watcher).
    bump_versions(&dir, "5.0.0");
    eventually("edit in force", || store.attempts() > attempts && store.last_reload().changed).await;
}

/// Lay out `content` the way kubelet does for a ConfigMap volume: `..<ts>/` holds the
/// files, `..data -> ..<ts>`, and each top-level entry is a symlink into `..data`.
fn configmap_generation(root: &Path, ts: &str, content: &Path) {
    let gen = root.join(ts);
    copy_tree(content, &gen);
    let tmp_link = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(ts, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, root.join("..data")).unwrap(); // atomic swap
    for entry in std::fs::read_dir(content).unwrap() {
        let name = entry.unwrap().file_name();
        let link = root.join(&name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(&name), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn watcher_follows_a_configmap_symlink_swap() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("repo/rules");
    std::fs::create_dir_all(&mount).unwrap();
    copy_tree(&crate::support::root().join("examples/encounters"), &tmp.path().join("repo/examples/encounters"));
    configmap_generation(&mount, "..2026_03_01_a", &fixture_dir());
    let store = Arc::new(RuleStore::open(&mount, compiler_from(&settings_with(&[]))).unwrap());
    let _w = watch(&store);
    let v0 = store.current().version.clone();
    assert_eq!(store.current().rule_count(), 3);

    let (_t2, next) = fixture_copy();
    bump_versions(&next, "3.0.0");
    configmap_generation(&mount, "..2026_03_02_b", &next);
    std::fs::remove_dir_all(mount.join("..2026_03_01_a")).unwrap();
    eventually("swapped set in force", || store.current().version != v0).await;
    assert_eq!(store.current().rule("stemi.door_to_device").unwrap().meta.version, "3.0.0");
    assert!(store.last_reload().loaded);

    // A broken generation swapped in: refused, the 3.0.0 set keeps answering.
    let v1 = store.current().version.clone();
    let (_t3, broken) = fixture_copy();
    let p = broken.join("stemi/aspirin_arrival.rhai");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p).unwrap().replace("fn evaluate(enc) {", "fn evaluate(enc) {\n    let = ;"),
    )
    .unwrap();
    configmap_generation(&mount, "..2026_03_03_c", &broken);
    eventually("broken generation refused", || !store.last_reload().loaded).await;
    assert_eq!(store.current().version, v1);
    assert_eq!(store.last_reload().errors[0].path, "stemi/aspirin_arrival.rhai");
}

#[tokio::test]
async fn sighup_reloads() {
    let (_tmp, dir) = fixture_copy();
    let store = Arc::new(RuleStore::open(&dir, compiler_from(&settings_with(&[]))).unwrap());
    let _h = Reloader::new().add(store.clone(), false, Duration::from_millis(100)).on_sighup().start().unwrap();
    let v0 = store.current().version.clone();
    bump_versions(&dir, "4.0.0");
    let pid = std::process::id().to_string();
    let st = std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(st.success());
    eventually("SIGHUP reload", || store.current().version != v0).await;
    assert_eq!(store.current().rule("stemi.aspirin_arrival").unwrap().meta.version, "4.0.0");
    assert_eq!(store.last_reload().cause, Cause::Sighup);
}

#[tokio::test]
async fn list_rule_packs_and_admin_reload_over_grpc() {
    let (_tmp, dir) = fixture_copy();
    let settings = settings_with(&[("CDSSD__RULES__DIR", dir.to_str().unwrap()), ("CDSSD__RULES__WATCH", "false")]);
    let server = TestServer::start(settings).await;
    let mut cds = CdsServiceClient::new(server.channel().await);
    let mut admin = AdminServiceClient::new(server.channel().await);

    let list = cds.list_rule_packs(pb::ListRulePacksRequest {}).await.unwrap().into_inner();
    assert_eq!(list.packs.len(), 1);
    assert_eq!(list.packs[0].id, "stemi");
    let ids: Vec<&str> = list.packs[0].rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["stemi.aspirin_arrival", "stemi.door_to_device", "stemi.statin_discharge"]);
    let dtd = &list.packs[0].rules[1];
    assert_eq!(
        (dtd.version.as_str(), dtd.measure.as_str(), dtd.path.as_str()),
        ("1.0.0", "CMS AMI-8a; NHC-2020 STEMI", "stemi/door_to_device.rhai")
    );
    assert!(dtd.triggers.contains(&"TRIGGER_DISCHARGE".to_string()));
    assert_eq!(list.last_reload_status(), pb::LoadStatus::Loaded);
    let v0 = list.rule_set_version.clone();

    std::fs::write(dir.join("stemi/bad.rhai"), "fn meta() { #{} }\nfn evaluate(enc) {\n  nope(1)\n}").unwrap();
    // Expect both the lint error and the metadata errors, in one answer.
    let r = admin.reload_rules(pb::ReloadRulesRequest {}).await.unwrap().into_inner();
    assert_eq!(r.status(), pb::LoadStatus::Failed);
    assert_eq!(r.version, v0);
    assert!(r.errors.iter().any(|e| e.path == "stemi/bad.rhai" && e.line == 3 && e.column == 3), "{:?}", r.errors);
    let list = cds.list_rule_packs(pb::ListRulePacksRequest {}).await.unwrap().into_inner();
    assert_eq!(list.rule_set_version, v0);
    assert_eq!(list.last_reload_status(), pb::LoadStatus::Failed);
    assert_eq!(list.last_reload_errors.len(), r.errors.len());
    // The one outcome shape: the RPC's answer is what ListRulePacks shows as last_reload.
    let last = list.last_reload.expect("last_reload");
    assert_eq!((last.component(), last.cause()), (pb::ReloadComponent::Rules, pb::ReloadCause::Admin));
    assert_eq!((last.status, last.version.as_str(), last.errors.len()), (r.status, v0.as_str(), r.errors.len()));
    assert!(!r.changed);

    std::fs::remove_file(dir.join("stemi/bad.rhai")).unwrap();
    bump_versions(&dir, "2.0.0");
    let r = admin.reload_rules(pb::ReloadRulesRequest {}).await.unwrap().into_inner();
    assert_eq!(r.status(), pb::LoadStatus::Loaded);
    assert_ne!(r.version, v0);
    assert!(r.errors.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_rule_pack_is_invalid_argument() {
    let settings = settings_with(&[("CDSSD__RULES__DIR", fixture_dir().to_str().unwrap())]);
    let server = TestServer::start(settings).await;
    let mut cds = CdsServiceClient::new(server.channel().await);
    let mut req = request("stemi_primary_pci.json");
    req.options.as_mut().unwrap().rule_packs = vec!["stemi".into(), "cardiology".into()];
    let err = cds.evaluate(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let bad = tonic_types::StatusExt::get_details_bad_request(&err).expect("BadRequest details");
    assert_eq!(bad.field_violations.len(), 1, "{bad:?}");
    assert_eq!(bad.field_violations[0].field, "options.rule_packs[1]");
    assert!(bad.field_violations[0].description.contains("unknown rule pack `cardiology`"), "{bad:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn evaluate_reports_findings_evidence_and_timings() {
    let settings = settings_with(&[("CDSSD__RULES__DIR", fixture_dir().to_str().unwrap())]);
    let server = TestServer::start(settings).await;
    let mut cds = CdsServiceClient::new(server.channel().await);
    let mut req = request("stemi_in_progress.json");
    req.trigger = pb::Trigger::PeriodicReview as i32;
    // 40 minutes after arrival (01:05Z), no PCI yet: door-to-device is pending.
    req.evaluation_time = Some(pbjson_types::Timestamp { seconds: 1_773_971_100, nanos: 0 });
    let d = cds.evaluate(req).await.unwrap().into_inner().decision.unwrap();
    let by_id: HashMap<&str, &pb::Finding> = d.findings.iter().map(|f| (f.rule_id.as_str(), f)).collect();
    assert!(!by_id.contains_key("stemi.statin_discharge"), "trigger filter: discharge-only rule skipped");
    let asp = by_id["stemi.aspirin_arrival"];
    assert_eq!(asp.status(), pb::FindingStatus::Met, "{asp:?}");
    assert_eq!(asp.evidence[0].item_type, "medication_administrations");
    let dtd = by_id["stemi.door_to_device"];
    assert_eq!(dtd.status(), pb::FindingStatus::Pending, "{dtd:?}");
    assert_eq!(dtd.deadline.as_ref().unwrap().seconds, 1_773_968_700 + 90 * 60);
    assert!(d.findings.iter().all(|f| f.duration_us > 0 || f.status() == pb::FindingStatus::NotApplicable));
    assert!(d.cards.iter().any(|c| c.summary.contains("Door-to-device")), "{:?}", d.cards);
    assert_eq!(
        d.versions.unwrap().rule_set,
        cdssd::rules::service::compiler_from(&settings_with(&[])).compile_dir(&fixture_dir()).unwrap().version
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_never_fails_a_request_and_each_names_one_version() {
    let (_tmp, dir) = fixture_copy();
    let settings = settings_with(&[("CDSSD__RULES__DIR", dir.to_str().unwrap()), ("CDSSD__RULES__WATCH", "false")]);
    let server = TestServer::start(settings).await;
    let channel = server.channel().await;
    let mut admin = AdminServiceClient::new(channel.clone());

    // Version string of the set -> the rule version every finding of that set carries.
    let mut expected: HashMap<String, String> = HashMap::new();
    let v = CdsServiceClient::new(channel.clone()).list_rule_packs(pb::ListRulePacksRequest {}).await.unwrap();
    expected.insert(v.into_inner().rule_set_version, "1.0.0".into());

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (channel, stop) = (channel.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut cds = CdsServiceClient::new(channel);
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let d = cds.evaluate(request("stemi_primary_pci.json")).await.expect("no request fails").into_inner();
                let d = d.decision.unwrap();
                let versions: HashSet<String> = d.findings.iter().map(|f| f.rule_version.clone()).collect();
                seen.push((d.versions.unwrap().rule_set, versions));
            }
            seen
        }));
    }
    for i in 0..6 {
        let rv = format!("{}.0.0", i + 2);
        bump_versions(&dir, &rv);
        let r = admin.reload_rules(pb::ReloadRulesRequest {}).await.unwrap().into_inner();
        assert_eq!(r.status(), pb::LoadStatus::Loaded, "{:?}", r.errors);
        expected.insert(r.version, rv);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    let mut versions_seen = HashSet::new();
    for c in clients {
        for (set_version, rule_versions) in c.await.unwrap() {
            total += 1;
            let want = expected.get(&set_version).unwrap_or_else(|| panic!("unknown set version {set_version}"));
            assert_eq!(rule_versions, HashSet::from([want.clone()]), "findings of one response come from one set");
            versions_seen.insert(set_version);
        }
    }
    assert!(total > 0);
    assert!(versions_seen.len() >= 2, "requests saw more than one set across the reloads: {versions_seen:?}");
    server.shutdown().await;
}
