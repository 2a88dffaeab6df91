//! Issue 13 item 4, explainable findings: the reasoning trail the engine records for each
//! finding, read over a real gRPC socket for example encounters in both locales — time zero
//! and window of door-to-device with the PCI accepted, a late enoxaparin dose rejected as
//! outside the VTE-1 window (with its hospital day), the SEP-1 time zero with its reason,
//! exclusion checks, the outcome, and the bound on a long trail.
use cdssd::proto::v1 as pb;

use crate::support::{request, settings_with, TestServer};

async fn evaluate(server: &TestServer, req: pb::EvaluateRequest) -> pb::Decision {
    let mut cds = pb::cds_service_client::CdsServiceClient::new(server.channel().await);
    cds.evaluate(req).await.expect("evaluate").into_inner().decision.expect("decision")
}

fn with_locale(mut req: pb::EvaluateRequest, tag: &str) -> pb::EvaluateRequest {
    req.trigger = pb::Trigger::Retrospective as i32;
    req.options.as_mut().unwrap().locale = tag.into();
    req
}

fn finding<'a>(d: &'a pb::Decision, rule: &str) -> &'a pb::Finding {
    d.findings.iter().find(|f| f.rule_id == rule).unwrap_or_else(|| panic!("no finding of {rule}"))
}

fn steps<'a>(f: &'a pb::Finding, kind: &str) -> Vec<&'a pb::TrailStep> {
    f.trail.iter().filter(|s| s.kind == kind).collect()
}

fn secs(t: &Option<pbjson_types::Timestamp>) -> i64 {
    t.as_ref().expect("a time").seconds
}

#[tokio::test]
async fn door_to_device_trail_names_time_zero_the_90_minute_window_and_the_accepted_pci() {
    let server = TestServer::start(settings_with(&[])).await;
    let enc = crate::support::example("stemi_primary_pci.json");
    let arrival = enc.arrival_time.as_ref().unwrap().seconds;
    for (tag, tz_text, accepted) in [
        ("en", "Time zero: hospital arrival", "in window: accepted"),
        ("zh-CN", "时间零点：到院时间", "在时间窗内：采用"),
    ] {
        let d = evaluate(&server, with_locale(request("stemi_primary_pci.json"), tag)).await;
        let f = finding(&d, "stemi.door_to_device_90");
        assert_eq!(f.locale, tag);
        let tz = steps(f, "time_zero");
        assert_eq!(tz.len(), 1, "{:#?}", f.trail);
        assert_eq!((tz[0].code.as_str(), secs(&tz[0].time)), ("arrival", arrival));
        assert!(tz[0].text.starts_with(tz_text), "{}", tz[0].text);
        // Two windows: the PCI selection (24 h, the denominator) and the numerator's 90 min.
        let win90 = steps(f, "window")
            .into_iter()
            .find(|w| secs(&w.end_time) - secs(&w.time) == 90 * 60)
            .unwrap_or_else(|| panic!("no 90-minute window: {:#?}", f.trail));
        assert_eq!((win90.code.as_str(), secs(&win90.time)), ("closed", arrival));
        let pci: Vec<_> = steps(f, "item")
            .into_iter()
            .filter(|s| s.item.as_ref().is_some_and(|i| i.item_type == "procedures"))
            .collect();
        assert!(!pci.is_empty(), "{:#?}", f.trail);
        assert!(pci.iter().all(|s| s.accepted && s.code == "in_window"), "{pci:#?}");
        assert!(pci[0].text.ends_with(accepted), "{}", pci[0].text);
        // Exclusions the rule checked before the numerator, and the outcome last.
        let transfer = steps(f, "exclusion_check");
        assert!(transfer.iter().any(|s| s.code == "not_documented" && s.accepted), "{:#?}", f.trail);
        assert!(transfer.iter().any(|s| s.text.contains("fibrinolytic")), "{:#?}", f.trail);
        let last = f.trail.last().unwrap();
        assert_eq!((last.kind.as_str(), last.code.as_str()), ("note", "outcome"));
        assert!(last.text.contains("d2d_within"), "{}", last.text);
        assert!(!f.trail_truncated);
        assert!(f.trail.iter().all(|s| s.text.chars().count() <= 160));
    }
    server.shutdown().await;
}

/// The VTE example with its first enoxaparin dose moved to 07:30 on hospital day 4
/// (local time, Asia/Shanghai) and `extra` more late doses.
fn late_heparin(extra: usize) -> pb::EvaluateRequest {
    let mut req = request("vte_medical_inpatient.json");
    let enc = req.encounter.as_mut().unwrap();
    let enox: Vec<usize> = (0..enc.medication_administrations.len())
        .filter(|&i| enc.medication_administrations[i].id.starts_with("ma-enox"))
        .collect();
    // Admission 03-22 21:40 local is day 1; 2026-03-24T23:30Z is 03-25 07:30 local, day 4.
    let day4 = 1_774_395_000; // 2026-03-24T23:30:00Z
    for (n, &i) in enox.iter().enumerate() {
        enc.medication_administrations[i].start_time =
            Some(pbjson_types::Timestamp { seconds: day4 + n as i64 * 86_400, nanos: 0 });
    }
    let template = enc.medication_administrations[enox[0]].clone();
    for k in 0..extra {
        let mut a = template.clone();
        a.id = format!("ma-enox-late-{k}");
        a.start_time = Some(pbjson_types::Timestamp { seconds: day4 + 600 * (k as i64 + 1), nanos: 0 });
        enc.medication_administrations.push(a);
    }
    req
}

#[tokio::test]
async fn a_late_dose_is_rejected_outside_the_window_with_its_hospital_day() {
    let server = TestServer::start(settings_with(&[])).await;
    for (tag, day, outside) in
        [("en", "(day 4)", "outside window: rejected"), ("zh-CN", "（第 4 日）", "超出时间窗：不采用")]
    {
        let d = evaluate(&server, with_locale(late_heparin(0), tag)).await;
        let f = finding(&d, "vte.prophylaxis_vte1");
        let late = f
            .trail
            .iter()
            .find(|s| s.kind == "item" && s.item.as_ref().is_some_and(|i| i.item_id == "ma-enox-1"))
            .unwrap_or_else(|| panic!("{tag}: the late dose is not in the trail: {:#?}", f.trail));
        assert_eq!((late.code.as_str(), late.accepted), ("outside_window", false));
        assert!(
            late.text.contains("07:30") && late.text.contains(day) && late.text.ends_with(outside),
            "{}",
            late.text
        );
        // The window it was judged against: calendar days, end excluded, ending before the dose.
        let w = steps(f, "window").into_iter().find(|w| w.code == "half_open").expect("first_in's window");
        assert!(secs(&w.end_time) <= secs(&late.time));
        assert!(steps(f, "window").iter().any(|w| w.code == "hospital_days"), "{:#?}", f.trail);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_long_trail_is_cut_at_its_bound_and_says_so() {
    let server = TestServer::start(settings_with(&[])).await;
    let d = evaluate(&server, with_locale(late_heparin(40), "en")).await;
    let f = finding(&d, "vte.prophylaxis_vte1");
    assert_eq!(f.trail.len(), 24, "{:#?}", f.trail);
    assert!(f.trail_truncated);
    assert_eq!(f.trail.last().unwrap().code, "outcome", "the outcome is never cut");
    // The other findings of the same request keep their whole, shorter trails.
    assert!(d.findings.iter().filter(|g| g.rule_id != f.rule_id).all(|g| !g.trail_truncated && g.trail.len() < 24));
    server.shutdown().await;
}

#[tokio::test]
async fn sep1_time_zero_states_its_reason_in_every_sepsis_rule() {
    let server = TestServer::start(settings_with(&[])).await;
    let d = evaluate(&server, with_locale(request("septic_shock.json"), "en")).await;
    let sepsis: Vec<&pb::Finding> =
        d.findings.iter().filter(|f| f.pack == "sepsis" && f.status() != pb::FindingStatus::NotApplicable).collect();
    assert!(sepsis.len() >= 2, "{:?}", d.findings.iter().map(|f| (&f.rule_id, f.status)).collect::<Vec<_>>());
    for f in sepsis {
        let tz = steps(f, "time_zero");
        assert!(
            tz.iter().any(|s| s.code.starts_with("severe_sepsis") || s.code == "criteria_before_arrival"),
            "{}: {:#?}",
            f.rule_id,
            f.trail
        );
    }
    server.shutdown().await;
}
