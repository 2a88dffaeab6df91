//! Every risk card states its model's validity limits (SAFETY.md, "Validity limits") in the
//! request's locale, from the manifest's `[validity]`; ListModels lists them in both
//! locales; a manifest without them does not load, and the failure is visible (real daemon,
//! real gRPC, real metrics port).

use cdssd::locale::has_chinese;
use cdssd::proto::v1 as pb;

use crate::daemon::{copy_tree, request, root, Daemon};

const PCE: &str = "ascvd-pce-10y";
const AMI: &str = "ami-1y-mortality";

/// The `[validity]` texts of a shipped manifest: (zh-CN, en).
fn validity(id: &str) -> (String, String) {
    let text = std::fs::read_to_string(root().join("models").join(id).join("manifest.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let v = t["validity"].as_table().unwrap();
    (v["zh-CN"].as_str().unwrap().to_string(), v["en"].as_str().unwrap().to_string())
}

/// `key` (`outcome`, `horizon`) of a shipped manifest: (zh-CN, en).
fn texts(id: &str, key: &str) -> (String, String) {
    let text = std::fs::read_to_string(root().join("models").join(id).join("manifest.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let v = t[key].as_table().unwrap_or_else(|| panic!("{id}: {key} is a table of texts by locale"));
    (v["zh-CN"].as_str().unwrap().to_string(), v["en"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn every_risk_card_states_its_models_validity_in_the_request_locale() {
    let daemon = Daemon::start(&[]);
    let mut client = daemon.client().await;
    for (file, id) in [("outpatient_visit.json", PCE), ("stemi_primary_pci.json", AMI)] {
        let (zh, en) = validity(id);
        assert!(has_chinese(&zh) && en.contains("not validated in Chinese patients"), "{id}: {zh} / {en}");
        for (locale, text, heading) in [("zh-CN", &zh, "适用范围与局限："), ("en", &en, "Validity limits: ")] {
            let mut req = request(file, pb::Trigger::Discharge);
            req.options.as_mut().unwrap().locale = locale.into();
            let d = client.evaluate(req).await.unwrap().into_inner().decision.unwrap();
            let r = d.risks.iter().find(|r| r.model_id == id).unwrap_or_else(|| panic!("{id} scored: {:?}", d.risks));
            assert_eq!(r.status(), pb::RiskStatus::Ok, "{r:?}");
            assert_eq!(&r.validity, text, "{id} {locale}");
            // Outcome, horizon and feature labels in the request's locale too (issue 14).
            let pick = |(zh, en): (String, String)| if locale == "zh-CN" { zh } else { en };
            assert_eq!(r.outcome, pick(texts(id, "outcome")), "{id} {locale}");
            assert_eq!(r.horizon, pick(texts(id, "horizon")), "{id} {locale}");
            for c in &r.contributions {
                let f = r.features.iter().find(|f| f.name == c.feature).unwrap();
                assert!(!c.label.is_empty() && c.label == f.label, "{id} {locale}: {c:?}");
                assert_eq!(has_chinese(&c.label), locale == "zh-CN", "{id} {locale}: {}", c.label);
            }
            let card = d.cards.iter().find(|c| c.source.as_ref().is_some_and(|s| s.id == id)).expect("a card");
            assert!(card.detail.contains(&format!("{heading}{text}")), "{id} {locale}: {}", card.detail);
            assert!(!card.summary.contains(text.as_str()), "the summary stays short: {}", card.summary);
            assert!(card.summary.chars().count() < 140, "{}", card.summary);
        }
    }
    let (pce_zh, pce_en) = validity(PCE);
    assert!(pce_en.contains("China-PAR") && pce_zh.contains("China-PAR"), "names the Chinese equivalent");

    let list = client.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(list.models.len(), 2, "{list:?}");
    for m in &list.models {
        let (zh, en) = validity(&m.id);
        let texts: Vec<(&str, &str)> = m.validity.iter().map(|t| (t.locale.as_str(), t.text.as_str())).collect();
        assert_eq!(texts, [("zh-CN", zh.as_str()), ("en", en.as_str())], "{}", m.id);
        let by_locale = |t: &[pb::LocalizedText]| -> Vec<(String, String)> {
            t.iter().map(|t| (t.locale.clone(), t.text.clone())).collect()
        };
        for (key, got) in [("outcome", &m.outcome_texts), ("horizon", &m.horizon_texts)] {
            let (zh, en) = self::texts(&m.id, key);
            assert_eq!(by_locale(got), [("zh-CN".into(), zh), ("en".into(), en.clone())], "{} {key}", m.id);
            if key == "outcome" {
                assert_eq!(m.outcome, en, "{}: the old field keeps the English text", m.id);
            }
        }
        let names: Vec<&str> = m.feature_labels.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, m.features.iter().map(String::as_str).collect::<Vec<_>>(), "{}", m.id);
        for f in &m.feature_labels {
            let l = by_locale(&f.label);
            assert!(l.len() == 2 && has_chinese(&l[0].1) && !has_chinese(&l[1].1), "{} {}: {l:?}", m.id, f.name);
        }
    }
    assert!(daemon.stop().success());
}

#[tokio::test]
async fn a_manifest_without_validity_does_not_load_and_says_what_to_add() {
    let models = copy_tree(&root().join("models"));
    let path = models.path().join(AMI).join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (text.find("[validity]").unwrap(), text.find("[applicability]").unwrap());
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let dir = models.path().display().to_string();
    let daemon = Daemon::start(&[("CDSSD__RISK__DIR", &dir)]);
    let mut client = daemon.client().await;

    let list = client.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner();
    let ami = list.models.iter().find(|m| m.id == AMI).unwrap();
    assert_eq!(ami.status(), pb::LoadStatus::Failed, "{ami:?}");
    let e = &ami.errors[0];
    assert_eq!(e.path, format!("{AMI}/manifest.toml"), "{e:?}");
    assert!(e.message.starts_with("no [validity] table"), "{e:?}");
    let pce = list.models.iter().find(|m| m.id == PCE).unwrap();
    assert_eq!(pce.status(), pb::LoadStatus::Loaded, "the other model serves: {pce:?}");

    // Its manifest did not parse, so nobody can tell where it applies: an ERROR score with
    // the reason a person can act on, and a card, on every encounter.
    for file in ["stemi_primary_pci.json", "outpatient_visit.json"] {
        let mut req = request(file, pb::Trigger::Discharge);
        req.options.as_mut().unwrap().locale = "en".into();
        let d = client.evaluate(req).await.unwrap().into_inner().decision.unwrap();
        let r = d.risks.iter().find(|r| r.model_id == AMI).expect("an ERROR score");
        assert_eq!(r.status(), pb::RiskStatus::Error, "{r:?}");
        assert!(r.message.contains("manifest.toml:1:1: no [validity] table"), "{}", r.message);
        let card = d.cards.iter().find(|c| c.source.as_ref().is_some_and(|s| s.id == AMI)).expect("a card");
        assert!(card.summary.starts_with("Not scored") && card.summary.chars().count() < 140, "{}", card.summary);
        assert!(card.detail.contains("no [validity] table"), "{}", card.detail);
    }
    let (status, _, body) = daemon.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let scrape = daemon.scrape().await;
    assert_eq!((scrape.get("cdssd_models_loaded"), scrape.get("cdssd_models_configured")), (1.0, 2.0));
    assert!(daemon.stop().success());
}
