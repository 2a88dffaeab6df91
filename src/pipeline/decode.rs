//! `cdss.v1.EvaluateRequest` → [`Prepared`]: validation, the snapshot, the budget.

use std::{sync::Arc, time::Instant};

use super::{Call, EvaluateError, Pipeline, Prepared, Snapshot};
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
        locale: ev.text_locale(),
        tz: ev.tz,
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
        let mut unknown = unknown_names(req, &options, &snapshot);
        let locale = if options.locale.trim().is_empty() {
            self.settings.default_locale()
        } else {
            crate::locale::Locale::parse(&options.locale).unwrap_or_else(|description| {
                unknown.push(FieldViolation { field: "options.locale".into(), description });
                self.settings.default_locale()
            })
        };
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
            locale: Some(locale.tag().to_string()),
            started,
            deadline: started + budget,
            validation_us: started.elapsed().as_micros() as u64,
            equivalents: snapshot.rules.value_sets.mappings().equivalents().clone(),
        };
        let request = self.audit.as_ref().map(|_| Arc::new(req.clone()));
        Ok(Prepared { evaluation: Arc::new(evaluation), snapshot, request, caller: call.caller })
    }
}

/// The request's trigger and options checked against the snapshot it will run with: the
/// trigger must be a known, specified value; the LLM mode a known value; every named rule
/// pack and model must exist (a model that failed to load is known: it scores as ERROR).
fn unknown_names(req: &pb::EvaluateRequest, options: &pb::EvaluateOptions, snapshot: &Snapshot) -> Vec<FieldViolation> {
    let violation = |field: String, description: String| FieldViolation { field, description };
    let mut out = Vec::new();
    match pb::Trigger::try_from(req.trigger) {
        Ok(pb::Trigger::Unspecified) => out.push(violation(
            "trigger".into(),
            "is required: TRIGGER_UNSPECIFIED is not a trigger (e.g. TRIGGER_PATIENT_VIEW, TRIGGER_DISCHARGE)".into(),
        )),
        Ok(_) => {}
        Err(_) => out.push(violation("trigger".into(), format!("unknown trigger number {}", req.trigger))),
    }
    if pb::LlmMode::try_from(options.llm).is_err() {
        out.push(violation("options.llm".into(), format!("unknown LLM mode number {}", options.llm)));
    }
    let rule_set = &snapshot.rules;
    for (i, p) in options.rule_packs.iter().enumerate() {
        if rule_set.pack(p).is_none() {
            let known = rule_set.packs.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ");
            out.push(violation(
                format!("options.rule_packs[{i}]"),
                format!("unknown rule pack `{p}` (in force: {known})"),
            ));
        }
    }
    let registry = &snapshot.models;
    for (i, m) in options.models.iter().enumerate() {
        if registry.get(m).is_none() && !registry.failed.iter().any(|f| &f.id == m) {
            let known = registry.models.iter().map(|k| k.manifest.id.as_str()).collect::<Vec<_>>().join(", ");
            out.push(violation(format!("options.models[{i}]"), format!("unknown model `{m}` (in force: {known})")));
        }
    }
    out
}
