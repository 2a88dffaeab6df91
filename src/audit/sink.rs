//! What the rest of cdssd sees of the audit: [`Auditor`] records each decision
//! before it is answered (the pipeline's sink) and takes clinician feedback
//! through [`FeedbackSink`] (gRPC `Feedback`, the CDS Hooks feedback endpoint).

use std::sync::Arc;

use super::{keys::KeyRing, AuditError, AuditStore, AuditWriter, DecisionRecord, FeedbackRecord};
use crate::{config::Settings, proto::v1 as pb};

/// A clinician's answer to one card (its name is also the `outcome` metric label).
pub use crate::metrics::FeedbackOutcome as Outcome;

/// Feedback on one card of a recorded decision, from whichever transport received it.
#[derive(Debug, Clone)]
pub struct Feedback {
    /// The decision's `decision_id` (as answered).
    pub decision_id: String,
    /// The card's `uuid`.
    pub card_id: String,
    pub outcome: Outcome,
    /// Coded override reason (required when overridden), e.g. "contraindicated", "not_relevant".
    pub reason_code: String,
    /// Free text; sealed at rest (it may name the patient).
    pub comment: String,
    /// Role of the user, e.g. "physician", "nurse", "pharmacist".
    pub user_role: String,
    /// When the clinician acted (µs since the epoch); 0 = now.
    pub time_us: i64,
}

/// Where feedback goes. Implemented by [`Auditor`]; transports depend only on this trait.
#[tonic::async_trait]
pub trait FeedbackSink: Send + Sync + std::fmt::Debug {
    /// Store the feedback against its decision; returns the feedback id.
    async fn feedback(&self, fb: Feedback) -> Result<String, AuditError>;
    /// Store feedback that names only its card (CDS Hooks): against the latest decision,
    /// recorded within [`CARD_LOOKBACK_DAYS`], that showed it (`fb.decision_id` is ignored).
    async fn feedback_on_card(&self, fb: Feedback) -> Result<String, AuditError>;
}

/// How far back feedback that names only its card looks for the decision that showed it.
pub const CARD_LOOKBACK_DAYS: i64 = 30;

/// The audit in a running daemon: the group-commit writer, the keys, the hospital zone.
#[derive(Debug, Clone)]
pub struct Auditor {
    writer: AuditWriter,
    keys: Arc<KeyRing>,
    time_zone: String,
}

impl Auditor {
    /// Open the configured store and keys (blocking: call off the async threads); `None` when off.
    pub fn open(settings: &Settings) -> Result<Option<Self>, AuditError> {
        let a = &settings.audit;
        let Some(store) = super::open(a)? else {
            tracing::warn!("Audit is off (audit.backend = \"off\"): decisions are not recorded.");
            return Ok(None);
        };
        let keys = Arc::new(KeyRing::load(&a.key_path(), a.create_key_file)?);
        tracing::info!(backend = store.backend().label(), key_id = keys.current_id(), "Audit store open.");
        Ok(Some(Self {
            writer: AuditWriter::start(store, a.max_batch, a.queue),
            keys,
            time_zone: settings.encounter.hospital_timezone.clone(),
        }))
    }

    /// Record `decision` (answered to `req` for `caller`) durably and set its `decision_id`.
    /// On failure the call must fail closed: the error is counted and logged here.
    pub async fn record(
        &self,
        req: &pb::EvaluateRequest,
        decision: &mut pb::Decision,
        caller: &str,
    ) -> Result<(), AuditError> {
        let result = match DecisionRecord::build(&self.keys, req, decision, caller, &self.time_zone) {
            Ok(rec) => {
                let id = rec.id.clone();
                self.writer.record(rec).await.map(|()| id)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(id) => {
                decision.decision_id = id;
                Ok(())
            }
            Err(e) => {
                crate::metrics::audit_failed_closed();
                tracing::warn!(error = %e, "Decision not recorded; the call fails closed (UNAVAILABLE).");
                Err(e)
            }
        }
    }

    /// Whether this exact request (same hash) was already recorded.
    pub fn already_recorded(&self, req: &pb::EvaluateRequest) -> Result<bool, AuditError> {
        use prost::Message;
        use sha2::Digest;
        self.store().has_request(&hex::encode(sha2::Sha256::digest(req.encode_to_vec())))
    }

    pub fn store(&self) -> &Arc<dyn AuditStore> {
        self.writer.store()
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }
}

#[tonic::async_trait]
impl FeedbackSink for Auditor {
    async fn feedback(&self, fb: Feedback) -> Result<String, AuditError> {
        if fb.decision_id.is_empty() || fb.card_id.is_empty() {
            return Err(AuditError::Invalid("decision_id and card_id are required".into()));
        }
        if fb.outcome == Outcome::Overridden && fb.reason_code.trim().is_empty() {
            return Err(AuditError::Invalid("reason_code is required when the card is overridden".into()));
        }
        if fb.reason_code.len() > 64 || fb.user_role.len() > 64 || fb.comment.len() > 4096 {
            return Err(AuditError::Invalid("reason_code/user_role over 64 bytes or comment over 4096 bytes".into()));
        }
        let (store, keys) = (self.store().clone(), self.keys.clone());
        tokio::task::spawn_blocking(move || {
            let decision = store.decision(&fb.decision_id)?;
            let card =
                decision.cards.iter().find(|c| c.card_id == fb.card_id).ok_or_else(|| {
                    AuditError::NotFound(format!("card {} of decision {}", fb.card_id, fb.decision_id))
                })?;
            let id = uuid::Uuid::new_v4().to_string();
            let now = super::now_us();
            let rec = FeedbackRecord {
                comment: keys.seal(&id, fb.comment.as_bytes())?,
                id: id.clone(),
                decision_id: fb.decision_id.clone(),
                card_id: fb.card_id.clone(),
                source_id: card.source_id.clone(),
                source_version: card.source_version.clone(),
                department: decision.department.clone(),
                outcome: fb.outcome.label().into(),
                reason_code: fb.reason_code.clone(),
                user_role: fb.user_role.clone(),
                time_us: if fb.time_us == 0 { now } else { fb.time_us },
                recorded_us: now,
            };
            store.append_feedback(&rec)?;
            crate::metrics::feedback(&rec.source_id, fb.outcome);
            Ok(id)
        })
        .await
        .map_err(|e| AuditError::Unavailable(format!("feedback task failed: {e}")))?
    }

    async fn feedback_on_card(&self, mut fb: Feedback) -> Result<String, AuditError> {
        let (store, card) = (self.store().clone(), fb.card_id.clone());
        let since = super::now_us() - CARD_LOOKBACK_DAYS * 86_400_000_000;
        let found = tokio::task::spawn_blocking(move || store.latest_decision_with_card(&card, since))
            .await
            .map_err(|e| AuditError::Unavailable(format!("feedback task failed: {e}")))??;
        fb.decision_id = found.ok_or_else(|| {
            AuditError::NotFound(format!(
                "card {} in a decision recorded in the last {CARD_LOOKBACK_DAYS} days",
                fb.card_id
            ))
        })?;
        self.feedback(fb).await
    }
}
