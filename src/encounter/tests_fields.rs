//! The fields added for FHIR-shaped data and the specifications (issue 12): golden
//! violations with exact field paths, how several codings combine, what is dropped
//! (entered-in-error, refuted, cancelled), partial birth dates, UCUM case, and the
//! proto ⇄ JSON round trip of a message that sets every new field.

use chrono::{Datelike, NaiveDate};
use pbjson_types::Timestamp;

use super::{from_proto, tests::*, CodeSystem, Comparator, DatePrecision, LocationType, ObsValue};
use crate::proto::v1 as pb;

fn c(system: &str, code: &str) -> pb::Coding {
    pb::Coding { system: system.into(), code: code.into(), display: String::new() }
}

fn qty(value: f64, unit: &str, comparator: pb::QuantityComparator) -> Option<pb::observation::Value> {
    Some(pb::observation::Value::Quantity(pb::Quantity { value, unit: unit.into(), comparator: comparator as i32 }))
}

/// An encounter that sets every field added in issue 12, validly.
pub(super) fn rich() -> pb::Encounter {
    let mut e = valid();
    e.patient.as_mut().unwrap().birth_date = "1961-07".into();
    e.patient.as_mut().unwrap().age_years = None;
    let d = &mut e.diagnoses[0];
    d.code = None;
    d.codings = vec![c("SNOMED-CT", "401303003"), c("ICD-10-CN", "I21.000x001"), c("ICD-10", "I21.0")];
    d.verification_status = pb::VerificationStatus::Confirmed as i32;
    d.onset_time = ts(ARRIVAL - 3_600);
    e.diagnoses.push(pb::Diagnosis {
        id: "d-refuted".into(),
        code: Some(c("ICD-10", "I26.9")),
        verification_status: pb::VerificationStatus::Refuted as i32,
        ..Default::default()
    });
    e.labs[0].value = qty(2.0, "mmol/l", pb::QuantityComparator::Unspecified);
    e.labs[0].status = pb::ObservationStatus::Final as i32;
    e.labs.push(pb::Observation {
        id: "l-trop".into(),
        code: Some(c("LOINC", "89579-7")),
        codings: vec![c("HOSP-DX", "TNI")],
        value: qty(3.0, "ng/L", pb::QuantityComparator::LessThan),
        effective_time: ts(ARRIVAL + 120),
        ..Default::default()
    });
    e.labs.push(pb::Observation {
        id: "l-eie".into(),
        code: Some(c("LOINC", "2524-7")),
        value: qty(9.0, "mmol/L", pb::QuantityComparator::Unspecified),
        effective_time: ts(ARRIVAL + 180),
        status: pb::ObservationStatus::EnteredInError as i32,
        ..Default::default()
    });
    e.labs.push(pb::Observation {
        id: "l-cancel".into(),
        code: Some(c("LOINC", "2524-7")),
        value: qty(1.0, "mmol/L", pb::QuantityComparator::Unspecified),
        effective_time: ts(ARRIVAL + 240),
        status: pb::ObservationStatus::Cancelled as i32,
        ..Default::default()
    });
    e.assessments.push(pb::Observation {
        id: "a-smoke".into(),
        code: Some(c("LOINC", "72166-2")),
        value: Some(pb::observation::Value::Coded(pb::CodeableConcept {
            codings: vec![c("LOINC", "LA18976-3"), c("SNOMED-CT", "449868002")],
            text: String::new(),
        })),
        effective_time: ts(ARRIVAL + 60),
        ..Default::default()
    });
    let o = &mut e.medication_orders[0];
    o.route_code = Some(c("SNOMED-CT", "26643006"));
    o.dose_rate = Some(pb::Quantity { value: 0.1, unit: "ug/kg/min".into(), ..Default::default() });
    o.status = pb::OrderStatus::OnHold as i32;
    e.medication_administrations.push(pb::MedicationAdministration {
        id: "ma1".into(),
        codes: vec![c("ATC", "B01AC06")],
        start_time: ts(ARRIVAL + 300),
        status: pb::AdministrationStatus::NotGiven as i32,
        reason_class: pb::ReasonClass::PatientRefusal as i32,
        reason_text: "declined".into(),
        reason_documented_by: pb::PractitionerRole::Physician as i32,
        route_code: Some(c("SNOMED-CT", "47625008")),
        ..Default::default()
    });
    // A norepinephrine infusion with its rate and its end (the infusion end).
    e.medication_administrations.push(pb::MedicationAdministration {
        id: "ma-inf".into(),
        codes: vec![c("ATC", "C01CA03")],
        start_time: ts(ARRIVAL + 600),
        end_time: ts(ARRIVAL + 4_200),
        status: pb::AdministrationStatus::Completed as i32,
        dose_rate: Some(pb::Quantity { value: 0.1, unit: "ug/kg/min".into(), ..Default::default() }),
        route_code: Some(c("SNOMED-CT", "47625008")),
        ..Default::default()
    });
    e.procedures.push(pb::Procedure {
        id: "pci".into(),
        codings: vec![c("ICD-9-CM-3", "00.66")],
        start_time: ts(ARRIVAL + 1_000),
        end_time: ts(ARRIVAL + 4_000),
        guidewire_crossing_time: ts(ARRIVAL + 2_000),
        ..Default::default()
    });
    e.allergies.push(pb::Allergy {
        id: "al1".into(),
        substance_codings: vec![c("RxNorm", "1191"), c("ATC", "B01AC06")],
        r#type: pb::AllergyType::Allergy as i32,
        ..Default::default()
    });
    e.locations = vec![
        pb::LocationStay {
            id: "loc-icu".into(),
            r#type: pb::LocationType::Icu as i32,
            unit_code: "ICU-3".into(),
            start_time: ts(ARRIVAL + 7_200),
            end_time: None,
        },
        pb::LocationStay {
            id: "loc-ed".into(),
            r#type: pb::LocationType::Emergency as i32,
            unit_code: String::new(),
            start_time: ts(ARRIVAL),
            end_time: ts(ARRIVAL + 3_600),
        },
        pb::LocationStay {
            id: "loc-ccu".into(),
            r#type: pb::LocationType::Ccu as i32,
            unit_code: "CCU".into(),
            start_time: ts(ARRIVAL + 3_600),
            end_time: ts(ARRIVAL + 7_200),
        },
    ];
    e.arrival_mode = pb::ArrivalMode::Ems as i32;
    e.prehospital_ecg_time = ts(ARRIVAL - 1_200);
    e.first_admission = Some(true);
    e.care_documentation = vec![pb::CareDocumentation {
        id: "cmo".into(),
        kind: pb::CareDocumentationKind::ComfortMeasuresOnly as i32,
        time: ts(ARRIVAL + 9_000),
        documented_by: pb::PractitionerRole::Physician as i32,
    }];
    e.care_documentation.push(pb::CareDocumentation {
        id: "trial".into(),
        kind: pb::CareDocumentationKind::ClinicalTrial as i32,
        time: ts(ARRIVAL + 600),
        documented_by: pb::PractitionerRole::AdvancedPracticeNurse as i32,
    });
    e.prior_encounters = vec![pb::PriorEncounter {
        id: "old".into(),
        encounter_class: pb::EncounterClass::Inpatient as i32,
        arrival_time: ts(ARRIVAL - 400 * 86_400),
        discharge_time: ts(ARRIVAL - 395 * 86_400),
        diagnoses: vec![pb::Diagnosis { id: "od".into(), code: Some(c("ICD-10", "I26.9")), ..Default::default() }],
    }];
    e.prior_conditions =
        vec![pb::Diagnosis { id: "pc".into(), codings: vec![c("SNOMED-CT", "128053003")], ..Default::default() }];
    e
}

#[test]
fn every_new_field_is_converted() {
    let enc = from_proto(&rich(), &limits(), now()).expect("valid");
    // Partial birth date: the latest day of the month, so the lowest possible age.
    assert_eq!(enc.patient.birth_date, NaiveDate::from_ymd_opt(1961, 7, 31));
    assert_eq!(enc.patient.birth_date_precision, DatePrecision::Month);
    // Several codings, single field first; the refuted diagnosis is gone.
    assert_eq!(enc.diagnoses.len(), 1);
    let d = &enc.diagnoses[0];
    assert_eq!(d.codings.len(), 3);
    assert_eq!((d.code.system.clone(), d.code.code.as_str()), (CodeSystem::SnomedCt, "401303003"));
    assert_eq!(d.codings[1].code, "I21.000X001");
    assert!(d.onset.is_some());
    // Entered-in-error lab dropped; mmol/l read as mmol/L; the troponin bound kept apart.
    assert_eq!(enc.labs.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["l1", "l-trop"]);
    assert_eq!(enc.labs[0].number(), Some(2.0));
    assert_eq!(enc.labs[1].number(), None);
    assert_eq!(enc.labs[1].bound(), Some((Some(Comparator::Less), 3.0)));
    assert_eq!(enc.labs[1].codings[1].system, CodeSystem::Local("HOSP-DX".into()));
    let smoke = enc.assessments.iter().find(|a| a.id == "a-smoke").unwrap();
    assert_eq!(smoke.value, ObsValue::Text("LA18976-3".into()));
    assert_eq!(smoke.answer_codes.len(), 2);
    let o = &enc.medication_orders[0];
    assert_eq!((o.route.as_str(), o.dose_rate.as_ref().map(|d| d.value)), ("PO", Some(0.1)));
    let a = &enc.administrations[0];
    assert_eq!(a.route, "IV");
    assert_eq!(a.reason_class.map(|r| r.as_str()), Some("patient_refusal"));
    assert_eq!(a.reason_documented_by.map(|r| r.as_str()), Some("physician"));
    assert_eq!(a.reason_text, "declined");
    let inf = &enc.administrations[1];
    assert_eq!((inf.dose_rate.as_ref().map(|d| d.value), inf.end.is_some()), (Some(0.1), true));
    assert!(enc.procedures[0].guidewire_crossing.is_some());
    assert_eq!(enc.allergies[0].substance_codings.len(), 2);
    // Locations sorted by start; the CCU stay is the first intensive-care one.
    let kinds: Vec<LocationType> = enc.locations.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [LocationType::Emergency, LocationType::Ccu, LocationType::Icu]);
    assert_eq!(enc.first_intensive_care(), Some(enc.locations[1].start));
    assert_eq!(enc.arrival_mode.map(|m| m.as_str()), Some("ems"));
    assert!(enc.prehospital_ecg.is_some());
    assert_eq!(enc.first_admission, Some(true));
    assert!(enc.first_documented(super::CareKind::ComfortMeasuresOnly).is_some());
    let trial = enc.first_documented(super::CareKind::ClinicalTrial).map(|d| d.time);
    assert_eq!(trial, chrono::DateTime::from_timestamp(ARRIVAL + 600, 0));
    assert_eq!(enc.history_diagnoses().count(), 2);
}

#[test]
fn rich_encounter_round_trips_proto_json() {
    use prost::Message;
    let e = rich();
    let json = super::to_json(&e);
    for key in [
        "\"codings\"",
        "\"verificationStatus\": \"VERIFICATION_STATUS_CONFIRMED\"",
        "\"comparator\": \"QUANTITY_COMPARATOR_LESS_THAN\"",
        "\"coded\"",
        "\"doseRate\"",
        "\"routeCode\"",
        "\"reasonClass\": \"REASON_CLASS_PATIENT_REFUSAL\"",
        "\"reasonDocumentedBy\": \"PRACTITIONER_ROLE_PHYSICIAN\"",
        "\"guidewireCrossingTime\"",
        "\"substanceCodings\"",
        "\"locations\"",
        "\"arrivalMode\": \"ARRIVAL_MODE_EMS\"",
        "\"prehospitalEcgTime\"",
        "\"firstAdmission\": true",
        "\"careDocumentation\"",
        "\"priorEncounters\"",
        "\"priorConditions\"",
        "\"birthDate\": \"1961-07\"",
        "\"status\": \"OBSERVATION_STATUS_ENTERED_IN_ERROR\"",
        "\"status\": \"OBSERVATION_STATUS_CANCELLED\"",
        "\"type\": \"LOCATION_TYPE_CCU\"",
        "\"kind\": \"CARE_DOCUMENTATION_KIND_CLINICAL_TRIAL\"",
    ] {
        assert!(json.contains(key), "{key} missing from {json}");
    }
    // Every field of issue 12 item 4 is set (JSON pointers into the proto3 JSON).
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for pointer in ITEM4_FIELDS {
        let x = v.pointer(pointer).unwrap_or_else(|| panic!("{pointer} is not set in the round-tripped encounter"));
        assert!(!x.is_null() && x != "" && x != &serde_json::json!([]), "{pointer}: {x}");
    }
    let back = super::encounter_from_json(&json).expect("parses");
    assert_eq!(back, e, "JSON round trip");
    assert_eq!(super::to_json(&back), json, "JSON is stable");
    let wire = e.encode_to_vec();
    assert_eq!(pb::Encounter::decode(wire.as_slice()).unwrap(), e, "binary round trip");
    // `first_admission: false` is kept distinct from absent.
    let mut f = e.clone();
    f.first_admission = Some(false);
    assert!(super::to_json(&f).contains("\"firstAdmission\": false"));
}

/// Issue 12 item 4, field by field, as set by [`rich`] (proto3 JSON names).
const ITEM4_FIELDS: &[&str] = &[
    // Location history: ED, ICU/CCU stays with start and end.
    "/locations/0/type",
    "/locations/0/unitCode",
    "/locations/0/startTime",
    "/locations/1/endTime",
    "/locations/2/type",
    // Condition verification status and onset.
    "/diagnoses/0/verificationStatus",
    "/diagnoses/0/onsetTime",
    "/diagnoses/1/verificationStatus",
    // Observation status (entered-in-error, cancelled).
    "/labs/0/status",
    "/labs/2/status",
    "/labs/3/status",
    // Quantity comparator; coded answers.
    "/labs/1/quantity/comparator",
    "/assessments/0/coded/codings/1/code",
    // Dose rate and infusion end; route as a code.
    "/medicationOrders/0/doseRate/unit",
    "/medicationOrders/0/routeCode/code",
    "/medicationAdministrations/1/doseRate/value",
    "/medicationAdministrations/1/endTime",
    "/medicationAdministrations/0/routeCode/code",
    // Reason not given: class, text, who documented it.
    "/medicationAdministrations/0/reasonClass",
    "/medicationAdministrations/0/reasonText",
    "/medicationAdministrations/0/reasonDocumentedBy",
    // Comfort measures and clinical trial with times.
    "/careDocumentation/0/kind",
    "/careDocumentation/0/time",
    "/careDocumentation/0/documentedBy",
    "/careDocumentation/1/kind",
    "/careDocumentation/1/time",
    // Arrival mode, pre-hospital ECG, first admission, guidewire crossing.
    "/arrivalMode",
    "/prehospitalEcgTime",
    "/firstAdmission",
    "/procedures/0/guidewireCrossingTime",
    // Partial birth date; history.
    "/patient/birthDate",
    "/priorEncounters/0/arrivalTime",
    "/priorEncounters/0/diagnoses/0/code/code",
    "/priorConditions/0/codings/0/code",
];

/// `field: description` of each violation of `e`.
fn violations_of(e: &pb::Encounter) -> Vec<String> {
    match from_proto(e, &limits(), now()) {
        Ok(_) => Vec::new(),
        Err(err) => err.violations.into_iter().map(|v| format!("{}: {}", v.field, v.description)).collect(),
    }
}

#[test]
fn new_field_violations() {
    let mut e = rich();
    e.patient.as_mut().unwrap().birth_date = "1961-13".into();
    let d = &mut e.diagnoses[0];
    d.codings[1] = c("ICD-10", "banana");
    d.verification_status = 42;
    d.onset_time = ts(NOW + 3_600);
    e.labs[1].value = qty(3.0, "ng/L", pb::QuantityComparator::LessThan);
    if let Some(pb::observation::Value::Quantity(q)) = e.labs[1].value.as_mut() {
        q.comparator = 9;
    }
    e.labs[1].status = 17;
    e.assessments[0].value =
        Some(pb::observation::Value::Coded(pb::CodeableConcept { codings: vec![], text: String::new() }));
    e.labs[0].value = Some(pb::observation::Value::Coded(pb::CodeableConcept {
        codings: vec![c("LOINC", "LA6576-8")],
        text: String::new(),
    }));
    e.medication_orders[0].route_code = Some(c("SNOMED-CT", "IV"));
    e.medication_orders[0].dose_rate = Some(pb::Quantity { value: -1.0, unit: "mL/h".into(), ..Default::default() });
    let a = &mut e.medication_administrations[0];
    a.reason_class = 0;
    a.reason_documented_by = 12;
    let inf = &mut e.medication_administrations[1];
    inf.dose_rate = Some(pb::Quantity { value: f64::NAN, unit: "ug/kg/min".into(), ..Default::default() });
    inf.route_code = Some(c("SNOMED-CT", "IV"));
    inf.end_time = ts(ARRIVAL + 599);
    inf.reason_class = 9;
    e.locations[2].start_time = None;
    e.care_documentation[1].documented_by = 12;
    e.prehospital_ecg_time = ts(NOW + 3_600);
    e.procedures[0].guidewire_crossing_time = ts(ARRIVAL + 5_000);
    e.allergies[0].substance_codings.clear();
    e.locations[0].r#type = 0;
    e.locations[1].end_time = ts(ARRIVAL - 1);
    e.arrival_mode = 7;
    e.care_documentation[0].kind = 0;
    e.care_documentation[0].time = None;
    e.prior_encounters[0].arrival_time = ts(ARRIVAL + 10);
    e.prior_encounters[0].discharge_time = None;
    e.prior_encounters[0].diagnoses[0].code = Some(c("ICD-10", "?"));
    e.prior_conditions[0].codings.clear();
    assert_golden(&violations_of(&e), GOLDEN_NEW_FIELDS);
}

const GOLDEN_NEW_FIELDS: &[&str] = &[
    "encounter.patient.birth_date: `1961-13` is not a date like 1961-07-14, 1961-07 or 1961",
    "encounter.diagnoses[0].codings[1].code: `BANANA` is not an ICD-10 code like I21.0 or A41.900x001",
    "encounter.diagnoses[0].onset_time: is in the future (after the evaluation time 2026-05-28T20:26:40+00:00)",
    "encounter.diagnoses[0].verification_status: unknown value 42",
    "encounter.labs[0].coded: lactate requires a numeric quantity in mmol/L, not a coded answer",
    "encounter.labs[1].status: unknown value 17",
    "encounter.labs[1].quantity.comparator: unknown value 9",
    "encounter.assessments[0].coded.codings: at least one coding is required",
    "encounter.medication_orders[0].dose_rate.value: must be a finite, non-negative number",
    "encounter.medication_orders[0].route_code.code: `IV` is not a SNOMED CT concept id (digits)",
    "encounter.medication_administrations[0].reason_documented_by: unknown value 12",
    "encounter.medication_administrations[0].reason_not_given: is required when status is ADMINISTRATION_STATUS_NOT_GIVEN (or reason_class)",
    "encounter.medication_administrations[1].dose_rate.value: must be a finite, non-negative number",
    "encounter.medication_administrations[1].route_code.code: `IV` is not a SNOMED CT concept id (digits)",
    "encounter.medication_administrations[1].reason_class: unknown value 9",
    "encounter.medication_administrations[1].end_time: is before start_time",
    "encounter.procedures[0].guidewire_crossing_time: is after end_time",
    "encounter.allergies[0].substance: is required (or `substance_codings`)",
    "encounter.locations[0].type: is required (LOCATION_TYPE_EMERGENCY, _WARD, _ICU, _CCU ...)",
    "encounter.locations[1].end_time: is before start_time",
    "encounter.locations[2].start_time: is required",
    "encounter.care_documentation[0].kind: is required (comfort measures only or clinical trial)",
    "encounter.care_documentation[0].time: is required",
    "encounter.care_documentation[1].documented_by: unknown value 12",
    "encounter.prior_encounters[0].arrival_time: is not before encounter.arrival_time",
    "encounter.prior_encounters[0].diagnoses[0].code.code: `?` is not an ICD-10 code like I21.0 or A41.900x001",
    "encounter.prior_conditions[0].code: is required (or `codings`)",
    "encounter.prehospital_ecg_time: is in the future (after the evaluation time 2026-05-28T20:26:40+00:00)",
    "encounter.arrival_mode: unknown value 7",
];

#[test]
fn partial_birth_dates_give_the_lowest_possible_age() {
    let age = |birth: &str| {
        let mut e = valid();
        let p = e.patient.as_mut().unwrap();
        p.birth_date = birth.into();
        p.age_years = None;
        from_proto(&e, &limits(), now()).map(|x| (x.patient.age_years, x.patient.birth_date_precision))
    };
    // Arrival is 2026-05-27: born some time in 1960 → 65 at the least.
    assert_eq!(age("1960").unwrap(), (65.0, DatePrecision::Year));
    assert_eq!(age("1960-05").unwrap(), (65.0, DatePrecision::Month));
    assert_eq!(age("1960-06").unwrap(), (65.0, DatePrecision::Month));
    assert_eq!(age("1960-05-27").unwrap(), (66.0, DatePrecision::Day));
    // A birth year equal to the arrival year is age 0, not "after arrival".
    assert_eq!(age("2026").unwrap().0, 0.0);
    assert!(age("2027").is_err());
    assert!(age("196").is_err());
    assert_eq!(now().year(), 2026);
}

#[test]
fn ucum_units_are_case_insensitive_for_known_quantities() {
    for unit in ["mmol/L", "mmol/l", "MMOL/L"] {
        let mut e = valid();
        e.labs[0].value = qty(2.0, unit, pb::QuantityComparator::Unspecified);
        let enc = from_proto(&e, &limits(), now()).unwrap_or_else(|err| panic!("{unit}: {err}"));
        assert_eq!(enc.labs[0].value, ObsValue::Quantity { value: 2.0, unit: "mmol/L".into() }, "{unit}");
    }
    let mut e = valid();
    e.labs[0].code = Some(c("LOINC", "2160-0"));
    e.labs[0].value = qty(88.42, "µmol/L", pb::QuantityComparator::Unspecified);
    let enc = from_proto(&e, &limits(), now()).expect("µ is u");
    assert!((enc.labs[0].number().unwrap() - 1.0).abs() < 1e-9);
}

#[test]
fn duplicate_codings_are_kept_once_and_the_single_field_comes_first() {
    let mut e = valid();
    e.diagnoses[0].codings = vec![c("ICD-10", "I21.0"), c("SNOMED-CT", "401303003"), c("icd-10", "i21.0")];
    let enc = from_proto(&e, &limits(), now()).expect("valid");
    let codes: Vec<&str> = enc.diagnoses[0].codings.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, ["I21.0", "401303003"]);
    let _ = Timestamp::default();
}
