//! A local variant in a running daemon, over a real gRPC client: the shipped example of the
//! Chinese guide (§9, `examples/local-variant/`) copied into a rules directory replaces
//! the national rule, so a clinician gets one card — the local one — not two; taking it
//! out again (a reload) brings the national rule back.
use cdssd::proto::v1 as pb;

use crate::daemon::{copy_tree, request, root, Daemon};

const NATIONAL: &str = "stroke.door_to_ct_nhc";
const LOCAL: &str = "stroke.door_to_ct_20_local";

/// The stroke example with its first head CT at arrival + 22 min: within the national 25
/// minutes, past the local 20.
fn ct_at_22_min(locale: &str) -> pb::EvaluateRequest {
    let mut req = request("stroke_thrombolysis.json", pb::Trigger::Discharge);
    let enc = req.encounter.as_mut().unwrap();
    let ct = enc.procedures.iter_mut().find(|p| p.id == "proc-cthead-1").expect("the example's head CT");
    let t = chrono::DateTime::parse_from_rfc3339("2026-03-14T14:52:00Z").unwrap().timestamp();
    let shift = t - ct.start_time.expect("a start time").seconds; // the end moves with it
    ct.start_time = Some(pbjson_types::Timestamp { seconds: t, nanos: 0 });
    if let Some(end) = ct.end_time.as_mut() {
        end.seconds += shift;
    }
    let o = req.options.as_mut().unwrap();
    o.rule_packs = vec!["stroke".into()];
    o.locale = locale.into();
    req
}

fn findings<'a>(d: &'a pb::Decision, rule: &str) -> Vec<&'a pb::Finding> {
    d.findings.iter().filter(|f| f.rule_id == rule).collect()
}

fn cards<'a>(d: &'a pb::Decision, rule: &str) -> Vec<&'a pb::Card> {
    d.cards.iter().filter(|c| c.source.as_ref().is_some_and(|s| s.id == rule)).collect()
}

#[tokio::test]
async fn the_guides_local_variant_replaces_the_national_rule_with_one_card() {
    let rules = copy_tree(&root().join("rules"));
    let example = root().join("examples/local-variant/stroke");
    let (rule_file, test_file) = (
        rules.path().join("stroke/door_to_ct_20_local.rhai"),
        rules.path().join("stroke/tests/door_to_ct_20_local.toml"),
    );
    std::fs::copy(example.join("door_to_ct_20_local.rhai"), &rule_file).unwrap();
    std::fs::copy(example.join("tests/door_to_ct_20_local.toml"), &test_file).unwrap();
    let dir = rules.path().display().to_string();
    let daemon = Daemon::start(&[("CDSSD__RULES__DIR", dir.as_str())]);
    let mut client = daemon.client().await;

    // ListRulePacks says who replaces whom; the stroke pack (with both rules' cases) is verified.
    let packs = client.list_rule_packs(pb::ListRulePacksRequest {}).await.expect("list").into_inner();
    let stroke = packs.packs.iter().find(|p| p.id == "stroke").expect("stroke pack");
    assert!(stroke.verified, "{stroke:?}");
    let rule = |id: &str| stroke.rules.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("{id} listed"));
    assert_eq!(rule(LOCAL).overrides, NATIONAL);
    assert_eq!(rule(NATIONAL).overridden_by, LOCAL);

    for locale in ["zh-CN", "en"] {
        let d = client.evaluate(ct_at_22_min(locale)).await.expect("evaluates").into_inner().decision.unwrap();
        assert!(findings(&d, NATIONAL).is_empty(), "{locale}: the replaced rule does not run: {:?}", d.findings);
        let local = findings(&d, LOCAL);
        assert_eq!(local.len(), 1, "{locale}: {:?}", d.findings);
        let f = local[0];
        assert_eq!(f.status(), pb::FindingStatus::NotMet, "{locale}: 22 min is past the local 20: {f:?}");
        assert_eq!(f.reason_key, "imaging_late");
        assert_eq!(f.local_variant_of, NATIONAL);
        assert_eq!((f.measure_set.as_str(), f.measure_id.as_str()), ("NHC-2020", "STK"));
        assert_eq!(f.measure_version, "2020-local", "not counted as the national edition");
        // One card for the indicator, the local one, saying whose variant it is.
        assert!(cards(&d, NATIONAL).is_empty(), "{locale}: {:?}", d.cards);
        let c = cards(&d, LOCAL);
        assert_eq!(c.len(), 1, "{locale}: {:?}", d.cards);
        let says = if locale == "en" {
            "Local variant of `stroke.door_to_ct_nhc`"
        } else {
            "本院本地版本，替代 `stroke.door_to_ct_nhc`"
        };
        assert!(c[0].detail.contains(says), "{locale}: {}", c[0].detail);
        assert!(c[0].summary.chars().count() < 140, "{}", c[0].summary);
    }

    // Taken out again: the national rule answers (22 min is within its 25), no local card.
    std::fs::remove_file(&rule_file).unwrap();
    std::fs::remove_file(&test_file).unwrap();
    let mut admin = daemon.admin().await;
    let reload = admin.reload_rules(pb::ReloadRulesRequest::default()).await.expect("reload").into_inner();
    assert!(reload.errors.is_empty(), "{reload:?}");
    let d = client.evaluate(ct_at_22_min("zh-CN")).await.expect("evaluates").into_inner().decision.unwrap();
    assert!(findings(&d, LOCAL).is_empty() && cards(&d, LOCAL).is_empty());
    let national = findings(&d, NATIONAL);
    assert_eq!(national.len(), 1, "{:?}", d.findings);
    assert_eq!(national[0].status(), pb::FindingStatus::Met);
    assert!(national[0].local_variant_of.is_empty());
}
