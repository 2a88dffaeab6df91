//! Conversion of a `cdss.v1.Encounter` into the validated [`Encounter`],
//! collecting every field violation (never stopping at the first).
//!
//! Field paths (`encounter.labs[3].quantity.unit`) are [`Path`]s: chains of
//! borrowed segments on the stack, formatted into a `String` only when a
//! violation is recorded, so a valid encounter formats no path at all.
//! `fields` checks single fields, `lists` the repeated ones (one generic
//! walk for all of them), `observation` values and their units.

mod course;
mod fields;
mod lists;
mod observation;
mod path;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{course::*, model::*, FieldViolation, Limits, ValidationError};
use crate::proto::v1 as pb;
use path::Path;

/// Validate and convert. `now` is the evaluation time: times after
/// `now + limits.future_tolerance` are rejected.
pub fn from_proto(enc: &pb::Encounter, limits: &Limits, now: Time) -> Result<Encounter, ValidationError> {
    // Saturating: an evaluation time at the end of chrono's range has no future.
    let latest = now.checked_add_signed(limits.future_tolerance).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut v = Validator { limits, now, latest, arrival: None, errors: Vec::new(), implausible: Vec::new() };
    let out = v.encounter(enc);
    if v.errors.is_empty() {
        Ok(out.expect("no errors implies a value"))
    } else {
        Err(ValidationError { violations: v.errors })
    }
}

struct Validator<'a> {
    limits: &'a Limits,
    now: Time,
    /// `now + limits.future_tolerance`: a later time is in the future.
    latest: Time,
    /// The encounter's arrival, once read (earlier encounters must precede it).
    arrival: Option<Time>,
    errors: Vec<FieldViolation>,
    /// Observations left out as physiologically impossible (not violations).
    implausible: Vec<Implausible>,
}

impl Validator<'_> {
    /// Record a violation: the one place where a path becomes a `String`.
    fn err(&mut self, path: Path<'_>, description: impl Into<String>) {
        self.errors.push(FieldViolation { field: path.to_string(), description: description.into() });
    }

    fn encounter(&mut self, e: &pb::Encounter) -> Option<Encounter> {
        let root = Path::root();
        let id = self.id(root.field("id"), &e.id);
        let class = match pb::EncounterClass::try_from(e.encounter_class) {
            Ok(pb::EncounterClass::Inpatient) => Some(EncounterClass::Inpatient),
            Ok(pb::EncounterClass::Emergency) => Some(EncounterClass::Emergency),
            Ok(pb::EncounterClass::Outpatient) => Some(EncounterClass::Outpatient),
            Ok(pb::EncounterClass::Observation) => Some(EncounterClass::Observation),
            _ => {
                self.err(
                    root.field("encounter_class"),
                    "is required (inpatient, emergency, outpatient or observation)",
                );
                None
            }
        };
        let department = self.text(root.field("department"), &e.department);
        let arrival = self.required_time(root.field("arrival_time"), e.arrival_time.as_ref());
        self.arrival = arrival;
        let admission = self.time(root.field("admission_time"), e.admission_time.as_ref());
        let discharge = self.time(root.field("discharge_time"), e.discharge_time.as_ref());
        let onset = self.time(root.field("symptom_onset_time"), e.symptom_onset_time.as_ref());
        let lkw = self.time(root.field("last_known_well_time"), e.last_known_well_time.as_ref());
        if let (Some(a), Some(adm)) = (arrival, admission) {
            if adm < a {
                self.err(root.field("admission_time"), "is before encounter.arrival_time");
            }
        }
        if let (Some(a), Some(d)) = (arrival, discharge) {
            if d < a {
                self.err(root.field("discharge_time"), "is before encounter.arrival_time");
            }
        }
        if let (Some(adm), Some(d)) = (admission, discharge) {
            if d < adm {
                self.err(root.field("discharge_time"), "is before encounter.admission_time");
            }
        }
        let disposition = match pb::DischargeDisposition::try_from(e.discharge_disposition) {
            Ok(pb::DischargeDisposition::Unspecified) => None,
            Ok(pb::DischargeDisposition::Home) => Some(Disposition::Home),
            Ok(pb::DischargeDisposition::HomeWithServices) => Some(Disposition::HomeWithServices),
            Ok(pb::DischargeDisposition::TransferAcuteCare) => Some(Disposition::TransferAcuteCare),
            Ok(pb::DischargeDisposition::SkilledNursing) => Some(Disposition::SkilledNursing),
            Ok(pb::DischargeDisposition::Hospice) => Some(Disposition::Hospice),
            Ok(pb::DischargeDisposition::LeftAgainstAdvice) => Some(Disposition::LeftAgainstAdvice),
            Ok(pb::DischargeDisposition::Expired) => Some(Disposition::Expired),
            Ok(pb::DischargeDisposition::Other) => Some(Disposition::Other),
            Err(_) => {
                self.err(root.field("discharge_disposition"), format!("unknown value {}", e.discharge_disposition));
                None
            }
        };
        let patient = self.patient(root.field("patient"), e.patient.as_ref(), arrival);

        let diagnoses = self.diagnoses(root.field("diagnoses"), &e.diagnoses);
        let vitals = self.list(root.field("vitals"), &e.vitals);
        let labs = self.list(root.field("labs"), &e.labs);
        let assessments = self.list(root.field("assessments"), &e.assessments);
        let medication_orders = self.list(root.field("medication_orders"), &e.medication_orders);
        let administrations = self.list(root.field("medication_administrations"), &e.medication_administrations);
        let procedures = self.list(root.field("procedures"), &e.procedures);
        let allergies = self.list(root.field("allergies"), &e.allergies);
        let notes = self.list(root.field("notes"), &e.notes);
        let locations = self.list(root.field("locations"), &e.locations);
        let care_documentation = self.list(root.field("care_documentation"), &e.care_documentation);
        let prior_encounters = self.list(root.field("prior_encounters"), &e.prior_encounters);
        let prior_conditions = self.list(root.field("prior_conditions"), &e.prior_conditions);
        let prehospital_ecg = self.time(root.field("prehospital_ecg_time"), e.prehospital_ecg_time.as_ref());
        let arrival_mode = match pb::ArrivalMode::try_from(e.arrival_mode) {
            Ok(pb::ArrivalMode::Unspecified) => None,
            Ok(pb::ArrivalMode::Ems) => Some(ArrivalMode::Ems),
            Ok(pb::ArrivalMode::WalkIn) => Some(ArrivalMode::WalkIn),
            Ok(pb::ArrivalMode::Transfer) => Some(ArrivalMode::Transfer),
            Ok(pb::ArrivalMode::Other) => Some(ArrivalMode::Other),
            Err(_) => {
                self.err(root.field("arrival_mode"), format!("unknown value {}", e.arrival_mode));
                None
            }
        };

        Some(Encounter {
            id,
            patient: patient?,
            class: class?,
            department,
            arrival: arrival?,
            admission,
            discharge,
            disposition,
            transferred_in: e.transferred_in,
            onset,
            last_known_well: lkw,
            diagnoses,
            vitals,
            labs,
            assessments,
            medication_orders,
            administrations,
            procedures,
            allergies,
            notes,
            locations,
            arrival_mode,
            prehospital_ecg,
            first_admission: e.first_admission,
            care_documentation,
            prior_encounters,
            prior_conditions,
            implausible: std::mem::take(&mut self.implausible),
        })
    }

    fn patient(&mut self, path: Path<'_>, p: Option<&pb::Patient>, arrival: Option<Time>) -> Option<Patient> {
        let Some(p) = p else {
            self.err(path, "is required");
            return None;
        };
        let id = self.id(path.field("id"), &p.id);
        let (birth_date, birth_date_precision) = if p.birth_date.is_empty() {
            (None, DatePrecision::Day)
        } else {
            match partial_date(p.birth_date.trim(), arrival.map(|a| a.date_naive())) {
                Some((d, precision)) => (Some(d), precision),
                None => {
                    self.err(
                        path.field("birth_date"),
                        format!("`{}` is not a date like 1961-07-14, 1961-07 or 1961", p.birth_date),
                    );
                    return None;
                }
            }
        };
        let age_years = match (birth_date, p.age_years, arrival) {
            (Some(b), _, Some(a)) => {
                let days = (a.date_naive() - b).num_days();
                if days < 0 {
                    self.err(path.field("birth_date"), "is after encounter.arrival_time");
                    return None;
                }
                let mut years = a.year() - b.year();
                if (a.month(), a.day()) < (b.month(), b.day()) {
                    years -= 1;
                }
                Some(f64::from(years))
            }
            (Some(_), _, None) => None,
            (None, Some(age), _) => Some(f64::from(age)),
            (None, None, _) => {
                self.err(path.field("birth_date"), "one of birth_date or age_years is required");
                None
            }
        };
        if let Some(age) = age_years {
            if age > 130.0 {
                self.err(path.field("age_years"), format!("{age} years is not plausible"));
            }
        }
        let sex = match pb::Sex::try_from(p.sex) {
            Ok(pb::Sex::Male) => Sex::Male,
            Ok(pb::Sex::Female) => Sex::Female,
            Ok(pb::Sex::Other) => Sex::Other,
            Ok(pb::Sex::Unknown | pb::Sex::Unspecified) => Sex::Unknown,
            Err(_) => {
                self.err(path.field("sex"), format!("unknown value {}", p.sex));
                Sex::Unknown
            }
        };
        let race = self.coding(path.field("race"), p.race.as_ref(), false);
        Some(Patient { id, birth_date, birth_date_precision, age_years: age_years?, sex, race })
    }
}

/// A full or partial (FHIR) date: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`. A partial date
/// stands for the latest day it allows, though not after `not_after` when it also
/// allows an earlier day (a birth year equal to the arrival year).
fn partial_date(s: &str, not_after: Option<NaiveDate>) -> Option<(NaiveDate, DatePrecision)> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some((d, DatePrecision::Day));
    }
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    let (first, last, precision) = match s.split_once('-') {
        Some((y, m)) if digits(y, 4) && digits(m, 2) => {
            let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
            let first = NaiveDate::from_ymd_opt(y, m, 1)?;
            let next =
                if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1)? } else { NaiveDate::from_ymd_opt(y, m + 1, 1)? };
            (first, next.pred_opt()?, DatePrecision::Month)
        }
        None if digits(s, 4) => {
            let y: i32 = s.parse().ok()?;
            (NaiveDate::from_ymd_opt(y, 1, 1)?, NaiveDate::from_ymd_opt(y, 12, 31)?, DatePrecision::Year)
        }
        _ => return None,
    };
    let day = match not_after {
        Some(limit) if first <= limit && limit < last => limit,
        _ => last,
    };
    Some((day, precision))
}

/// The current time, for callers that have no evaluation time.
pub fn now() -> Time {
    Utc::now()
}
