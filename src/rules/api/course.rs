//! The encounter fields added for the specifications (issue 12) as scripts see them:
//! location stays, arrival mode, first admission, comfort-measures / clinical-trial
//! documentation, history, and the new item getters (statuses, comparators, coded
//! answers, dose rates, route codes, reason classes, guidewire crossing).
//! Documented in `rules/README.md` ("Encounter fields" and "Item properties").
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, FLOAT};

use super::encounter::EncounterView;
use super::items::{AdministrationRef, DiagnosisRef, ObservationRef, OrderRef, ProcedureRef};
use super::time::Time;
use crate::encounter::{CareKind, Code, Dose, Encounter, LocationStay};
use crate::rules::valueset::normalize_code;

/// A location stay (`enc.locations`).
#[derive(Debug, Clone)]
pub struct LocationRef {
    pub enc: Arc<Encounter>,
    pub i: usize,
}

impl LocationRef {
    fn get(&self) -> &LocationStay {
        &self.enc.locations[self.i]
    }
}

fn s(v: &str) -> ImmutableString {
    ImmutableString::from(v)
}
fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> Dynamic {
    t.map_or(Dynamic::UNIT, |t| Dynamic::from(Time(t)))
}
fn rate(d: &Option<Dose>) -> Dynamic {
    d.as_ref().map_or(Dynamic::UNIT, |d| Dynamic::from_float(d.value as FLOAT))
}
fn rate_unit(d: &Option<Dose>) -> ImmutableString {
    s(d.as_ref().map_or("", |d| d.unit.as_str()))
}
fn code_of(c: &Option<Code>) -> ImmutableString {
    s(c.as_ref().map_or("", |c| c.code.as_str()))
}

type Res<T> = Result<T, Box<EvalAltResult>>;

pub fn register(engine: &mut Engine) {
    engine
        .register_get("arrival_mode", |v: &mut EncounterView| s(v.encounter().arrival_mode.map_or("", |m| m.as_str())));
    engine.register_get("prehospital_ecg", |v: &mut EncounterView| opt_time(v.encounter().prehospital_ecg));
    engine.register_get("first_admission", |v: &mut EncounterView| {
        v.encounter().first_admission.map_or(Dynamic::UNIT, Dynamic::from_bool)
    });
    engine.register_get("comfort_measures_time", |v: &mut EncounterView| {
        let t = v.encounter().first_documented(CareKind::ComfortMeasuresOnly).map(|d| d.time);
        crate::rules::trail::exclusion_field("enc.comfort_measures_time", t.is_some(), t);
        opt_time(t)
    });
    engine.register_get("clinical_trial_time", |v: &mut EncounterView| {
        let t = v.encounter().first_documented(CareKind::ClinicalTrial).map(|d| d.time);
        crate::rules::trail::exclusion_field("enc.clinical_trial_time", t.is_some(), t);
        opt_time(t)
    });
    engine.register_get("first_icu", |v: &mut EncounterView| opt_time(v.encounter().first_intensive_care()));
    engine.register_get("locations", |v: &mut EncounterView| -> Array {
        let enc = v.encounter().clone();
        (0..enc.locations.len()).map(|i| Dynamic::from(LocationRef { enc: enc.clone(), i })).collect()
    });
    engine.register_get("prior_encounter_count", |v: &mut EncounterView| v.encounter().prior_encounters.len() as i64);
    engine.register_get("birth_date_precision", |v: &mut EncounterView| {
        s(v.encounter().patient.birth_date_precision.as_str())
    });
    // enc.has_prior_diagnosis("vte_diagnosis"): a diagnosis of an earlier encounter or a
    // history condition in the value set.
    engine.register_fn("has_prior_diagnosis", |v: &mut EncounterView, vs: ImmutableString| -> Res<bool> {
        let set = v.value_sets().get(&vs).ok_or_else(|| -> Box<EvalAltResult> {
            format!("unknown value set '{vs}' (files in rules/valuesets/)").into()
        })?;
        Ok(v.encounter().history_diagnoses().any(|d| {
            d.codings.iter().any(|c| {
                let sys = c.system.name();
                set.matches_normalized(sys, &normalize_code(sys, &c.code))
            })
        }))
    });
    // enc.answer_in(obs, "smoker_current"): a coded answer of `obs` is in the value set.
    engine.register_fn("answer_in", |v: &mut EncounterView, o: ObservationRef, vs: ImmutableString| -> Res<bool> {
        let set = v.value_sets().get(&vs).ok_or_else(|| -> Box<EvalAltResult> {
            format!("unknown value set '{vs}' (files in rules/valuesets/)").into()
        })?;
        Ok(o.get().answer_codes.iter().any(|c| {
            let sys = c.system.name();
            set.matches_normalized(sys, &normalize_code(sys, &c.code))
        }))
    });

    engine.register_type_with_name::<LocationRef>("Location");
    engine.register_get("id", |l: &mut LocationRef| s(&l.get().id));
    engine.register_get("kind", |l: &mut LocationRef| s(l.get().kind.as_str()));
    engine.register_get("intensive_care", |l: &mut LocationRef| l.get().kind.is_intensive_care());
    engine.register_get("unit_code", |l: &mut LocationRef| s(&l.get().unit_code));
    engine.register_get("start", |l: &mut LocationRef| Time(l.get().start));
    engine.register_get("end", |l: &mut LocationRef| opt_time(l.get().end));

    engine.register_get("verification", |d: &mut DiagnosisRef| s(d.get().verification.as_str()));
    engine.register_get("onset", |d: &mut DiagnosisRef| opt_time(d.get().onset));

    engine.register_get("comparator", |o: &mut ObservationRef| s(o.get().comparator.map_or("", |c| c.as_str())));
    engine.register_get("bound", |o: &mut ObservationRef| {
        o.get().bound().map_or(Dynamic::UNIT, |(_, v)| Dynamic::from_float(v as FLOAT))
    });
    engine.register_get("status", |o: &mut ObservationRef| s(o.get().status.as_str()));
    engine
        .register_get("answer_code", |o: &mut ObservationRef| s(o.get().answer_codes.first().map_or("", |c| &c.code)));

    engine.register_get("dose_rate", |o: &mut OrderRef| rate(&o.get().dose_rate));
    engine.register_get("dose_rate_unit", |o: &mut OrderRef| rate_unit(&o.get().dose_rate));
    engine.register_get("route_code", |o: &mut OrderRef| code_of(&o.get().route_code));

    engine.register_get("dose_rate", |a: &mut AdministrationRef| rate(&a.get().dose_rate));
    engine.register_get("dose_rate_unit", |a: &mut AdministrationRef| rate_unit(&a.get().dose_rate));
    engine.register_get("route_code", |a: &mut AdministrationRef| code_of(&a.get().route_code));
    engine.register_get("reason_class", |a: &mut AdministrationRef| s(a.get().reason_class.map_or("", |r| r.as_str())));
    engine.register_get("reason_documented_by", |a: &mut AdministrationRef| {
        s(a.get().reason_documented_by.map_or("", |r| r.as_str()))
    });

    engine.register_get("guidewire_crossing", |p: &mut ProcedureRef| opt_time(p.get().guidewire_crossing));
}
