//! Replay: re-run stored requests against another rule set (with their own
//! evaluation time and hospital time zone) and list the findings whose status
//! changes, by measure — what a rule edit would do to past cases before it goes
//! live. Each encounter's latest recorded decision is replayed once; reading the
//! sealed requests is recorded in the access log.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use crate::{
    audit::{keys::KeyRing, record::enum_label, AccessRecord, AuditError, AuditStore, Scan, StoredDecision},
    config::Settings,
    pipeline::Pipeline,
    proto::v1 as pb,
};

/// One finding whose status differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub encounter_pid: String,
    pub decision_id: String,
    /// Status recorded ("absent" when the rule gave no finding).
    pub before: String,
    /// Status under the new rules ("absent" when it gives none).
    pub after: String,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Replay {
    /// Decisions replayed.
    pub replayed: u64,
    /// Rule-set version replayed against.
    pub rule_set_version: String,
    /// Rule id → changed findings.
    pub changes: BTreeMap<String, Vec<Change>>,
    /// Decisions whose request the new rules refused (e.g. a pack no longer exists), with the reason.
    pub refused: Vec<(String, String)>,
}

/// Replay failed to start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot load the rules to replay against: {0}")]
    Rules(String),
}

fn statuses(findings: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    findings.collect()
}

/// Replay the latest decision of every encounter matching `scan` against the rules in `rules_dir`.
pub async fn replay(
    store: &Arc<dyn AuditStore>,
    keys: &KeyRing,
    settings: &Settings,
    rules_dir: &Path,
    scan: &Scan,
    actor: &str,
) -> Result<Replay, ReplayError> {
    let mut latest: BTreeMap<String, StoredDecision> = BTreeMap::new();
    let (s, sc) = (store.clone(), scan.clone());
    let decisions = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        s.scan(&sc, &mut |d| all.push(d)).map(|()| all)
    })
    .await
    .map_err(|e| AuditError::Unavailable(e.to_string()))??;
    for d in decisions {
        let newer = latest
            .get(&d.encounter_pid)
            .is_none_or(|l| (d.evaluated_us, d.recorded_us) >= (l.evaluated_us, l.recorded_us));
        if newer {
            latest.insert(d.encounter_pid.clone(), d);
        }
    }
    store.record_access(&AccessRecord::now(actor, "replay", &rules_dir.display().to_string(), latest.len() as i64))?;
    let mut pipelines: BTreeMap<String, Pipeline> = BTreeMap::new();
    let mut out = Replay::default();
    for d in latest.into_values() {
        if !pipelines.contains_key(&d.time_zone) {
            let mut s = settings.clone();
            s.rules.dir = rules_dir.to_path_buf();
            s.rules.watch = false;
            s.risk.enabled = false;
            s.llm.enabled = false;
            // Offline: a generous per-rule time budget, so that machine load never shows up as
            // a rule `error` (a false change); the operations budget stays as configured.
            s.rules.max_rule_ms = s.rules.max_rule_ms.max(2000);
            if d.time_zone.parse::<chrono_tz::Tz>().is_ok() {
                s.encounter.hospital_timezone = d.time_zone.clone();
            }
            let p = Pipeline::new(Arc::new(s)).map_err(ReplayError::Rules)?;
            pipelines.insert(d.time_zone.clone(), p);
        }
        let pipeline = &pipelines[&d.time_zone];
        let mut req = d.open_request(keys)?;
        if req.evaluation_time.is_none() {
            let us = d.evaluated_us;
            req.evaluation_time = Some(pbjson_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: 0 });
        }
        req.options.get_or_insert_with(Default::default).llm = pb::LlmMode::Skip as i32;
        let decision = match pipeline.prepare(
            &req,
            crate::pipeline::Call {
                request_id: format!("replay-{}", d.id),
                deadline: None,
                budget: crate::pipeline::Budget::Decision,
                caller: "replay".into(),
            },
        ) {
            Ok(ctx) => match pipeline.evaluate(&ctx).await {
                Ok(dec) => dec,
                Err(e) => {
                    out.refused.push((d.id.clone(), e.to_string()));
                    continue;
                }
            },
            Err(e) => {
                out.refused.push((d.id.clone(), e.to_string()));
                continue;
            }
        };
        out.replayed += 1;
        out.rule_set_version = decision.versions.as_ref().map(|v| v.rule_set.clone()).unwrap_or_default();
        let before = statuses(d.findings.iter().map(|f| (f.rule_id.clone(), f.status.clone())));
        let after = statuses(
            decision
                .findings
                .iter()
                .map(|f| (f.rule_id.clone(), enum_label(f.status().as_str_name(), "FINDING_STATUS_"))),
        );
        let rules: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for rule in rules {
            let (b, a) = (before.get(rule), after.get(rule));
            if b != a {
                out.changes.entry(rule.clone()).or_default().push(Change {
                    encounter_pid: d.encounter_pid.clone(),
                    decision_id: d.id.clone(),
                    before: b.cloned().unwrap_or_else(|| "absent".into()),
                    after: a.cloned().unwrap_or_else(|| "absent".into()),
                });
            }
        }
    }
    Ok(out)
}

/// The changes as text, by measure.
pub fn render(r: &Replay) -> String {
    use std::fmt::Write;
    let mut s = format!("replayed {} decision(s) against rule set {}\n", r.replayed, r.rule_set_version);
    if r.changes.is_empty() {
        s.push_str("no finding changes\n");
    }
    for (rule, changes) in &r.changes {
        let _ = writeln!(s, "{rule}: {} change(s)", changes.len());
        let mut by: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
        for c in changes {
            by.entry((c.before.clone(), c.after.clone())).or_default().push(&c.encounter_pid);
        }
        for ((b, a), pids) in by {
            let _ = writeln!(s, "  {b} -> {a}: {}", pids.join(", "));
        }
    }
    for (id, why) in &r.refused {
        let _ = writeln!(s, "refused {id}: {why}");
    }
    s
}
