//! Every validation message with its exact field path, in the order reported
//! (a golden list: paths and texts are part of the gRPC contract).

use chrono::DateTime;
use pbjson_types::Timestamp;

use super::{from_proto, Limits, Time};
use crate::proto::v1 as pb;

pub(super) const NOW: i64 = 1_780_000_000;
pub(super) const ARRIVAL: i64 = NOW - 86_400;

pub(super) fn now() -> Time {
    DateTime::from_timestamp(NOW, 0).unwrap()
}

pub(super) fn limits() -> Limits {
    Limits {
        max_items_per_list: 4,
        max_text_bytes: 16,
        max_note_bytes: 8,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: vec!["HOSP-DX".into()],
    }
}

pub(super) fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn coding(system: &str, code: &str) -> Option<pb::Coding> {
    Some(pb::Coding { system: system.into(), code: code.into(), display: String::new() })
}

fn quantity(value: f64, unit: &str) -> Option<pb::observation::Value> {
    Some(pb::observation::Value::Quantity(pb::Quantity { value, unit: unit.into(), ..Default::default() }))
}

/// A small valid encounter.
pub(super) fn valid() -> pb::Encounter {
    pb::Encounter {
        id: "e1".into(),
        patient: Some(pb::Patient {
            id: "p1".into(),
            age_years: Some(60),
            sex: pb::Sex::Female as i32,
            ..Default::default()
        }),
        encounter_class: pb::EncounterClass::Inpatient as i32,
        arrival_time: ts(ARRIVAL),
        diagnoses: vec![pb::Diagnosis {
            id: "d1".into(),
            code: coding("ICD-10", "I21.0"),
            rank: pb::DiagnosisRank::Principal as i32,
            ..Default::default()
        }],
        labs: vec![pb::Observation {
            id: "l1".into(),
            code: coding("http://loinc.org", "2524-7"),
            value: quantity(2.0, "mmol/L"),
            effective_time: ts(ARRIVAL + 60),
            ..Default::default()
        }],
        medication_orders: vec![pb::MedicationOrder {
            id: "o1".into(),
            codes: vec![pb::Coding { system: "ATC".into(), code: "B01AC06".into(), display: String::new() }],
            order_time: ts(ARRIVAL + 60),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `field: description` of every violation, in order (empty when valid).
fn violations(enc: &pb::Encounter) -> Vec<String> {
    match from_proto(enc, &limits(), now()) {
        Ok(_) => Vec::new(),
        Err(e) => e.violations.into_iter().map(|v| format!("{}: {}", v.field, v.description)).collect(),
    }
}

#[test]
fn the_small_encounter_is_valid() {
    assert_eq!(violations(&valid()), Vec::<String>::new());
}

#[test]
fn encounter_level_violations() {
    let mut e = valid();
    e.id = " ".into();
    e.encounter_class = 0;
    e.department = "a department name too long".into();
    e.admission_time = ts(ARRIVAL - 10);
    e.discharge_time = ts(ARRIVAL - 20);
    e.symptom_onset_time = Some(Timestamp { seconds: ARRIVAL, nanos: -1 });
    e.last_known_well_time = ts(-3_000_000_000);
    e.discharge_disposition = 42;
    e.patient = None;
    let got = violations(&e);
    assert_golden(&got, GOLDEN_ENCOUNTER);
}

#[test]
fn future_and_missing_times() {
    let mut e = valid();
    e.arrival_time = None;
    e.discharge_time = ts(NOW + 301);
    let got = violations(&e);
    assert_golden(&got, GOLDEN_TIMES);
}

#[test]
fn patient_violations() {
    let mut e = valid();
    let p = e.patient.as_mut().unwrap();
    p.age_years = Some(131);
    p.sex = 9;
    p.race = Some(pb::Coding { system: String::new(), code: "x".into(), display: String::new() });
    let mut got = violations(&e);
    let mut e = valid();
    e.patient.as_mut().unwrap().birth_date = "14/07/1961".into();
    got.extend(violations(&e));
    let mut e = valid();
    e.patient.as_mut().unwrap().birth_date = "2026-01-01".into();
    e.arrival_time = ts(NOW - 400 * 86_400);
    got.extend(violations(&e));
    let mut e = valid();
    e.patient.as_mut().unwrap().age_years = None;
    got.extend(violations(&e));
    assert_golden(&got, GOLDEN_PATIENT);
}

#[test]
fn list_violations() {
    let mut e = valid();
    let d = e.diagnoses[0].clone();
    e.diagnoses = vec![d.clone(), d.clone(), d.clone(), d.clone(), d];
    e.diagnoses[1].id = "d2".into();
    e.diagnoses[3].id = "d2".into();
    e.diagnoses[2].code = None;
    e.diagnoses[4].code = coding("MY-CODES", "x");
    let lab = e.labs[0].clone();
    e.labs = vec![lab.clone(); 7];
    for (i, l) in e.labs.iter_mut().enumerate() {
        l.id = format!("l{i}");
    }
    e.labs[0].code = coding("LOINC", "");
    e.labs[1].value = Some(pb::observation::Value::Text("high".into()));
    e.labs[2].value = quantity(f64::INFINITY, "mmol/L");
    e.labs[3].value = quantity(2.0, "furlongs");
    e.labs[4].reference_range = Some(pb::ReferenceRange { low: Some(1.0), high: None, unit: "bananas".into() });
    e.labs[5].value = None;
    e.labs[6].code = coding("LOINC", "12345678-9");
    e.labs[6].issued_time = ts(NOW + 3_600);
    e.vitals = vec![pb::Observation {
        id: "v1".into(),
        code: coding("SNOMED-CT", "abc"),
        value: Some(pb::observation::Value::Text("a text value too long".into())),
        effective_time: None,
        ..Default::default()
    }];
    e.assessments = vec![pb::Observation { code: coding("HOSP-DX", "s"), ..Default::default() }];
    assert_golden(&violations(&e), GOLDEN_LISTS);
}

#[test]
fn medication_procedure_allergy_note_violations() {
    let mut e = valid();
    let o = &mut e.medication_orders[0];
    o.dose = Some(pb::Quantity { value: -1.0, unit: "mg".into(), ..Default::default() });
    o.end_time = ts(ARRIVAL);
    o.codes.push(pb::Coding { system: "ATC".into(), code: "b01".into(), display: "a display too long".into() });
    e.medication_orders.push(pb::MedicationOrder { id: "o2".into(), order_time: ts(ARRIVAL), ..Default::default() });
    e.medication_administrations = vec![pb::MedicationAdministration {
        id: "a1".into(),
        codes: vec![pb::Coding { system: "RxNorm".into(), code: "1191".into(), display: String::new() }],
        start_time: ts(ARRIVAL + 100),
        end_time: ts(ARRIVAL + 50),
        status: pb::AdministrationStatus::NotGiven as i32,
        dose: Some(pb::Quantity { value: f64::NAN, unit: "mg".into(), ..Default::default() }),
        ..Default::default()
    }];
    e.procedures = vec![pb::Procedure {
        id: "p1".into(),
        code: coding("CPT", "92941"),
        start_time: ts(ARRIVAL + 100),
        end_time: ts(ARRIVAL + 50),
        ..Default::default()
    }];
    e.allergies = vec![pb::Allergy {
        id: "al1".into(),
        substance: None,
        reaction: coding("SNOMED-CT", "x1"),
        recorded_time: ts(NOW + 3_600),
        ..Default::default()
    }];
    e.notes = vec![pb::Note {
        id: "n1".into(),
        r#type: coding("LOINC", "11506-3"),
        text: "a note longer than eight bytes".into(),
        authored_time: None,
    }];
    assert_golden(&violations(&e), GOLDEN_MEDS);
}

/// Assert `got` equals `expected`; on failure prints `got` as Rust literals.
pub(super) fn assert_golden(got: &[String], expected: &[&str]) {
    let listing: Vec<String> = got.iter().map(|g| format!("    {g:?},")).collect();
    assert_eq!(got, expected, "got:\n{}", listing.join("\n"));
}

const GOLDEN_ENCOUNTER: &[&str] = &[
    "encounter.id: is required",
    "encounter.encounter_class: is required (inpatient, emergency, outpatient or observation)",
    "encounter.department: is 26 bytes, longer than the limit of 16",
    "encounter.symptom_onset_time: is not a valid timestamp",
    "encounter.last_known_well_time: is before 1900",
    "encounter.admission_time: is before encounter.arrival_time",
    "encounter.discharge_time: is before encounter.arrival_time",
    "encounter.discharge_time: is before encounter.admission_time",
    "encounter.discharge_disposition: unknown value 42",
    "encounter.patient: is required",
];
const GOLDEN_TIMES: &[&str] = &[
    "encounter.arrival_time: is required",
    "encounter.discharge_time: is in the future (after the evaluation time 2026-05-28T20:26:40+00:00)",
];
const GOLDEN_PATIENT: &[&str] = &[
    "encounter.patient.age_years: 131 years is not plausible",
    "encounter.patient.sex: unknown value 9",
    "encounter.patient.race.system: is required",
    "encounter.patient.birth_date: `14/07/1961` is not a date like 1961-07-14, 1961-07 or 1961",
    "encounter.patient.birth_date: is after encounter.arrival_time",
    "encounter.patient.birth_date: one of birth_date or age_years is required",
];
const GOLDEN_LISTS: &[&str] = &[
    "encounter.diagnoses: has 5 items, more than the limit of 4",
    "encounter.diagnoses[2].id: duplicate id `d1` (also encounter.diagnoses[0])",
    "encounter.diagnoses[3].id: duplicate id `d2` (also encounter.diagnoses[1])",
    "encounter.diagnoses[4].id: duplicate id `d1` (also encounter.diagnoses[2])",
    "encounter.diagnoses[2].code: is required (or `codings`)",
    "encounter.diagnoses[4].code.system: unknown code system (declare local systems in encounter.local_code_systems)",
    "encounter.diagnoses: has 3 principal diagnoses; at most one is allowed",
    "encounter.vitals[0].code.code: `abc` is not a SNOMED CT concept id (digits)",
    "encounter.vitals[0].effective_time: is required",
    "encounter.vitals[0].text: is 21 bytes, longer than the limit of 16",
    "encounter.labs: has 7 items, more than the limit of 4",
    "encounter.labs[0].code.code: is required",
    "encounter.labs[1].text: lactate requires a numeric quantity in mmol/L, not text",
    "encounter.labs[2].quantity.value: must be a finite number",
    "encounter.labs[3].quantity.unit: unit `furlongs` is not known for lactate (accepted: mmol/L, mg/dL)",
    "encounter.labs[4].reference_range.unit: unit `bananas` is not known for lactate",
    "encounter.labs[5].value: is required (quantity, text or coded)",
    "encounter.labs[6].code.code: `12345678-9` is not a LOINC code like 2524-7 or LA18976-3",
    "encounter.labs[6].issued_time: is in the future (after the evaluation time 2026-05-28T20:26:40+00:00)",
    "encounter.assessments[0].id: is required",
    "encounter.assessments[0].effective_time: is required",
    "encounter.assessments[0].value: is required (quantity, text or coded)",
];
const GOLDEN_MEDS: &[&str] = &[
    "encounter.medication_orders[0].codes[1].display: is 18 bytes, longer than the limit of 16",
    "encounter.medication_orders[0].dose.value: must be a finite, non-negative number",
    "encounter.medication_orders[0].end_time: is before order_time",
    "encounter.medication_orders[1].codes: at least one coding is required",
    "encounter.medication_administrations[0].dose.value: must be a finite, non-negative number",
    "encounter.medication_administrations[0].reason_not_given: is required when status is ADMINISTRATION_STATUS_NOT_GIVEN (or reason_class)",
    "encounter.medication_administrations[0].end_time: is before start_time",
    "encounter.procedures[0].end_time: is before start_time",
    "encounter.allergies[0].substance: is required (or `substance_codings`)",
    "encounter.allergies[0].reaction.code: `x1` is not a SNOMED CT concept id (digits)",
    "encounter.allergies[0].recorded_time: is in the future (after the evaluation time 2026-05-28T20:26:40+00:00)",
    "encounter.notes[0].text: is 30 bytes, longer than the limit of 8",
    "encounter.notes[0].authored_time: is required",
];

#[test]
fn code_systems_are_matched_case_insensitively_and_trimmed() {
    use super::{codes::parse_system, CodeSystem};
    let local = ["HOSP-DX".to_string()];
    assert_eq!(parse_system("LOINC", &local), Some(CodeSystem::Loinc));
    assert_eq!(parse_system(" Http://Snomed.Info/SCT ", &local), Some(CodeSystem::SnomedCt));
    assert_eq!(parse_system("icd-10-gm", &local), Some(CodeSystem::Icd10));
    assert_eq!(parse_system("hosp-dx", &local), Some(CodeSystem::Local("HOSP-DX".into())));
    assert_eq!(parse_system("icd-11", &local), None);
}

/// An impossible value of a known quantity is no violation: the observation is left out
/// and recorded in `implausible` (with its path and codings); the bounds themselves are
/// plausible, one step past them is not, in any accepted unit; a cancelled impossible
/// observation is dropped like any cancelled one, and an unknown quantity is not judged.
#[test]
fn impossible_values_are_left_out_and_recorded_not_rejected() {
    let with = |value: f64, unit: &str, code: &str| {
        let mut e = valid();
        e.labs[0].code = coding("LOINC", code);
        e.labs[0].value = quantity(value, unit);
        from_proto(&e, &limits(), now()).expect("no violation")
    };
    // Lactate 0–50 mmol/L (9.008 mg/dL per mmol/L).
    for (value, unit, kept) in [
        (0.0, "mmol/L", true),
        (50.0, "mmol/L", true),
        (50.001, "mmol/L", false),
        (-0.001, "mmol/L", false),
        (450.0, "mg/dL", true),
        (451.0, "mg/dL", false),
        (4.8e6, "mmol/L", false),
    ] {
        let enc = with(value, unit, "2524-7");
        assert_eq!(enc.labs.len(), usize::from(kept), "{value} {unit}");
        assert_eq!(enc.implausible.len(), usize::from(!kept), "{value} {unit}");
        if let Some(i) = enc.implausible.first() {
            assert_eq!(
                (i.list, i.item_id.as_str(), i.field.as_str()),
                ("labs", "l1", "encounter.labs[0].quantity.value")
            );
            assert_eq!(i.quantity.name, "lactate");
            assert_eq!(i.codings[0].code, "2524-7");
        }
    }
    // Temperature: 47 °C is the bound; 117 °F (47.2 °C) is past it.
    assert_eq!(with(47.0, "Cel", "8310-5").implausible.len(), 0);
    assert_eq!(with(117.0, "[degF]", "8310-5").implausible.len(), 1);
    // Not a known quantity: not judged.
    assert_eq!(with(-5.0, "mg/L", "1988-5").implausible.len(), 0);
    // Cancelled: dropped, not reported.
    let mut e = valid();
    e.labs[0].value = quantity(-1.0, "mmol/L");
    e.labs[0].status = pb::ObservationStatus::Cancelled as i32;
    let enc = from_proto(&e, &limits(), now()).unwrap();
    assert!(enc.labs.is_empty() && enc.implausible.is_empty());
}
