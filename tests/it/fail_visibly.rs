//! A configured model that failed to load at start-up never vanishes from the answers:
//! an ERROR risk score and a card wherever it would have applied, NOT_APPLICABLE with its
//! reason on request elsewhere, `/readyz` 503 naming it, and the gauges the
//! CdssdModelsNotLoaded alert compares (real daemon, real gRPC, real metrics port).

use cdssd::proto::v1 as pb;

use crate::daemon::{copy_tree, request, root, Daemon};

const AMI: &str = "ami-1y-mortality";

#[tokio::test]
async fn a_model_that_failed_to_load_is_an_error_score_a_card_and_not_ready() {
    let models = copy_tree(&root().join("models"));
    // Garbage in place of the graph (the manifest still parses, so applicability is known).
    std::fs::write(models.path().join(AMI).join("model.onnx"), b"not an onnx graph").unwrap();
    let dir = models.path().display().to_string();
    let daemon = Daemon::start(&[("CDSSD__RISK__DIR", &dir)]);
    let mut client = daemon.client().await;

    // The AMI model applies to a STEMI admission: ERROR score + card naming it.
    let d = client.evaluate(request("stemi_primary_pci.json", pb::Trigger::Discharge)).await.unwrap().into_inner();
    let d = d.decision.unwrap();
    let ami: Vec<&pb::RiskScore> = d.risks.iter().filter(|r| r.model_id == AMI).collect();
    assert_eq!(ami.len(), 1, "one score for the failed model: {:?}", d.risks);
    assert_eq!(ami[0].status(), pb::RiskStatus::Error);
    assert!(ami[0].message.contains("模型加载失败"), "in the default locale (zh-CN): {}", ami[0].message);
    // The reason a person can act on: which file, what is wrong with it.
    assert!(ami[0].message.contains(&format!("{AMI}/model.onnx")), "{}", ami[0].message);
    assert!(!ami[0].validity.is_empty(), "its validity limits from the manifest: {:?}", ami[0]);
    assert!(!ami[0].outcome.is_empty() && !ami[0].model_version.is_empty(), "named from its manifest: {:?}", ami[0]);
    let card = d.cards.iter().find(|c| c.source.as_ref().is_some_and(|s| s.id == AMI));
    // In the default locale (zh-CN) and in English when asked.
    assert!(card.is_some_and(|c| c.summary.starts_with("未评分")), "a card says so: {:?}", d.cards);
    let mut en = request("stemi_primary_pci.json", pb::Trigger::Discharge);
    en.options.as_mut().unwrap().locale = "en".into();
    let d = client.evaluate(en).await.unwrap().into_inner().decision.unwrap();
    let card = d.cards.iter().find(|c| c.source.as_ref().is_some_and(|s| s.id == AMI));
    assert!(card.is_some_and(|c| c.summary.starts_with("Not scored")), "in English: {:?}", d.cards);
    let en_msg = &d.risks.iter().find(|r| r.model_id == AMI).unwrap().message;
    assert!(en_msg.contains("failed to load") && en_msg.contains(&format!("{AMI}/model.onnx")), "{en_msg}");

    // An outpatient visit: the AMI model does not apply — absent by default, with its reason on request.
    let plain = client.evaluate(request("outpatient_visit.json", pb::Trigger::Discharge)).await.unwrap().into_inner();
    assert!(plain.decision.unwrap().risks.iter().all(|r| r.model_id != AMI));
    let mut req = request("outpatient_visit.json", pb::Trigger::Discharge);
    req.options.as_mut().unwrap().include_not_applicable = true;
    req.options.as_mut().unwrap().locale = "en".into();
    let d = client.evaluate(req).await.unwrap().into_inner().decision.unwrap();
    let na = d.risks.iter().find(|r| r.model_id == AMI).expect("reported when asked");
    assert_eq!(na.status(), pb::RiskStatus::NotApplicable, "{na:?}");
    assert!(na.message.starts_with("not applicable: "), "{}", na.message);
    assert!(d.cards.iter().all(|c| c.source.as_ref().is_none_or(|s| s.id != AMI)), "no card when it does not apply");

    let (status, _, body) = daemon.get("/readyz").await;
    println!("readyz: {status} {}", body.trim());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("models loaded 1 < configured 2") && body.contains(AMI), "{body}");
    let scrape = daemon.scrape().await;
    assert_eq!((scrape.get("cdssd_models_loaded"), scrape.get("cdssd_models_configured")), (1.0, 2.0));
    assert!(daemon.stop().success());
}
