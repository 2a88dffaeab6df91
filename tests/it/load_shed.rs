//! Load shedding (issue 17, resource limits): beyond `server.max_in_flight_evaluations`
//! evaluations running or waiting for a core, a call is refused at once with
//! RESOURCE_EXHAUSTED and RetryInfo (HTTP: 503 with Retry-After), counted in
//! `cdssd_evaluations_shed_total`, never queued until its deadline and never answered
//! with anything else. The real daemon, bursts over gRPC and over the JSON endpoint.

use cdssd::proto::v1 as pb;
use tonic_types::StatusExt;

use crate::daemon::{request, Daemon};
use crate::web::to_json;

const BURST: usize = 48;

/// One burst of concurrent gRPC calls: (answered, shed).
async fn grpc_burst(daemon: &Daemon) -> (usize, usize) {
    let client = daemon.client().await;
    let calls = (0..BURST).map(|_| {
        let mut c = client.clone();
        tokio::spawn(async move { c.evaluate(request("stemi_primary_pci.json", pb::Trigger::Admission)).await })
    });
    let (mut ok, mut shed) = (0, 0);
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Ok(r) => {
                assert!(r.into_inner().decision.is_some());
                ok += 1;
            }
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::ResourceExhausted, "only shedding may refuse a valid call: {s:?}");
                assert!(s.message().contains("server.max_in_flight_evaluations"), "{}", s.message());
                assert!(!s.message().contains("pt-"), "no patient data: {}", s.message());
                let retry = s.get_details_retry_info().and_then(|r| r.retry_delay);
                assert!(retry.is_some_and(|d| !d.is_zero()), "RetryInfo says when to retry: {s:?}");
                shed += 1;
            }
        }
    }
    (ok, shed)
}

/// One burst over `POST /v1/evaluate`: (answered, shed).
async fn http_burst(daemon: &Daemon) -> (usize, usize) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/evaluate", daemon.http_addr());
    let body = to_json(&request("stemi_primary_pci.json", pb::Trigger::Admission));
    let calls = (0..BURST).map(|_| {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        tokio::spawn(async move { http.post(url).header("content-type", "application/json").body(body).send().await })
    });
    let (mut ok, mut shed) = (0, 0);
    for call in calls.collect::<Vec<_>>() {
        let r = call.await.unwrap().expect("the HTTP listener answers");
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{r:?}");
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["code"], "RESOURCE_EXHAUSTED", "{v}");
                shed += 1;
            }
            other => panic!("only shedding may refuse a valid call: {other} {:?}", r.text().await),
        }
    }
    (ok, shed)
}

fn shed_total(scrape: &crate::daemon::Scrape) -> f64 {
    scrape.get("cdssd_evaluations_shed_total")
}

#[tokio::test]
async fn beyond_the_in_flight_limit_calls_are_shed_at_once_and_counted_on_every_transport() {
    // One evaluation at a time, and every one on the blocking pool (so each holds its slot
    // while it runs): a burst of 48 must shed most of its calls.
    let daemon = Daemon::start(&[
        ("CDSSD__SERVER__MAX_IN_FLIGHT_EVALUATIONS", "1"),
        ("CDSSD__SERVER__INLINE_MAX_EVENTS", "0"),
        ("CDSSD__HTTP__LISTEN", "127.0.0.1:0"),
    ]);
    let (mut g_ok, mut g_shed, mut h_ok, mut h_shed) = (0, 0, 0, 0);
    // A few bursts at most: which calls overlap depends on scheduling, not on this test.
    for _ in 0..5 {
        let (ok, shed) = grpc_burst(&daemon).await;
        g_ok += ok;
        g_shed += shed;
        let (ok, shed) = http_burst(&daemon).await;
        h_ok += ok;
        h_shed += shed;
        if g_shed > 0 && h_shed > 0 && g_ok > 0 && h_ok > 0 {
            break;
        }
    }
    assert!(g_ok > 0 && g_shed > 0, "gRPC: {g_ok} answered, {g_shed} shed");
    assert!(h_ok > 0 && h_shed > 0, "HTTP: {h_ok} answered, {h_shed} shed");
    let scrape = daemon.scrape().await;
    assert_eq!(shed_total(&scrape), (g_shed + h_shed) as f64, "every refusal is counted, nothing else is");
    // A shed call did no work: only the answered calls are counted as evaluations.
    let evaluations: f64 =
        scrape.series.iter().filter(|(k, _)| k.starts_with("cdssd_evaluations_total{")).map(|(_, v)| v).sum();
    assert_eq!(evaluations, (g_ok + h_ok) as f64);
    assert!(daemon.stop().success());

    // The embedded default (512) does not shed the same bursts.
    let roomy = Daemon::start(&[("CDSSD__SERVER__INLINE_MAX_EVENTS", "0"), ("CDSSD__HTTP__LISTEN", "127.0.0.1:0")]);
    assert_eq!(grpc_burst(&roomy).await, (BURST, 0));
    assert_eq!(http_burst(&roomy).await, (BURST, 0));
    assert_eq!(shed_total(&roomy.scrape().await), 0.0);
    assert!(roomy.stop().success());
}
