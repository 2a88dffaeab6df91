//! Finding constructors (`met`, `not_met`, `excluded`, `not_applicable`, `pending`,
//! `missing_data`) and the conversion of what a script returned into a [`Finding`].
use chrono_tz::Tz;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString};

use super::encounter::evidence_of;
use super::time::Time;
use crate::encounter::Encounter;
use crate::rules::finding::{Evidence, Status};

/// What a rule's `evaluate(enc)` returns; built by the constructors, fields readable
/// and `missing` / `message` writable from scripts.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub message: ImmutableString,
    pub evidence: Array,
    pub deadline: Option<Time>,
    pub reason: ImmutableString,
    pub missing: Array,
}

impl Outcome {
    fn new(status: Status, message: ImmutableString, evidence: Array) -> Self {
        Self { status, message, evidence, deadline: None, reason: ImmutableString::new(), missing: Array::new() }
    }
}

/// The parts of a finding a script decides; the engine adds rule metadata and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResult {
    pub status: Status,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    pub exclusion_reason: String,
    pub missing_data: Vec<String>,
}

/// Convert what `evaluate(enc)` returned. Errors are messages for QC staff.
pub fn script_result(value: Dynamic, tz: Tz, enc: &Encounter) -> Result<ScriptResult, String> {
    let type_name = value.type_name();
    let Some(o) = value.try_cast::<Outcome>() else {
        return Err(format!(
            "evaluate(enc) must return a finding built with met/not_met/excluded/not_applicable/pending/missing_data, not {}",
            friendly_type(type_name)
        ));
    };
    let mut evidence = Vec::with_capacity(o.evidence.len());
    for (i, item) in o.evidence.iter().enumerate() {
        match evidence_of(item, tz, enc) {
            Some(e) => evidence.push(e),
            None if item.is_unit() => {} // e.g. first([]) of an empty query: nothing to cite
            None => {
                return Err(format!(
                    "evidence[{i}] is a {}; evidence must be encounter items or field_evidence(\"...\")",
                    friendly_type(item.type_name())
                ))
            }
        }
    }
    let mut missing_data = Vec::with_capacity(o.missing.len());
    for (i, m) in o.missing.iter().enumerate() {
        match m.clone().into_immutable_string() {
            Ok(s) => missing_data.push(s.to_string()),
            Err(t) => return Err(format!("missing[{i}] must be a string, not {}", friendly_type(t))),
        }
    }
    if o.status == Status::Pending && o.deadline.is_none() {
        return Err("pending(...) needs a deadline time".into());
    }
    Ok(ScriptResult {
        status: o.status,
        message: o.message.to_string(),
        evidence,
        deadline: o.deadline.map(|t| t.0),
        exclusion_reason: o.reason.to_string(),
        missing_data,
    })
}

fn friendly_type(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

fn deadline_arg(d: Dynamic) -> Result<Time, Box<EvalAltResult>> {
    let tn = d.type_name();
    d.try_cast::<Time>().ok_or_else(|| {
        format!(
            "pending(message, deadline, evidence): deadline must be a Time, not {} (was a time missing?)",
            friendly_type(tn)
        )
        .into()
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Outcome>("Finding");

    engine.register_fn("met", |m: ImmutableString, ev: Array| Outcome::new(Status::Met, m, ev));
    engine.register_fn("met", |m: ImmutableString| Outcome::new(Status::Met, m, Array::new()));
    engine.register_fn("not_met", |m: ImmutableString, ev: Array| Outcome::new(Status::NotMet, m, ev));
    engine.register_fn("not_met", |m: ImmutableString| Outcome::new(Status::NotMet, m, Array::new()));
    let excluded = |r: ImmutableString, ev: Array| {
        let mut o = Outcome::new(Status::Excluded, r.clone(), ev);
        o.reason = r;
        o
    };
    engine.register_fn("excluded", excluded);
    engine.register_fn("excluded", move |r: ImmutableString| excluded(r, Array::new()));
    engine.register_fn("not_applicable", |r: ImmutableString| Outcome::new(Status::NotApplicable, r, Array::new()));
    engine.register_fn(
        "pending",
        |m: ImmutableString, deadline: Dynamic, ev: Array| -> Result<Outcome, Box<EvalAltResult>> {
            let mut o = Outcome::new(Status::Pending, m, ev);
            o.deadline = Some(deadline_arg(deadline)?);
            Ok(o)
        },
    );
    engine.register_fn("missing_data", |m: ImmutableString, missing: Array| {
        let mut o = Outcome::new(Status::Error, m, Array::new());
        o.missing = missing;
        o
    });

    engine.register_get("status", |o: &mut Outcome| ImmutableString::from(o.status.as_str()));
    engine.register_get("message", |o: &mut Outcome| o.message.clone());
    engine.register_set("message", |o: &mut Outcome, m: ImmutableString| o.message = m);
    engine.register_get("evidence", |o: &mut Outcome| o.evidence.clone());
    engine.register_set("evidence", |o: &mut Outcome, ev: Array| o.evidence = ev);
    engine.register_get("deadline", |o: &mut Outcome| o.deadline.map_or(Dynamic::UNIT, Dynamic::from));
    engine.register_get("reason", |o: &mut Outcome| o.reason.clone());
    engine.register_get("missing", |o: &mut Outcome| o.missing.clone());
    engine.register_set("missing", |o: &mut Outcome, m: Array| o.missing = m);
}
