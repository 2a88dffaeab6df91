//! Conversion of a `cdss.v1.Encounter` into the validated [`Encounter`],
//! collecting every field violation (never stopping at the first).

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{codes, model::*, units, FieldViolation, Limits, ValidationError};
use crate::proto::v1 as pb;

/// Validate and convert. `now` is the evaluation time: times after
/// `now + limits.future_tolerance` are rejected.
pub fn from_proto(enc: &pb::Encounter, limits: &Limits, now: Time) -> Result<Encounter, ValidationError> {
    let mut v = Validator { limits, now, errors: Vec::new() };
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
    errors: Vec<FieldViolation>,
}

impl Validator<'_> {
    fn err(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.errors.push(FieldViolation { field: field.into(), description: description.into() });
    }

    fn text(&mut self, path: &str, s: &str) -> String {
        if s.len() > self.limits.max_text_bytes {
            self.err(path, format!("is {} bytes, longer than the limit of {}", s.len(), self.limits.max_text_bytes));
        }
        s.trim().to_string()
    }

    fn id(&mut self, path: &str, s: &str) -> String {
        let s = self.text(path, s);
        if s.is_empty() {
            self.err(path, "is required");
        }
        s
    }

    fn time(&mut self, path: &str, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        let t = self.any_time(path, ts)?;
        if t > self.now + self.limits.future_tolerance {
            self.err(path, format!("is in the future (after the evaluation time {})", self.now.to_rfc3339()));
        }
        Some(t)
    }

    /// A time that may lie in the future (a scheduled stop).
    fn any_time(&mut self, path: &str, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        let ts = ts?;
        let Some(t) = (0..1_000_000_000)
            .contains(&ts.nanos)
            .then(|| DateTime::from_timestamp(ts.seconds, ts.nanos as u32))
            .flatten()
        else {
            self.err(path, "is not a valid timestamp");
            return None;
        };
        if t.year() < 1900 {
            self.err(path, "is before 1900");
            return None;
        }
        Some(t)
    }

    fn required_time(&mut self, path: &str, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        if ts.is_none() {
            self.err(path, "is required");
        }
        self.time(path, ts)
    }

    fn coding(&mut self, path: &str, c: Option<&pb::Coding>, required: bool) -> Option<Code> {
        let Some(c) = c else {
            if required {
                self.err(path, "is required");
            }
            return None;
        };
        let system_raw = self.text(&format!("{path}.system"), &c.system);
        let code_raw = self.text(&format!("{path}.code"), &c.code);
        let display = self.text(&format!("{path}.display"), &c.display);
        if system_raw.is_empty() {
            self.err(format!("{path}.system"), "is required");
            return None;
        }
        let Some(system) = codes::parse_system(&system_raw, &self.limits.local_code_systems) else {
            self.err(
                format!("{path}.system"),
                format!("unknown code system `{system_raw}` (declare local systems in encounter.local_code_systems)"),
            );
            return None;
        };
        if code_raw.is_empty() {
            self.err(format!("{path}.code"), "is required");
            return None;
        }
        let code = codes::normalise_code(&system, &code_raw);
        if let Err(why) = codes::check_format(&system, &code) {
            self.err(format!("{path}.code"), format!("`{code}` {why}"));
            return None;
        }
        Some(Code { system, code, display })
    }

    fn list_len<T>(&mut self, path: &str, items: &[T]) {
        if items.len() > self.limits.max_items_per_list {
            self.err(
                path,
                format!("has {} items, more than the limit of {}", items.len(), self.limits.max_items_per_list),
            );
        }
    }

    fn unique_ids<'s>(&mut self, path: &str, ids: impl Iterator<Item = &'s str>) {
        let mut seen = std::collections::HashMap::new();
        for (i, id) in ids.enumerate() {
            if id.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(id, i) {
                self.err(format!("{path}[{i}].id"), format!("duplicate id `{id}` (also {path}[{first}])"));
            }
        }
    }

    fn encounter(&mut self, e: &pb::Encounter) -> Option<Encounter> {
        let id = self.id("encounter.id", &e.id);
        let class = match pb::EncounterClass::try_from(e.encounter_class) {
            Ok(pb::EncounterClass::Inpatient) => Some(EncounterClass::Inpatient),
            Ok(pb::EncounterClass::Emergency) => Some(EncounterClass::Emergency),
            Ok(pb::EncounterClass::Outpatient) => Some(EncounterClass::Outpatient),
            Ok(pb::EncounterClass::Observation) => Some(EncounterClass::Observation),
            _ => {
                self.err("encounter.encounter_class", "is required (inpatient, emergency, outpatient or observation)");
                None
            }
        };
        let department = self.text("encounter.department", &e.department);
        let arrival = self.required_time("encounter.arrival_time", e.arrival_time.as_ref());
        let admission = self.time("encounter.admission_time", e.admission_time.as_ref());
        let discharge = self.time("encounter.discharge_time", e.discharge_time.as_ref());
        let onset = self.time("encounter.symptom_onset_time", e.symptom_onset_time.as_ref());
        let lkw = self.time("encounter.last_known_well_time", e.last_known_well_time.as_ref());
        if let (Some(a), Some(adm)) = (arrival, admission) {
            if adm < a {
                self.err("encounter.admission_time", "is before encounter.arrival_time");
            }
        }
        if let (Some(a), Some(d)) = (arrival, discharge) {
            if d < a {
                self.err("encounter.discharge_time", "is before encounter.arrival_time");
            }
        }
        if let (Some(adm), Some(d)) = (admission, discharge) {
            if d < adm {
                self.err("encounter.discharge_time", "is before encounter.admission_time");
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
                self.err("encounter.discharge_disposition", format!("unknown value {}", e.discharge_disposition));
                None
            }
        };
        let patient = self.patient(e.patient.as_ref(), arrival);

        let diagnoses = self.diagnoses(&e.diagnoses);
        let vitals = self.observations("encounter.vitals", &e.vitals);
        let labs = self.observations("encounter.labs", &e.labs);
        let assessments = self.observations("encounter.assessments", &e.assessments);
        let medication_orders = self.orders(&e.medication_orders);
        let administrations = self.administrations(&e.medication_administrations);
        let procedures = self.procedures(&e.procedures);
        let allergies = self.allergies(&e.allergies);
        let notes = self.notes(&e.notes);

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
        })
    }

    fn patient(&mut self, p: Option<&pb::Patient>, arrival: Option<Time>) -> Option<Patient> {
        let Some(p) = p else {
            self.err("encounter.patient", "is required");
            return None;
        };
        let id = self.id("encounter.patient.id", &p.id);
        let birth_date = if p.birth_date.is_empty() {
            None
        } else {
            match NaiveDate::parse_from_str(&p.birth_date, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    self.err(
                        "encounter.patient.birth_date",
                        format!("`{}` is not a date like 1961-07-14", p.birth_date),
                    );
                    return None;
                }
            }
        };
        let age_years = match (birth_date, p.age_years, arrival) {
            (Some(b), _, Some(a)) => {
                let days = (a.date_naive() - b).num_days();
                if days < 0 {
                    self.err("encounter.patient.birth_date", "is after encounter.arrival_time");
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
                self.err("encounter.patient.birth_date", "one of birth_date or age_years is required");
                None
            }
        };
        if let Some(age) = age_years {
            if age > 130.0 {
                self.err("encounter.patient.age_years", format!("{age} years is not plausible"));
            }
        }
        let sex = match pb::Sex::try_from(p.sex) {
            Ok(pb::Sex::Male) => Sex::Male,
            Ok(pb::Sex::Female) => Sex::Female,
            Ok(pb::Sex::Other) => Sex::Other,
            Ok(pb::Sex::Unknown | pb::Sex::Unspecified) => Sex::Unknown,
            Err(_) => {
                self.err("encounter.patient.sex", format!("unknown value {}", p.sex));
                Sex::Unknown
            }
        };
        let race = self.coding("encounter.patient.race", p.race.as_ref(), false);
        Some(Patient { id, birth_date, age_years: age_years?, sex, race })
    }

    fn diagnoses(&mut self, items: &[pb::Diagnosis]) -> Vec<Diagnosis> {
        const P: &str = "encounter.diagnoses";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|d| d.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, d) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &d.id);
            let code = self.coding(&format!("{path}.code"), d.code.as_ref(), true);
            let time = self.time(&format!("{path}.recorded_time"), d.recorded_time.as_ref());
            let rank = match pb::DiagnosisRank::try_from(d.rank) {
                Ok(pb::DiagnosisRank::Principal) => DiagnosisRank::Principal,
                Ok(pb::DiagnosisRank::Secondary) => DiagnosisRank::Secondary,
                Ok(pb::DiagnosisRank::Admitting) => DiagnosisRank::Admitting,
                _ => DiagnosisRank::Unspecified,
            };
            let poa = match pb::PresentOnAdmission::try_from(d.present_on_admission) {
                Ok(pb::PresentOnAdmission::Yes) => PresentOnAdmission::Yes,
                Ok(pb::PresentOnAdmission::No) => PresentOnAdmission::No,
                Ok(pb::PresentOnAdmission::Unknown) => PresentOnAdmission::Unknown,
                Ok(pb::PresentOnAdmission::ClinicallyUndetermined) => PresentOnAdmission::ClinicallyUndetermined,
                _ => PresentOnAdmission::Unspecified,
            };
            if let Some(code) = code {
                out.push(Diagnosis { id, code, rank, poa, time });
            }
        }
        let principal = out.iter().filter(|d| d.rank == DiagnosisRank::Principal).count();
        if principal > 1 {
            self.err(P, format!("has {principal} principal diagnoses; at most one is allowed"));
        }
        out.sort_by_key(|d| d.time);
        out
    }

    fn observations(&mut self, list: &str, items: &[pb::Observation]) -> Vec<Observation> {
        self.list_len(list, items);
        self.unique_ids(list, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, o) in items.iter().enumerate() {
            let path = format!("{list}[{i}]");
            let id = self.id(&format!("{path}.id"), &o.id);
            let code = self.coding(&format!("{path}.code"), o.code.as_ref(), true);
            let time = self.required_time(&format!("{path}.effective_time"), o.effective_time.as_ref());
            let issued = self.time(&format!("{path}.issued_time"), o.issued_time.as_ref());
            let value = self.obs_value(&path, code.as_ref(), o);
            let reference_range =
                o.reference_range.as_ref().and_then(|r| self.reference_range(&path, code.as_ref(), o, r));
            if let (Some(code), Some(time), Some(value)) = (code, time, value) {
                out.push(Observation { id, code, value, time, issued, reference_range });
            }
        }
        out.sort_by_key(|o| o.time);
        out
    }

    fn obs_value(&mut self, path: &str, code: Option<&Code>, o: &pb::Observation) -> Option<ObsValue> {
        match &o.value {
            None => {
                self.err(format!("{path}.value"), "is required (quantity or text)");
                None
            }
            Some(pb::observation::Value::Text(t)) => {
                let known = code.filter(|c| c.system == CodeSystem::Loinc).and_then(|c| units::known(&c.code));
                if let Some(k) = known {
                    self.err(
                        format!("{path}.text"),
                        format!("{} requires a numeric quantity in {}, not text", k.name, k.canonical),
                    );
                    return None;
                }
                Some(ObsValue::Text(self.text(&format!("{path}.text"), t)))
            }
            Some(pb::observation::Value::Quantity(q)) => {
                let qpath = format!("{path}.quantity");
                if !q.value.is_finite() {
                    self.err(format!("{qpath}.value"), "must be a finite number");
                    return None;
                }
                let unit = self.text(&format!("{qpath}.unit"), &q.unit);
                let known = code.filter(|c| c.system == CodeSystem::Loinc).and_then(|c| units::known(&c.code));
                match known {
                    Some(k) => match units::to_canonical(k, q.value, &unit) {
                        Some(v) => Some(ObsValue::Quantity { value: v, unit: k.canonical.to_string() }),
                        None => {
                            let accepted: Vec<&str> = k.accepts.iter().map(|a| a.0).collect();
                            self.err(
                                format!("{qpath}.unit"),
                                format!(
                                    "unit `{unit}` is not known for {} (accepted: {})",
                                    k.name,
                                    accepted.join(", ")
                                ),
                            );
                            None
                        }
                    },
                    None => Some(ObsValue::Quantity { value: q.value, unit }),
                }
            }
        }
    }

    /// A reference range in the same canonical unit as its (known-quantity) value.
    fn reference_range(
        &mut self,
        path: &str,
        code: Option<&Code>,
        o: &pb::Observation,
        r: &pb::ReferenceRange,
    ) -> Option<ReferenceRange> {
        let known = code.filter(|c| c.system == CodeSystem::Loinc).and_then(|c| units::known(&c.code));
        let (Some(k), Some(pb::observation::Value::Quantity(q))) = (known, &o.value) else {
            return Some(ReferenceRange { low: r.low, high: r.high });
        };
        // An empty unit means the unit of the value.
        let unit = if r.unit.trim().is_empty() { q.unit.trim() } else { r.unit.trim() };
        let convert = |v: Option<f64>| v.map(|v| units::to_canonical(k, v, unit));
        match (convert(r.low), convert(r.high)) {
            (Some(None), _) | (_, Some(None)) => {
                self.err(format!("{path}.reference_range.unit"), format!("unit `{unit}` is not known for {}", k.name));
                None
            }
            (low, high) => Some(ReferenceRange { low: low.flatten(), high: high.flatten() }),
        }
    }

    fn dose(&mut self, path: &str, q: Option<&pb::Quantity>) -> Option<Dose> {
        let q = q?;
        if !q.value.is_finite() || q.value < 0.0 {
            self.err(format!("{path}.value"), "must be a finite, non-negative number");
            return None;
        }
        Some(Dose { value: q.value, unit: self.text(&format!("{path}.unit"), &q.unit) })
    }

    fn codings(&mut self, path: &str, cs: &[pb::Coding]) -> Vec<Code> {
        if cs.is_empty() {
            self.err(path, "at least one coding is required");
        }
        cs.iter().enumerate().filter_map(|(j, c)| self.coding(&format!("{path}[{j}]"), Some(c), true)).collect()
    }

    fn orders(&mut self, items: &[pb::MedicationOrder]) -> Vec<MedicationOrder> {
        const P: &str = "encounter.medication_orders";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, o) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &o.id);
            let codes = self.codings(&format!("{path}.codes"), &o.codes);
            let name = self.text(&format!("{path}.name"), &o.name);
            let dose = self.dose(&format!("{path}.dose"), o.dose.as_ref());
            let route = self.text(&format!("{path}.route"), &o.route);
            let frequency = self.text(&format!("{path}.frequency"), &o.frequency);
            let time = self.required_time(&format!("{path}.order_time"), o.order_time.as_ref());
            // An order may be due to stop in the future.
            let end = self.any_time(&format!("{path}.end_time"), o.end_time.as_ref());
            let status = match pb::OrderStatus::try_from(o.status) {
                Ok(pb::OrderStatus::Active) => OrderStatus::Active,
                Ok(pb::OrderStatus::Completed) => OrderStatus::Completed,
                Ok(pb::OrderStatus::Discontinued) => OrderStatus::Discontinued,
                Ok(pb::OrderStatus::Cancelled) => OrderStatus::Cancelled,
                Ok(pb::OrderStatus::Draft) => OrderStatus::Draft,
                _ => OrderStatus::Unspecified,
            };
            if let (Some(t), Some(e)) = (time, end) {
                if e < t {
                    self.err(format!("{path}.end_time"), "is before order_time");
                }
            }
            if let (false, Some(time)) = (codes.is_empty(), time) {
                out.push(MedicationOrder {
                    id,
                    codes,
                    name,
                    dose,
                    route,
                    frequency,
                    time,
                    end,
                    status,
                    discharge: o.discharge_medication,
                });
            }
        }
        out.sort_by_key(|o| o.time);
        out
    }

    fn administrations(&mut self, items: &[pb::MedicationAdministration]) -> Vec<MedicationAdministration> {
        const P: &str = "encounter.medication_administrations";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, a) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &a.id);
            let order_id = self.text(&format!("{path}.order_id"), &a.order_id);
            let codes = self.codings(&format!("{path}.codes"), &a.codes);
            let name = self.text(&format!("{path}.name"), &a.name);
            let dose = self.dose(&format!("{path}.dose"), a.dose.as_ref());
            let route = self.text(&format!("{path}.route"), &a.route);
            let time = self.required_time(&format!("{path}.start_time"), a.start_time.as_ref());
            let end = self.time(&format!("{path}.end_time"), a.end_time.as_ref());
            let status = match pb::AdministrationStatus::try_from(a.status) {
                Ok(pb::AdministrationStatus::Completed) => AdministrationStatus::Completed,
                Ok(pb::AdministrationStatus::InProgress) => AdministrationStatus::InProgress,
                Ok(pb::AdministrationStatus::Stopped) => AdministrationStatus::Stopped,
                Ok(pb::AdministrationStatus::NotGiven) => AdministrationStatus::NotGiven,
                _ => AdministrationStatus::Unspecified,
            };
            let reason_not_given = self.coding(&format!("{path}.reason_not_given"), a.reason_not_given.as_ref(), false);
            if status == AdministrationStatus::NotGiven && reason_not_given.is_none() && a.reason_not_given.is_none() {
                self.err(
                    format!("{path}.reason_not_given"),
                    "is required when status is ADMINISTRATION_STATUS_NOT_GIVEN",
                );
            }
            if let (Some(t), Some(e)) = (time, end) {
                if e < t {
                    self.err(format!("{path}.end_time"), "is before start_time");
                }
            }
            if let (false, Some(time)) = (codes.is_empty(), time) {
                out.push(MedicationAdministration {
                    id,
                    order_id,
                    codes,
                    name,
                    dose,
                    route,
                    time,
                    end,
                    status,
                    reason_not_given,
                });
            }
        }
        out.sort_by_key(|a| a.time);
        out
    }

    fn procedures(&mut self, items: &[pb::Procedure]) -> Vec<Procedure> {
        const P: &str = "encounter.procedures";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, p) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &p.id);
            let code = self.coding(&format!("{path}.code"), p.code.as_ref(), true);
            let time = self.required_time(&format!("{path}.start_time"), p.start_time.as_ref());
            let end = self.time(&format!("{path}.end_time"), p.end_time.as_ref());
            if let (Some(t), Some(e)) = (time, end) {
                if e < t {
                    self.err(format!("{path}.end_time"), "is before start_time");
                }
            }
            if let (Some(code), Some(time)) = (code, time) {
                out.push(Procedure { id, code, time, end });
            }
        }
        out.sort_by_key(|p| p.time);
        out
    }

    fn allergies(&mut self, items: &[pb::Allergy]) -> Vec<Allergy> {
        const P: &str = "encounter.allergies";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, a) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &a.id);
            let substance = self.coding(&format!("{path}.substance"), a.substance.as_ref(), true);
            let reaction = self.coding(&format!("{path}.reaction"), a.reaction.as_ref(), false);
            let time = self.time(&format!("{path}.recorded_time"), a.recorded_time.as_ref());
            let kind = match pb::AllergyType::try_from(a.r#type) {
                Ok(pb::AllergyType::Allergy) => AllergyType::Allergy,
                Ok(pb::AllergyType::Intolerance) => AllergyType::Intolerance,
                Ok(pb::AllergyType::Contraindication) => AllergyType::Contraindication,
                _ => AllergyType::Unspecified,
            };
            if let Some(substance) = substance {
                out.push(Allergy { id, substance, kind, reaction, time });
            }
        }
        out.sort_by_key(|a| a.time);
        out
    }

    fn notes(&mut self, items: &[pb::Note]) -> Vec<Note> {
        const P: &str = "encounter.notes";
        self.list_len(P, items);
        self.unique_ids(P, items.iter().map(|o| o.id.as_str()));
        let mut out = Vec::with_capacity(items.len());
        for (i, n) in items.iter().enumerate() {
            let path = format!("{P}[{i}]");
            let id = self.id(&format!("{path}.id"), &n.id);
            let kind = self.coding(&format!("{path}.type"), n.r#type.as_ref(), false);
            if n.text.len() > self.limits.max_note_bytes {
                self.err(
                    format!("{path}.text"),
                    format!("is {} bytes, longer than the limit of {}", n.text.len(), self.limits.max_note_bytes),
                );
            }
            let time = self.required_time(&format!("{path}.authored_time"), n.authored_time.as_ref());
            if let Some(time) = time {
                out.push(Note { id, kind, text: n.text.clone(), time });
            }
        }
        out.sort_by_key(|n| n.time);
        out
    }
}

/// The current time, for callers that have no evaluation time.
pub fn now() -> Time {
    Utc::now()
}
