//! Issue 14, "Done when": the same example encounter evaluated with `locale` zh-CN and en
//! gives the same statuses; every zh-CN text a person reads (finding titles and messages,
//! card summaries and details, data-quality notices, risk messages) contains Chinese and
//! differs from the en one; no card summary is over 139 characters — over every example
//! encounter and every rule (not-applicable findings included), over a real gRPC socket.
use cdssd::{locale::has_chinese, proto::v1 as pb};

use crate::support::{request, settings_with, TestServer};

/// Every card summary fits 139 characters (counted as characters, not bytes).
fn summaries_fit(d: &pb::Decision, what: &str, problems: &mut Vec<String>) {
    for c in &d.cards {
        let n = c.summary.chars().count();
        if n > 139 {
            problems.push(format!("{what}: card summary of {n} characters: {}", c.summary));
        }
    }
}

/// `zh` is Chinese and not the English text (both empty is allowed: nothing to read).
fn localized(zh: &str, en: &str) -> bool {
    (zh.is_empty() && en.is_empty()) || (has_chinese(zh) && zh != en)
}

#[tokio::test]
async fn every_example_reads_in_both_languages_with_the_same_statuses() {
    // Data-quality notices carry both texts in one message; findings, cards and risks
    // follow the request's locale.
    let server = TestServer::start(settings_with(&[])).await;
    let mut cds = pb::cds_service_client::CdsServiceClient::new(server.channel().await);
    let mut problems = Vec::new();
    let mut rules_seen = std::collections::BTreeSet::new();
    let examples = crate::support::example_files();
    assert_eq!(examples.len(), 9, "{examples:?}");
    for name in &examples {
        let mut by_locale = Vec::new();
        for tag in ["zh-CN", "en"] {
            let mut req = request(name);
            // Retrospective: the trigger every rule runs on (Discharge skips a few).
            req.trigger = pb::Trigger::Retrospective as i32;
            let o = req.options.as_mut().unwrap();
            o.locale = tag.into();
            o.include_not_applicable = true;
            let d = cds.evaluate(req).await.unwrap_or_else(|e| panic!("{name} {tag}: {e}")).into_inner();
            let d = d.decision.unwrap();
            assert_eq!(d.locale, tag, "{name}");
            summaries_fit(&d, &format!("{name} {tag}"), &mut problems);
            by_locale.push(d);
        }
        let (zh, en) = (&by_locale[0], &by_locale[1]);
        assert_eq!(zh.findings.len(), en.findings.len(), "{name}: the same rules run");
        for (z, e) in zh.findings.iter().zip(&en.findings) {
            assert_eq!(z.rule_id, e.rule_id, "{name}: same order");
            rules_seen.insert(z.rule_id.clone());
            if (z.status, &z.reason_key) != (e.status, &e.reason_key) {
                problems.push(format!("{name} {}: status differs by locale", z.rule_id));
            }
            if !localized(&z.title, &e.title) {
                problems.push(format!("{name} {}: title {:?} / {:?}", z.rule_id, z.title, e.title));
            }
            if !localized(&z.message, &e.message) {
                problems.push(format!("{name} {}: message {:?} / {:?}", z.rule_id, z.message, e.message));
            }
        }
        assert_eq!(zh.cards.len(), en.cards.len(), "{name}: the same cards");
        for (z, e) in zh.cards.iter().zip(&en.cards) {
            if !localized(&z.summary, &e.summary) || !localized(&z.detail, &e.detail) {
                problems.push(format!("{name}: card {:?} / {:?}", z.summary, e.summary));
            }
        }
        assert_eq!(zh.risks.len(), en.risks.len(), "{name}: the same risks");
        for (z, e) in zh.risks.iter().zip(&en.risks) {
            assert_eq!((z.probability, z.band), (e.probability, e.band), "{name} {}", z.model_id);
            if !localized(&z.message, &e.message) {
                problems.push(format!("{name} {}: risk message {:?} / {:?}", z.model_id, z.message, e.message));
            }
        }
        for n in &zh.data_quality {
            if !localized(&n.text_zh, &n.text_en) {
                problems.push(format!("{name}: notice {:?}", n.text_zh));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    // Every shipped rule was read in both languages (not-applicable ones included).
    assert_eq!(rules_seen.len(), crate::support::shipped_rule_count(), "every rule evaluated: {rules_seen:?}");
    server.shutdown().await;
}
