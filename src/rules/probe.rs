//! Load-time probe: every rule runs once on a synthetic, nearly empty encounter and on
//! each of its test-case encounters that can be built here. A script fault found this
//! way (endless loop, runaway recursion, huge string/array, type error, unknown value
//! set, bad return value) is a load error at the script's `path:line:col`, so a reload
//! containing it is rejected as a whole. Findings that merely differ from a case's
//! expectation are not load errors: that is what `cdssd rules test` reports. A rule that
//! finds an encounter applicable although its pack's `[applies_to]` excludes it is a load
//! error at that section (see [`super::applies`]).
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::api::encounter::EncounterView;
use super::applies::contradiction;
use super::error::LoadError;
use super::load::RuleSet;
use super::runner::case_encounter;
use crate::encounter::{DatePrecision, Encounter, EncounterClass, Limits, Patient, Sex};

/// Wall-clock budget of one rule call off the request path (load-time probe and
/// `rules test`): generous, so a busy machine cannot fail a good rule; the operation
/// limit still stops endless loops.
pub(crate) const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// An encounter with only the required fields: an adult inpatient who arrived two hours
/// before `now` and has nothing recorded yet.
pub fn synthetic_encounter(now: DateTime<Utc>) -> Encounter {
    Encounter {
        id: "probe".into(),
        patient: Patient {
            id: "probe".into(),
            birth_date: None,
            birth_date_precision: DatePrecision::Day,
            age_years: 60.0,
            sex: Sex::Unknown,
            race: None,
        },
        class: EncounterClass::Inpatient,
        department: String::new(),
        arrival: now - Duration::hours(2),
        admission: None,
        discharge: None,
        disposition: None,
        transferred_in: false,
        onset: None,
        last_known_well: None,
        diagnoses: Vec::new(),
        vitals: Vec::new(),
        labs: Vec::new(),
        assessments: Vec::new(),
        medication_orders: Vec::new(),
        administrations: Vec::new(),
        procedures: Vec::new(),
        allergies: Vec::new(),
        notes: Vec::new(),
        locations: Vec::new(),
        arrival_mode: None,
        prehospital_ecg: None,
        first_admission: None,
        care_documentation: Vec::new(),
        prior_encounters: Vec::new(),
        prior_conditions: Vec::new(),
        implausible: Vec::new(),
    }
}

/// Every script fault found; empty when all rules ran cleanly.
pub fn probe(set: &RuleSet, limits: &Limits) -> Vec<LoadError> {
    let mut errors = Vec::new();
    let now = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    let synthetic = EncounterView::dynamic(Arc::new(synthetic_encounter(now)), set.value_sets.clone());
    for rule in set.rules() {
        let f = set.evaluate_rule_within(rule, &synthetic, now, PROBE_BUDGET);
        errors.extend(contradiction(set, rule, &synthetic, &f, "the load-time probe's encounter with no data"));
        if let Some(fault) = f.fault {
            errors.push(with_context(fault, "on an encounter with no data"));
        }
    }
    let mut cache = HashMap::new();
    for file in &set.tests {
        let Some(rule) = set.rule(&file.rule_id) else { continue };
        for case in &file.cases {
            // Cases whose encounter cannot be built here (base file not deployed, or an
            // invalid edit) are reported by `cdssd rules test`, not at load.
            let Ok(enc) = case_encounter(&set.root, case, limits, &mut cache) else { continue };
            let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
            let context = format!("test case '{}' ({}:{})", case.name, file.path, case.line);
            let f = set.evaluate_rule_within(rule, &view, case.now, PROBE_BUDGET);
            errors.extend(contradiction(set, rule, &view, &f, &context));
            if let Some(fault) = f.fault {
                errors.push(with_context(fault, &format!("in {context}")));
            }
        }
    }
    errors
}

fn with_context(mut e: LoadError, context: &str) -> LoadError {
    e.message = format!("{} — {context}", e.message);
    e
}
