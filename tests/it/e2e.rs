//! End to end over a real socket: Evaluate, EvaluateStream, introspection,
//! health, reflection and graceful shutdown, with a real tonic client.

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};
use tokio_stream::StreamExt;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};
use tonic_reflection::pb::v1::{
    server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse, ServerReflectionRequest,
};
use tonic_types::StatusExt;

use crate::support::{request, settings_with, TestServer};

#[tokio::test]
async fn evaluate_returns_a_decision_with_provenance() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut req = tonic::Request::new(request("stemi_primary_pci.json"));
    req.metadata_mut().insert("x-request-id", "req-e2e-1".parse().unwrap());
    let resp = client.evaluate(req).await.expect("evaluate succeeds");
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "req-e2e-1");
    let d = resp.into_inner().decision.expect("decision present");
    assert_eq!(d.request_id, "req-e2e-1");
    assert_eq!(d.encounter_id, "enc-stemi-001");
    assert_eq!(d.trigger(), pb::Trigger::Discharge);
    assert_eq!(d.evaluation_time.unwrap().seconds, 1_780_000_000);
    let v = d.versions.expect("versions present");
    assert_eq!(v.cdssd, cdssd::VERSION);
    assert!(!v.rule_set.is_empty(), "the rule-set version is always named");
    let s = d.suggestion.expect("suggestion always present");
    assert_eq!(s.status(), pb::SuggestionStatus::Disabled, "LLM was skipped");
    assert!(s.draft, "suggestions are always drafts");
    let t = d.timings.expect("timings present");
    assert!(t.total_us >= t.validation_us);
    for f in &d.findings {
        assert!(!f.rule_id.is_empty() && !f.rule_version.is_empty() && !f.measure.is_empty(), "{f:?}");
    }
    for c in &d.cards {
        let src = c.source.as_ref().expect("every card names its source");
        assert!(!src.id.is_empty() && !src.version.is_empty(), "{c:?}");
        assert!(c.summary.chars().count() < 140);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn evaluate_stream_sends_fast_then_final() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut stream = client.evaluate_stream(request("septic_shock.json")).await.expect("stream opens").into_inner();
    let mut kinds = Vec::new();
    let mut seqs = Vec::new();
    while let Some(msg) = stream.next().await {
        let msg = msg.expect("no stream error");
        seqs.push(msg.sequence);
        kinds.push(msg.kind());
        if matches!(msg.kind(), pb::UpdateKind::Fast | pb::UpdateKind::Final) {
            let d = msg.decision.expect("FAST and FINAL carry the decision");
            assert_eq!(d.encounter_id, "enc-sepsis-001");
        }
    }
    assert_eq!(kinds, vec![pb::UpdateKind::Fast, pb::UpdateKind::Final]);
    assert_eq!(seqs, vec![0, 1]);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_encounter_gets_invalid_argument_with_field_violations() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut req = request("pneumonia_cap.json");
    let enc = req.encounter.as_mut().unwrap();
    enc.id.clear();
    enc.labs[0].code.as_mut().unwrap().system = "NOT-A-SYSTEM".into();
    let status = client.evaluate(req).await.expect_err("invalid encounter is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("BadRequest details present");
    let fields: Vec<&str> = bad.field_violations.iter().map(|v| v.field.as_str()).collect();
    assert!(fields.contains(&"encounter.id"), "{fields:?}");
    assert!(fields.contains(&"encounter.labs[0].code.system"), "{fields:?}");

    let status = client.evaluate(pb::EvaluateRequest::default()).await.expect_err("no encounter");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "encounter");
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_request_is_refused_and_server_keeps_serving() {
    let server = TestServer::start(settings_with(&[("CDSSD__SERVER__MAX_REQUEST_BYTES", "20000")])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut req = request("stemi_primary_pci.json");
    let enc = req.encounter.as_mut().unwrap();
    let authored_time = enc.arrival_time;
    enc.notes.push(pb::Note { id: "note-big".into(), text: "x".repeat(30_000), authored_time, ..Default::default() });
    let status = client.evaluate(req).await.expect_err("too large");
    assert!(
        matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::OutOfRange),
        "unexpected code {:?}",
        status.code()
    );
    client.evaluate(request("stemi_primary_pci.json")).await.expect("still serving");
    server.shutdown().await;
}

#[tokio::test]
async fn introspection_lists_rule_packs_and_models() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let packs = client.list_rule_packs(pb::ListRulePacksRequest {}).await.expect("list packs").into_inner();
    assert!(!packs.rule_set_version.is_empty());
    client.list_models(pb::ListModelsRequest {}).await.expect("list models");
    server.shutdown().await;
}

#[tokio::test]
async fn health_and_reflection_work() {
    let server = TestServer::start(settings_with(&[])).await;
    let channel = server.channel().await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "cdss.v1.CdsService"] {
        let r = health.check(HealthCheckRequest { service: service.into() }).await.expect("health answers");
        assert_eq!(r.into_inner().status(), ServingStatus::Serving, "service {service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp =
        reflection.server_reflection_info(tokio_stream::iter(vec![req])).await.expect("reflection").into_inner();
    let msg = resp.next().await.expect("one answer").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else { panic!("unexpected {msg:?}") };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["cdss.v1.CdsService", "cdss.v1.AdminService", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn health_turns_not_serving_when_draining() {
    let server = TestServer::start(settings_with(&[("CDSSD__SERVER__DRAIN_GRACE_MS", "500")])).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health.watch(HealthCheckRequest { service: String::new() }).await.expect("watch").into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    // The watch stream is itself an in-flight request: shutdown must report
    // NOT_SERVING on it, then give up on it after the grace period.
    let stop = tokio::spawn(server.shutdown());
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), watch.next()).await.expect("update in time");
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    stop.await.expect("server stopped after the grace period");
}

/// Start a server whose LLM answers after `llm_delay`, with the given drain grace,
/// and put one LLM-waiting Evaluate in flight; returns once the LLM has the request.
async fn server_with_request_in_flight(
    llm_delay: std::time::Duration,
    grace_ms: &str,
) -> (
    TestServer,
    crate::llm_support::FaultServer,
    tokio::task::JoinHandle<Result<tonic::Response<pb::EvaluateResponse>, tonic::Status>>,
) {
    use crate::llm_support::{llm_request, llm_settings, Fault, FaultServer};
    let llm = FaultServer::start(vec![Fault::SlowFirstByte(llm_delay)]).await;
    let settings = llm_settings(
        &llm.base,
        &[
            ("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "8000"),
            ("CDSSD__LLM__TOTAL_TIMEOUT_MS", "9000"),
            ("CDSSD__SERVER__DRAIN_GRACE_MS", grace_ms),
        ],
    );
    let server = TestServer::start(settings).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let in_flight = tokio::spawn(async move { client.evaluate(llm_request("stemi_primary_pci.json", 8000)).await });
    let waited = std::time::Instant::now();
    while llm.request_count() == 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(10), "the LLM never received the request");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    (server, llm, in_flight)
}

#[tokio::test]
async fn graceful_shutdown_drains_an_in_flight_request() {
    let (server, _llm, in_flight) =
        server_with_request_in_flight(std::time::Duration::from_millis(1500), "10000").await;
    let addr = server.addr;
    let stop = tokio::spawn(server.shutdown());
    // New connections are refused while the old request drains.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let fresh = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await;
    assert!(fresh.is_err(), "a draining server accepts no new connections");
    let resp = in_flight.await.unwrap().expect("the in-flight request completes during the drain");
    let s = resp.into_inner().decision.unwrap().suggestion.unwrap();
    assert_eq!(s.status(), pb::SuggestionStatus::Ok, "it even got its LLM draft: {}", s.message);
    stop.await.expect("server stopped after draining");
}

#[tokio::test]
async fn drain_gives_up_after_the_grace_period() {
    let (server, _llm, in_flight) = server_with_request_in_flight(std::time::Duration::from_secs(6), "300").await;
    let t = std::time::Instant::now();
    server.shutdown().await;
    assert!(t.elapsed() < std::time::Duration::from_secs(3), "stopped {:?} after shutdown", t.elapsed());
    // The abandoned request ends with an error instead of hanging the client.
    let r = tokio::time::timeout(std::time::Duration::from_secs(5), in_flight).await.expect("client not left hanging");
    assert!(r.unwrap().is_err(), "an abandoned request is not reported as success");
}

/// Small encounters are evaluated on the gRPC worker, large ones on the blocking pool
/// (`server.inline_max_events`): both paths give the same decision.
#[tokio::test]
async fn inline_and_blocking_pool_fast_paths_give_the_same_decision() {
    let mut decisions = Vec::new();
    for limit in ["100000", "0"] {
        let server = TestServer::start(settings_with(&[("CDSSD__SERVER__INLINE_MAX_EVENTS", limit)])).await;
        let mut client = CdsServiceClient::new(server.channel().await);
        let mut req = request("stemi_primary_pci.json");
        req.options.get_or_insert_with(Default::default).include_not_applicable = true;
        let mut d = client.evaluate(req).await.expect("evaluate succeeds").into_inner().decision.unwrap();
        server.shutdown().await;
        d.request_id.clear();
        d.timings = None;
        for f in &mut d.findings {
            f.duration_us = 0;
        }
        for r in &mut d.risks {
            r.duration_us = 0;
        }
        for c in &mut d.cards {
            c.uuid.clear(); // random per card
        }
        decisions.push(d);
    }
    assert_eq!(
        decisions[0].findings.len(),
        crate::support::shipped_rule_count(),
        "every rule, not-applicable ones included"
    );
    assert!(decisions[0].findings.iter().any(|f| f.status() == pb::FindingStatus::Met));
    assert!(decisions[0] == decisions[1], "the two paths disagree:\n{:?}\n{:?}", decisions[0], decisions[1]);
}

/// `Finding.finding_id` follows one rule on one encounter across evaluations (here 40 min
/// after arrival, when door-to-device is still pending, and a day later, when it is not
/// met): the same id whatever the outcome, one per rule, distinct between encounters and
/// never a card's id; the card of a finding whose outcome changed gets a new `uuid`.
#[tokio::test]
async fn finding_ids_are_stable_across_outcomes_and_card_ids_are_not() {
    let server = TestServer::start(settings_with(&[])).await;
    let client = CdsServiceClient::new(server.channel().await);
    let at = |name: &'static str, seconds: i64, trigger: pb::Trigger| {
        let mut req = request(name);
        req.trigger = trigger as i32;
        req.evaluation_time = Some(pbjson_types::Timestamp { seconds, nanos: 0 });
        req.options.get_or_insert_with(Default::default).include_not_applicable = true;
        let mut client = client.clone();
        async move { client.evaluate(req).await.expect("evaluate succeeds").into_inner().decision.unwrap() }
    };
    let arrival = 1_773_968_700; // 2026-03-20T01:05:00Z, examples/encounters/stemi_in_progress.json
    let early = at("stemi_in_progress.json", arrival + 40 * 60, pb::Trigger::PeriodicReview).await;
    let late = at("stemi_in_progress.json", arrival + 86_400, pb::Trigger::PeriodicReview).await;
    let other = at("stemi_primary_pci.json", 1_780_000_000, pb::Trigger::PeriodicReview).await;
    server.shutdown().await;

    let ids = |d: &pb::Decision| -> std::collections::BTreeMap<String, (String, pb::FindingStatus)> {
        d.findings.iter().map(|f| (f.rule_id.clone(), (f.finding_id.clone(), f.status()))).collect()
    };
    let (e, l, o) = (ids(&early), ids(&late), ids(&other));
    assert_eq!(e.len(), early.findings.len(), "one finding per rule");
    let unique: std::collections::BTreeSet<&String> = e.values().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), e.len(), "one id per finding");
    assert!(e.values().all(|(id, _)| uuid::Uuid::parse_str(id).is_ok()), "{e:?}");
    let mut changed = Vec::new();
    for (rule, (id, status)) in &e {
        let (later_id, later_status) = &l[rule];
        assert_eq!(id, later_id, "{rule}: the finding id does not change with time or outcome");
        assert_ne!(id, &o[rule].0, "{rule}: another encounter, another finding id");
        if status != later_status {
            changed.push(rule.clone());
        }
    }
    assert!(!changed.is_empty(), "some outcome changes between the two times: {e:?} / {l:?}");
    let card_ids = |d: &pb::Decision| -> std::collections::BTreeMap<String, String> {
        d.cards.iter().filter_map(|c| Some((c.source.as_ref()?.id.clone(), c.uuid.clone()))).collect()
    };
    let (ce, cl) = (card_ids(&early), card_ids(&late));
    for rule in &changed {
        if let (Some(a), Some(b)) = (ce.get(rule), cl.get(rule)) {
            assert_ne!(a, b, "{rule}: a new outcome is a new card");
        }
    }
    let all_cards: std::collections::BTreeSet<&String> = ce.values().chain(cl.values()).collect();
    assert!(e.values().all(|(id, _)| !all_cards.contains(id)), "a finding id is never a card id");
}

/// The enum twins of the string fields (contract-v1.1 additions): every evidence item's
/// `item_kind` is the enum of its `item_type`, `device_kind` of `device`, and a rule's
/// `trigger_values` are its `triggers`.
#[tokio::test]
async fn enum_fields_mirror_their_strings() {
    let server = TestServer::start(settings_with(&[])).await;
    let mut client = CdsServiceClient::new(server.channel().await);
    let mut evidence = 0;
    for name in ["stemi_primary_pci.json", "septic_shock.json", "pneumonia_cap.json"] {
        let mut req = request(name);
        req.options.as_mut().unwrap().include_not_applicable = true;
        let d = client.evaluate(req).await.unwrap().into_inner().decision.unwrap();
        let items = d
            .findings
            .iter()
            .flat_map(|f| f.evidence.iter().chain(f.trail.iter().filter_map(|t| t.item.as_ref())))
            .chain(d.risks.iter().flat_map(|r| r.features.iter().filter_map(|f| f.source.as_ref())));
        for e in items {
            let want = format!("ITEM_KIND_{}", e.item_type.to_ascii_uppercase());
            assert_eq!(e.item_kind().as_str_name(), want, "{name}: {}/{}", e.item_type, e.item_id);
            evidence += 1;
        }
        for r in &d.risks {
            assert_eq!(r.device_kind().as_str_name(), format!("DEVICE_{}", r.device.to_ascii_uppercase()), "{name}");
        }
    }
    assert!(evidence > 50, "evidence items checked: {evidence}");
    let models = client.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    for m in models.iter().filter(|m| m.status() == pb::LoadStatus::Loaded) {
        assert_eq!(m.device_kind(), pb::Device::Cpu, "{}", m.id);
    }
    let packs = client.list_rule_packs(pb::ListRulePacksRequest {}).await.unwrap().into_inner().packs;
    let rules: Vec<_> = packs.iter().flat_map(|p| p.rules.iter()).collect();
    assert!(rules.len() > 60);
    for r in rules {
        let names: Vec<_> = r.trigger_values().map(|t| t.as_str_name().to_string()).collect();
        assert_eq!(names, r.triggers, "{}", r.id);
    }
    server.shutdown().await;
}
