//! `cdss.v1.AuditService`: feedback and retrieval over the audit store. Store
//! calls block, so they run on the blocking pool; reads of PHI-bearing data
//! (the original request) are recorded in the access log first.

use std::{sync::Arc, time::Instant};

use tonic::{Request, Response, Status};

use super::service::observe;
use crate::{
    audit::{self, AccessRecord, AuditError, Auditor, FeedbackSink, StoredDecision},
    proto::v1::{self as pb, audit_service_server::AuditService},
};

/// The one mapping of audit errors to statuses (messages carry ids, never record contents).
impl From<AuditError> for Status {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Unavailable(m) => {
                tracing::warn!(error = %m, "Audit store unavailable.");
                Status::unavailable("the audit store is unavailable; retry later")
            }
            AuditError::NotFound(what) => Status::not_found(format!("no audit record {what}")),
            AuditError::Invalid(m) => Status::invalid_argument(m),
            AuditError::Key(m) => {
                tracing::error!(error = %m, "Audit record cannot be decrypted.");
                Status::failed_precondition("the stored request cannot be decrypted with the keys in force")
            }
            AuditError::Corrupt(m) => {
                tracing::error!(error = %m, "Audit record unreadable.");
                Status::internal("an audit record is unreadable; see the server log")
            }
        }
    }
}

/// `cdss.v1.AuditService`.
#[derive(Debug, Clone)]
pub struct AuditApi {
    audit: Option<Arc<Auditor>>,
}

impl AuditApi {
    pub fn new(audit: Option<Arc<Auditor>>) -> Self {
        Self { audit }
    }

    fn auditor(&self) -> Result<&Arc<Auditor>, Status> {
        self.audit.as_ref().ok_or_else(|| Status::unavailable("audit is off on this daemon (audit.backend = \"off\")"))
    }
}

fn ts(us: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

fn enum_of(prefix: &str, label: &str) -> String {
    format!("{prefix}{}", label.to_ascii_uppercase())
}

fn trigger(label: &str) -> i32 {
    pb::Trigger::from_str_name(&enum_of("TRIGGER_", label)).unwrap_or_default() as i32
}

fn response(d: &StoredDecision) -> pb::GetDecisionResponse {
    pb::GetDecisionResponse {
        summary: Some(pb::DecisionSummary {
            decision_id: d.id.clone(),
            evaluation_time: Some(ts(d.evaluated_us)),
            trigger: trigger(&d.trigger),
            department: d.department.clone(),
            rule_set_version: d.rule_set_version.clone(),
            findings: d.findings.len() as u32,
        }),
        request_hash: d.request_hash.clone(),
        findings: d
            .findings
            .iter()
            .map(|f| pb::RecordedFinding {
                rule_id: f.rule_id.clone(),
                rule_version: f.rule_version.clone(),
                pack: f.pack.clone(),
                measure: f.measure.clone(),
                status: pb::FindingStatus::from_str_name(&enum_of("FINDING_STATUS_", &f.status)).unwrap_or_default()
                    as i32,
                exclusion_reason: f.exclusion_reason.clone(),
                deadline: f.deadline_us.map(ts),
                missing_data: f.missing.clone(),
                evidence_refs: f.evidence.clone(),
            })
            .collect(),
        risks: d
            .risks
            .iter()
            .map(|r| pb::RecordedRisk {
                model_id: r.model_id.clone(),
                model_version: r.model_version.clone(),
                status: pb::RiskStatus::from_str_name(&enum_of("RISK_STATUS_", &r.status)).unwrap_or_default() as i32,
                probability: r.probability,
                band: pb::RiskBand::from_str_name(&enum_of("RISK_BAND_", &r.band)).unwrap_or_default() as i32,
                imputed_features: r.imputed.clone(),
            })
            .collect(),
        draft: d.draft.as_ref().map(|s| pb::RecordedDraft {
            model: s.model.clone(),
            template_version: s.template_version.clone(),
            prompt_hash: s.prompt_hash.clone(),
            status: pb::SuggestionStatus::from_str_name(&enum_of("SUGGESTION_STATUS_", &s.status)).unwrap_or_default()
                as i32,
            latency_ms: s.latency_ms as u32,
        }),
        request: None,
        key_id: d.request.key_id.clone(),
        cdssd_version: d.cdssd_version.clone(),
    }
}

/// The caller as the audit records it.
fn caller<T>(req: &Request<T>) -> String {
    super::edge::caller_from(req.metadata().get("x-cdss-caller").and_then(|v| v.to_str().ok()))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AuditError> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("audit task failed: {e}")))?
        .map_err(Status::from)
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn feedback(&self, request: Request<pb::FeedbackRequest>) -> Result<Response<pb::FeedbackResponse>, Status> {
        let start = Instant::now();
        let result = async {
            let auditor = self.auditor()?;
            let r = request.into_inner();
            let outcome = match r.outcome() {
                pb::FeedbackOutcome::Accepted => audit::Outcome::Accepted,
                pb::FeedbackOutcome::Overridden => audit::Outcome::Overridden,
                pb::FeedbackOutcome::Unspecified => {
                    return Err(Status::invalid_argument("outcome is required (ACCEPTED or OVERRIDDEN)"))
                }
            };
            let fb = audit::Feedback {
                decision_id: r.decision_id,
                card_id: r.card_id,
                outcome,
                reason_code: r.override_reason,
                comment: r.comment,
                user_role: r.user_role,
                time_us: r.time.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000),
            };
            let id = auditor.feedback(fb).await?;
            Ok(Response::new(pb::FeedbackResponse { feedback_id: id }))
        }
        .await;
        observe("Feedback", start, &result);
        result
    }

    async fn get_encounter_history(
        &self,
        request: Request<pb::GetEncounterHistoryRequest>,
    ) -> Result<Response<pb::GetEncounterHistoryResponse>, Status> {
        let start = Instant::now();
        let result = async {
            let auditor = self.auditor()?.clone();
            let actor = caller(&request);
            let id = request.into_inner().encounter_id;
            if id.is_empty() {
                return Err(Status::invalid_argument("encounter_id is required"));
            }
            let pid = auditor.keys().pseudonym(&id);
            let store = auditor.store().clone();
            let p = pid.clone();
            let history = blocking(move || {
                let h = store.history(&p)?;
                store.record_access(&AccessRecord::now(&actor, "encounter_history", &p, h.len() as i64))?;
                Ok(h)
            })
            .await?;
            Ok(Response::new(pb::GetEncounterHistoryResponse {
                encounter_pseudonym: pid,
                decisions: history
                    .iter()
                    .map(|h| pb::DecisionSummary {
                        decision_id: h.id.clone(),
                        evaluation_time: Some(ts(h.evaluated_us)),
                        trigger: trigger(&h.trigger),
                        department: h.department.clone(),
                        rule_set_version: h.rule_set_version.clone(),
                        findings: h.findings as u32,
                    })
                    .collect(),
            }))
        }
        .await;
        observe("GetEncounterHistory", start, &result);
        result
    }

    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let start = Instant::now();
        let result = async {
            let auditor = self.auditor()?.clone();
            let actor = caller(&request);
            let r = request.into_inner();
            if r.decision_id.is_empty() {
                return Err(Status::invalid_argument("decision_id is required"));
            }
            let (store, keys) = (auditor.store().clone(), auditor.keys().clone());
            let resp = blocking(move || {
                let d = store.decision(&r.decision_id)?;
                let mut resp = response(&d);
                if r.include_request {
                    store.record_access(&AccessRecord::now(&actor, "decision_request", &d.id, 1))?;
                    resp.request = Some(d.open_request(&keys)?);
                }
                Ok(resp)
            })
            .await?;
            Ok(Response::new(resp))
        }
        .await;
        observe("GetDecision", start, &result);
        result
    }

    async fn worklist(&self, request: Request<pb::WorklistRequest>) -> Result<Response<pb::WorklistResponse>, Status> {
        let start = Instant::now();
        let result = async {
            let store = self.auditor()?.store().clone();
            let dep = request.into_inner().department;
            let items = blocking(move || {
                crate::report::worklist::worklist(
                    store.as_ref(),
                    (!dep.is_empty()).then_some(dep.as_str()),
                    audit::now_us(),
                )
            })
            .await?;
            Ok(Response::new(pb::WorklistResponse {
                items: items
                    .into_iter()
                    .map(|i| pb::WorklistItem {
                        encounter_pseudonym: i.encounter_pid,
                        department: i.department,
                        rule_id: i.rule_id,
                        measure: i.measure,
                        deadline: (i.deadline_us != i64::MAX).then(|| ts(i.deadline_us)),
                        overdue: i.overdue,
                        decision_id: i.decision_id,
                    })
                    .collect(),
            }))
        }
        .await;
        observe("Worklist", start, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_labels_map_back_to_proto_enums() {
        use crate::proto::v1 as pb;
        for s in [pb::FindingStatus::Met, pb::FindingStatus::NotMet, pb::FindingStatus::Pending] {
            let label = crate::audit::record::enum_label(s.as_str_name(), "FINDING_STATUS_");
            assert_eq!(pb::FindingStatus::from_str_name(&super::enum_of("FINDING_STATUS_", &label)), Some(s));
        }
        assert_eq!(super::trigger("retrospective"), pb::Trigger::Retrospective as i32);
    }
}
