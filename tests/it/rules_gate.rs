//! The rule set's own test cases gate every load of the real daemon (`cdssd serve` over
//! a real socket): a saved edit that breaks one of its cases is refused (the old version
//! answers, the case is named at path:line) unless `rules.require_passing_tests = false`;
//! `cdssd rules publish` refuses a broken draft and swaps a good one in (the watcher picks
//! it up); `cdssd rules status --server` reports what is in force; a copy of the rules
//! outside the source tree is verified only when its base encounters are found.

use std::{path::Path, process::Command, time::Duration};

use cdssd::proto::v1 as pb;

use crate::daemon::Daemon;
use crate::rules::{copy_tree, fixture_dir};
use crate::support::root;

/// The fixture's first door-to-device case (line 1 of its file) expects "met" for PCI at
/// T+70 min; a 60-minute target turns it into "not met".
const CASE: &str = "stemi/tests/door_to_device.toml";
const CASE_NAME: &str = "PCI at T+70 min is met";

fn break_its_case(rules: &Path) {
    let p = rules.join("stemi/door_to_device.rhai");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("if m <= 90 {"));
    std::fs::write(&p, text.replace("if m <= 90 {", "if m <= 60 {")).unwrap();
}

fn bump_version(rules: &Path, to: &str) {
    let p = rules.join("stemi/statin_discharge.rhai");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("version: \"1.0.0\""));
    std::fs::write(&p, text.replace("version: \"1.0.0\"", &format!("version: \"{to}\""))).unwrap();
}

/// `<tmp>/repo/<name>` holding the fixture pack, with the example encounters at
/// `<tmp>/repo/examples` (found from the rules directory's parent).
fn repo_with(tmp: &Path, name: &str) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    if !repo.join("examples").exists() {
        copy_tree(&root().join("examples/encounters"), &repo.join("examples/encounters"));
    }
    copy_tree(&fixture_dir(), &repo.join(name));
    repo.join(name)
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdssd"));
    cmd.args(args).env("CDSSD__METRICS__LISTEN", "").env_remove("CDSSD_CONFIG").env_remove("CDSSD__RULES__DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

async fn packs(d: &Daemon) -> pb::ListRulePacksResponse {
    d.client().await.list_rule_packs(pb::ListRulePacksRequest {}).await.unwrap().into_inner()
}

/// Poll `ListRulePacks` (up to 30 s) until `cond` holds; the watcher is asynchronous.
async fn until(d: &Daemon, what: &str, cond: impl Fn(&pb::ListRulePacksResponse) -> bool) -> pb::ListRulePacksResponse {
    for _ in 0..300 {
        let l = packs(d).await;
        if cond(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}; last answer: {:?}", packs(d).await);
}

/// The rule-set version an evaluation is answered with.
async fn answering_version(d: &Daemon) -> String {
    let req = crate::daemon::request("stemi_primary_pci.json", pb::Trigger::Discharge);
    let resp = d.client().await.evaluate(req).await.unwrap().into_inner();
    resp.decision.unwrap().versions.unwrap().rule_set
}

fn watching(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CDSSD__RULES__DIR", dir.display().to_string()),
        ("CDSSD__RULES__WATCH", "true".into()),
        ("CDSSD__RULES__DEBOUNCE_MS", "100".into()),
        ("CDSSD__RULES__MAX_RULE_MS", "5000".into()),
    ]
}

fn refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_saved_edit_that_breaks_its_own_test_case_is_refused_by_the_running_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo_with(tmp.path(), "rules");
    let d = Daemon::start(&refs(&watching(&dir)));
    let before = packs(&d).await;
    assert!(before.require_passing_tests);
    assert!(before.packs[0].verified, "{:?}", before.packs[0]);
    assert_eq!((before.packs[0].test_cases_passed, before.packs[0].test_cases_total), (16, 16));
    let v0 = before.rule_set_version.clone();

    break_its_case(&dir);
    let after = until(&d, "the edit refused", |l| l.last_reload_status() == pb::LoadStatus::Failed).await;
    assert_eq!(after.rule_set_version, v0, "the old set stays in force");
    assert_eq!(answering_version(&d).await, v0, "and answers");
    let e = after.last_reload_errors.iter().find(|e| e.path == CASE).unwrap_or_else(|| panic!("{after:?}"));
    assert_eq!(e.line, 1, "the case's [[case]] line: {e:?}");
    assert!(e.message.contains(CASE_NAME) && e.message.contains("expected met, got not_met"), "{e:?}");
    assert!(e.message.contains("stemi.door_to_device"), "{e:?}");
}

#[tokio::test]
async fn rules_status_reports_a_rejected_reload_in_chinese_by_default_and_in_english_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo_with(tmp.path(), "rules");
    let d = Daemon::start(&refs(&watching(&dir)));
    let v0 = packs(&d).await.rule_set_version;
    let p = dir.join("stemi/door_to_device.rhai");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replacen("fn evaluate(enc) {\n", "fn evaluate(enc) {\n    let zz = undefined_thing + 1;\n", 1),
    )
    .unwrap();
    let after = until(&d, "the edit refused", |l| l.last_reload_status() == pb::LoadStatus::Failed).await;
    let e = &after.last_reload_errors[0];
    assert_eq!(
        (e.path.as_str(), e.line, e.message.as_str()),
        ("stemi/door_to_device.rhai", 19, "Undefined variable: undefined_thing")
    );
    assert_eq!(e.texts.len(), 2, "{e:?}");

    // The embedded default locale (server.default_locale) is zh-CN.
    let (code, zh) = cli(&["rules", "status", "--server", &d.grpc_url()], &[]);
    assert_eq!(code, 1, "{zh}");
    assert!(zh.contains(&format!("当前生效的规则集：版本 {v0}")), "{zh}");
    assert!(zh.contains("测试关卡：开启"), "{zh}");
    assert!(zh.contains("已验证（16/16 个用例通过）"), "{zh}");
    assert!(zh.contains("上次重新加载：被拒绝") && zh.contains(&format!("版本 {v0} 继续生效。1 处问题：")), "{zh}");
    assert!(zh.contains("stemi/door_to_device.rhai:19:14: 未定义的变量：undefined_thing"), "{zh}");
    assert!(!zh.contains("rule set in force") && !zh.contains("REJECTED"), "{zh}");
    let (code, en) = cli(&["rules", "status", "--locale", "en", "--server", &d.grpc_url()], &[]);
    assert_eq!(code, 1, "{en}");
    assert!(
        en.contains("last reload: REJECTED")
            && en.contains("stemi/door_to_device.rhai:19:14: Undefined variable: undefined_thing"),
        "{en}"
    );
}

#[tokio::test]
async fn with_the_gate_off_the_same_edit_goes_live_and_the_pack_is_not_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo_with(tmp.path(), "rules");
    let mut env = watching(&dir);
    env.push(("CDSSD__RULES__REQUIRE_PASSING_TESTS", "false".into()));
    let d = Daemon::start(&refs(&env));
    let v0 = packs(&d).await.rule_set_version;

    break_its_case(&dir);
    let after = until(&d, "the edit in force", |l| l.rule_set_version != v0).await;
    assert_eq!(after.last_reload_status(), pb::LoadStatus::Loaded);
    assert!(!after.require_passing_tests);
    assert_eq!(answering_version(&d).await, after.rule_set_version);
    let stemi = &after.packs[0];
    assert!(!stemi.verified);
    assert_eq!((stemi.test_cases_passed, stemi.test_cases_total, stemi.test_cases_not_found), (15, 16, 0));
    assert_eq!(stemi.test_case_failures.len(), 1, "{stemi:?}");
    assert_eq!((stemi.test_case_failures[0].path.as_str(), stemi.test_case_failures[0].line), (CASE, 1));

    let (code, out) = cli(&["rules", "status", "--locale", "en", "--server", &d.grpc_url()], &[]);
    assert_eq!(code, 1, "a pack is not verified: {out}");
    assert!(out.contains(&format!("version {}", after.rule_set_version)), "{out}");
    assert!(out.contains("test gate: OFF"), "{out}");
    assert!(out.contains("NOT VERIFIED (15/16 test cases passed; 1 failed)"), "{out}");
    assert!(out.contains(&format!("{CASE}:1: test case '{CASE_NAME}'")), "{out}");
}

#[tokio::test]
async fn publish_refuses_a_broken_draft_and_swaps_a_good_one_in() {
    let tmp = tempfile::tempdir().unwrap();
    let draft = repo_with(tmp.path(), "draft");
    let live = tmp.path().join("repo/live");
    let (code, out) =
        cli(&["rules", "publish", "--locale", "en", draft.to_str().unwrap(), live.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("16 test cases passed"), "{out}");
    assert!(std::fs::read_link(live.join("..data")).is_ok(), "ConfigMap-style layout");

    let d = Daemon::start(&refs(&watching(&live)));
    let v0 = packs(&d).await.rule_set_version;
    assert!(out.contains(&format!("version {v0}")), "publish names the version the daemon loads: {out}");

    // A draft whose case fails is refused; LIVE is untouched.
    break_its_case(&draft);
    let (code, out) =
        cli(&["rules", "publish", "--locale", "en", draft.to_str().unwrap(), live.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{CASE}:1:1: test case '{CASE_NAME}' of stemi.door_to_device failed")), "{out}");
    assert!(out.contains("not published"), "{out}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(packs(&d).await.rule_set_version, v0);

    // Fixed and changed: published, and the watcher puts it in force.
    std::fs::write(
        draft.join("stemi/door_to_device.rhai"),
        std::fs::read_to_string(fixture_dir().join("stemi/door_to_device.rhai")).unwrap(),
    )
    .unwrap();
    bump_version(&draft, "1.1.0");
    let (code, out) =
        cli(&["rules", "publish", "--locale", "en", draft.to_str().unwrap(), live.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}");
    let after = until(&d, "the published set in force", |l| l.rule_set_version != v0).await;
    assert!(out.contains(&format!("version {}", after.rule_set_version)), "{out}");
    assert_eq!(after.last_reload_status(), pb::LoadStatus::Loaded);
    assert_eq!(answering_version(&d).await, after.rule_set_version, "the new version answers");
    let generations = std::fs::read_dir(&live).unwrap().flatten().filter(|e| e.file_type().unwrap().is_dir());
    assert!(generations.count() <= 2, "the previous generation is kept, older ones go");

    let (code, out) = cli(&["rules", "status", "--locale", "en", "--server", &d.grpc_url()], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("rule set in force: version {}", after.rule_set_version)), "{out}");
    assert!(out.contains("verified (16/16 test cases passed)"), "{out}");
    assert!(out.contains("last reload: loaded"), "{out}");

    // Wrong arguments: exit 64.
    let (code, out) = cli(&["rules", "publish", "--locale", "en", "/nonexistent/draft", live.to_str().unwrap()], &[]);
    assert_eq!(code, 64, "{out}");
    let (code, out) = cli(&["rules", "publish", draft.to_str().unwrap()], &[]);
    assert_eq!(code, 64, "{out}");
}

#[tokio::test]
async fn a_copy_outside_the_source_tree_is_verified_only_when_its_examples_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("rules");
    copy_tree(&fixture_dir(), &copy);
    let path = copy.to_str().unwrap();

    let (code, out) = cli(&["rules", "check", path, "--locale", "en"], &[]);
    assert_eq!(code, 1, "the daemon would refuse it: {out}");
    assert!(out.contains("stemi  NOT VERIFIED (0/16 test cases passed; 16 not run"), "{out}");
    assert!(out.contains("base encounter 'examples/encounters/stemi_primary_pci.json' not found"), "{out}");

    // Found through rules.examples_dir: as the directory holding examples/, or as examples/.
    for dir in [root(), root().join("examples")] {
        let (code, out) =
            cli(&["rules", "check", path, "--locale", "en"], &[("CDSSD__RULES__EXAMPLES_DIR", dir.to_str().unwrap())]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("stemi  verified (16/16 test cases passed)"), "{out}");
    }
    let (code, out) = cli(&["rules", "check", path, "--examples", root().join("examples").to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}");

    // The daemon refuses to start on it with the gate on, naming the cases...
    let (code, out) = cli(
        &["serve"],
        &[
            ("CDSSD__RULES__DIR", path),
            ("CDSSD__SERVER__LISTEN", "127.0.0.1:0"),
            ("CDSSD__RISK__DIR", root().join("models").to_str().unwrap()),
            ("CDSSD__AUDIT__BACKEND", "off"),
            ("CDSSD__LLM__ENABLED", "false"),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("test cases cannot run (first at stemi/tests/aspirin_arrival.toml:1)"), "{out}");
    assert!(out.contains("base encounter 'examples/encounters/stemi_primary_pci.json' not found"), "{out}");

    // ...starts with it off, and says the pack is not verified; with the examples found it is.
    let off = Daemon::start(&[
        ("CDSSD__RULES__DIR", path),
        ("CDSSD__RULES__EXAMPLES_DIR", ""),
        ("CDSSD__RULES__REQUIRE_PASSING_TESTS", "false"),
    ]);
    let l = packs(&off).await;
    assert!(!l.packs[0].verified);
    assert_eq!((l.packs[0].test_cases_not_found, l.packs[0].test_cases_passed), (16, 0));
    let examples = root().join("examples");
    let found =
        Daemon::start(&[("CDSSD__RULES__DIR", path), ("CDSSD__RULES__EXAMPLES_DIR", examples.to_str().unwrap())]);
    let l = packs(&found).await;
    assert!(l.packs[0].verified, "{:?}", l.packs[0]);
    assert_eq!((l.packs[0].test_cases_not_found, l.packs[0].test_cases_passed), (0, 16));
}
