//! Rules in force without their test cases are visible (issue 17, fail visibly): the real
//! daemon, a rules directory whose cases' base encounters are nowhere to be found (or that
//! has no cases), `/readyz` and `cdssd_rule_packs_unverified{reason}` over real sockets.
//! With `rules.require_passing_tests` on readiness fails closed (503); with it off the set
//! is served, `/readyz` stays 200 and adds a warning; the gauge counts the packs by reason
//! either way (the CdssdRulesUnverified alert, deploy/prometheus/alerts.yml).

use crate::daemon::Daemon;
use crate::rules::{copy_tree, fixture_dir};

fn gauge(scrape: &crate::daemon::Scrape, reason: &str) -> f64 {
    let series = format!("cdssd_rule_packs_unverified{{reason=\"{reason}\"}}");
    assert!(scrape.series.contains_key(&series), "{series} is exported:\n{}", scrape.text);
    scrape.get(&series)
}

#[tokio::test]
async fn a_set_loaded_without_its_test_encounters_is_reported_by_readyz_and_the_gauge() {
    // A copy outside the source tree: its 16 cases cannot find their base encounters.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("rules");
    copy_tree(&fixture_dir(), &copy);
    let path = copy.to_str().unwrap();
    let off = Daemon::start(&[
        ("CDSSD__RULES__DIR", path),
        ("CDSSD__RULES__EXAMPLES_DIR", ""),
        ("CDSSD__RULES__REQUIRE_PASSING_TESTS", "false"),
    ]);
    let (status, _, body) = off.get("/readyz").await;
    assert_eq!(status, 200, "the gate is off: served, {body}");
    assert_eq!(
        body,
        "ready\nwarning: 1 rule pack(s) in force without verified test cases: stemi (cases_not_found) \
         (in force because rules.require_passing_tests = false)\n"
    );
    let s = off.scrape().await;
    assert_eq!((gauge(&s, "cases_not_found"), gauge(&s, "cases_failing"), gauge(&s, "no_test_cases")), (1.0, 0.0, 0.0));
    off.stop_ok();

    // The same pack with its encounters found: verified, ready, all zero.
    let examples = crate::support::root().join("examples");
    let found =
        Daemon::start(&[("CDSSD__RULES__DIR", path), ("CDSSD__RULES__EXAMPLES_DIR", examples.to_str().unwrap())]);
    let (status, _, body) = found.get("/readyz").await;
    // (Only the rules' part is asserted: readiness also covers the models, not this test's concern.)
    assert!(!body.contains("rule pack") && !body.contains("warning"), "verified: nothing to report: {status} {body}");
    let s = found.scrape().await;
    assert_eq!((gauge(&s, "cases_not_found"), gauge(&s, "cases_failing"), gauge(&s, "no_test_cases")), (0.0, 0.0, 0.0));
    found.stop_ok();

    // No test cases at all passes the gate vacuously, but nothing verifies the pack: with
    // the gate on, readiness fails closed.
    std::fs::remove_dir_all(copy.join("stemi/tests")).unwrap();
    let none = Daemon::start(&[("CDSSD__RULES__DIR", path)]);
    let (status, _, body) = none.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "not ready: 1 rule pack(s) in force without verified test cases: stemi (no_test_cases)\n");
    let s = none.scrape().await;
    assert_eq!(gauge(&s, "no_test_cases"), 1.0);
    none.stop_ok();
}
