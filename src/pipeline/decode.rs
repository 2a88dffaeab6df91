//! `cdss.v1.EvaluateRequest` → [`Prepared`]: validation, the snapshot, the budget.

use std::{sync::Arc, time::Instant};

use super::{Call, EvaluateError, Pipeline, Prepared};
use crate::{
    decision::Header,
    encounter::{self, FieldViolation, ValidationError},
    evaluation::{Evaluation, Trigger},
    proto::v1 as pb,
};

/// The domain trigger of a contract trigger (one to one).
pub fn trigger_from_proto(t: pb::Trigger) -> Trigger {
    match t {
        pb::Trigger::Unspecified => Trigger::Unspecified,
        pb::Trigger::Arrival => Trigger::Arrival,
        pb::Trigger::Admission => Trigger::Admission,
        pb::Trigger::OrderSign => Trigger::OrderSign,
        pb::Trigger::PatientView => Trigger::PatientView,
        pb::Trigger::PeriodicReview => Trigger::PeriodicReview,
        pb::Trigger::Discharge => Trigger::Discharge,
        pb::Trigger::Retrospective => Trigger::Retrospective,
    }
}

/// The contract trigger of a domain trigger (one to one).
pub fn trigger_to_proto(t: Trigger) -> pb::Trigger {
    match t {
        Trigger::Unspecified => pb::Trigger::Unspecified,
        Trigger::Arrival => pb::Trigger::Arrival,
        Trigger::Admission => pb::Trigger::Admission,
        Trigger::OrderSign => pb::Trigger::OrderSign,
        Trigger::PatientView => pb::Trigger::PatientView,
        Trigger::PeriodicReview => pb::Trigger::PeriodicReview,
        Trigger::Discharge => pb::Trigger::Discharge,
        Trigger::Retrospective => pb::Trigger::Retrospective,
    }
}

/// The decision header of an evaluation.
pub(super) fn header(ev: &Evaluation) -> Header {
    Header {
        request_id: ev.request_id.clone(),
        encounter_id: ev.encounter.id.clone(),
        trigger: trigger_to_proto(ev.trigger),
        evaluation_time: ev.now,
        include_not_applicable: ev.include_not_applicable,
    }
}

impl Pipeline {
    /// Validate a request into an [`Evaluation`] and take the snapshot it runs against:
    /// every field violation is reported; requested packs must exist in that snapshot.
    pub fn prepare(&self, req: &pb::EvaluateRequest, call: Call) -> Result<Prepared, EvaluateError> {
        let started = Instant::now();
        let pb_enc = req.encounter.as_ref().ok_or(EvaluateError::MissingEncounter)?;
        let now = match &req.evaluation_time {
            Some(t) => {
                chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).ok_or_else(|| ValidationError {
                    violations: vec![FieldViolation {
                        field: "evaluation_time".into(),
                        description: "is not a valid timestamp".into(),
                    }],
                })?
            }
            None => encounter::now(),
        };
        let enc =
            encounter::from_proto(pb_enc, &self.limits, now).inspect_err(|_| crate::metrics::validation_failed())?;
        let options = req.options.clone().unwrap_or_default();
        let snapshot = self.snapshot();
        let unknown: Vec<FieldViolation> = options
            .rule_packs
            .iter()
            .enumerate()
            .filter(|(_, p)| snapshot.rules.pack(p).is_none())
            .map(|(i, p)| FieldViolation {
                field: format!("options.rule_packs[{i}]"),
                description: format!(
                    "unknown rule pack `{p}` (in force: {})",
                    snapshot.rules.packs.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })
            .collect();
        if !unknown.is_empty() {
            return Err(ValidationError { violations: unknown }.into());
        }
        let wants_draft = match options.llm() {
            pb::LlmMode::Request => true,
            pb::LlmMode::Skip => false,
            pb::LlmMode::Unspecified => self.settings.llm.enabled,
        };
        let budget = self.budget(options.budget_ms, &call);
        let evaluation = Evaluation {
            request_id: call.request_id,
            encounter: Arc::new(enc),
            trigger: trigger_from_proto(req.trigger()),
            now,
            tz: self.settings.timezone(),
            rule_packs: options.rule_packs,
            models: options.models,
            wants_draft,
            include_not_applicable: options.include_not_applicable,
            locale: None,
            started,
            deadline: started + budget,
            validation_us: started.elapsed().as_micros() as u64,
        };
        Ok(Prepared { evaluation: Arc::new(evaluation), snapshot })
    }
}
