//! Each validation rule, with the exact field path it reports.

use cdssd::{
    encounter::{from_proto, Limits},
    proto::v1 as pb,
};
use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;

use crate::support::{example, settings_with};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn limits() -> Limits {
    Limits::from_settings(&settings_with(&[]).encounter)
}

/// The field paths reported for `enc` (empty when valid).
fn fields(enc: &pb::Encounter) -> Vec<String> {
    match from_proto(enc, &limits(), now()) {
        Ok(_) => Vec::new(),
        Err(e) => e.violations.into_iter().map(|v| v.field).collect(),
    }
}

fn assert_only(enc: &pb::Encounter, expected: &[&str]) {
    let got = fields(enc);
    assert_eq!(got, expected, "violations");
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

#[test]
fn the_base_example_is_valid() {
    assert_only(&example("stemi_primary_pci.json"), &[]);
}

#[test]
fn missing_ids_are_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.id.clear();
    e.patient.as_mut().unwrap().id = "  ".into();
    e.labs[1].id.clear();
    assert_only(&e, &["encounter.id", "encounter.patient.id", "encounter.labs[1].id"]);
}

#[test]
fn missing_patient_and_class_and_arrival_are_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.patient = None;
    e.encounter_class = 0;
    e.arrival_time = None;
    let got = fields(&e);
    for f in ["encounter.patient", "encounter.encounter_class", "encounter.arrival_time"] {
        assert!(got.iter().any(|g| g == f), "{f} not in {got:?}");
    }
}

#[test]
fn unknown_code_systems_are_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.diagnoses[0].code.as_mut().unwrap().system = "MY-OWN-CODES".into();
    e.medication_administrations[0].codes[0].system = "http://example.org/unknown".into();
    assert_only(&e, &["encounter.diagnoses[0].code.system", "encounter.medication_administrations[0].codes[0].system"]);
}

#[test]
fn a_declared_local_system_is_accepted() {
    let mut e = example("stemi_primary_pci.json");
    e.diagnoses[0].code.as_mut().unwrap().system = "HOSP-DX".into();
    e.diagnoses[0].code.as_mut().unwrap().code = "STEMI-ANT".into();
    let s = settings_with(&[("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", "LOCAL,HOSP-DX")]);
    assert!(from_proto(&e, &Limits::from_settings(&s.encounter), now()).is_ok());
}

#[test]
fn malformed_codes_are_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.diagnoses[0].code.as_mut().unwrap().code = "heart attack".into();
    assert_only(&e, &["encounter.diagnoses[0].code.code"]);
}

fn lab_index(e: &pb::Encounter, loinc: &str) -> usize {
    e.labs.iter().position(|l| l.code.as_ref().unwrap().code == loinc).expect("lab present")
}

#[test]
fn non_numeric_values_for_numeric_quantities_are_reported() {
    let mut e = example("septic_shock.json");
    let i = e
        .labs
        .iter()
        .position(|l| l.code.as_ref().unwrap().code == "2524-7" || l.code.as_ref().unwrap().code == "32693-4")
        .unwrap();
    e.labs[i].value = Some(pb::observation::Value::Text("high".into()));
    assert_only(&e, &[format!("encounter.labs[{i}].text").as_str()]);

    let mut e = example("septic_shock.json");
    e.labs[i].value = Some(pb::observation::Value::Quantity(pb::Quantity {
        value: f64::NAN,
        unit: "mmol/L".into(),
        ..Default::default()
    }));
    assert_only(&e, &[format!("encounter.labs[{i}].quantity.value").as_str()]);
}

#[test]
fn unknown_units_for_known_quantities_are_reported() {
    let mut e = example("outpatient_visit.json");
    let i = lab_index(&e, "2093-3");
    e.labs[i].value = Some(pb::observation::Value::Quantity(pb::Quantity {
        value: 5.2,
        unit: "furlongs".into(),
        ..Default::default()
    }));
    assert_only(&e, &[format!("encounter.labs[{i}].quantity.unit").as_str()]);
}

#[test]
fn known_units_are_converted_to_canonical() {
    let mut e = example("outpatient_visit.json");
    let i = lab_index(&e, "2093-3");
    let id = e.labs[i].id.clone();
    e.labs[i].value = Some(pb::observation::Value::Quantity(pb::Quantity {
        value: 5.0,
        unit: "mmol/L".into(),
        ..Default::default()
    }));
    let enc = from_proto(&e, &limits(), now()).unwrap();
    let lab = enc.labs.iter().find(|l| l.id == id).unwrap();
    assert!((lab.number().unwrap() - 193.35).abs() < 1e-9, "{:?}", lab.value);
}

#[test]
fn discharge_before_arrival_is_reported() {
    let mut e = example("stemi_primary_pci.json");
    let arrival = e.arrival_time.unwrap().seconds;
    e.admission_time = None;
    e.discharge_time = ts(arrival - 60);
    assert_only(&e, &["encounter.discharge_time"]);
}

#[test]
fn future_times_are_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.vitals[0].effective_time = ts(now().timestamp() + 3600);
    assert_only(&e, &["encounter.vitals[0].effective_time"]);
    // Within the clock-skew tolerance (300 s) is accepted.
    e.vitals[0].effective_time = ts(now().timestamp() + 120);
    assert_only(&e, &[]);
}

#[test]
fn duplicate_ids_are_reported_with_both_positions() {
    let mut e = example("stemi_primary_pci.json");
    let dup = e.labs[0].clone();
    e.labs.push(dup);
    let n = e.labs.len() - 1;
    let err = from_proto(&e, &limits(), now()).unwrap_err();
    assert_eq!(err.violations.len(), 1);
    assert_eq!(err.violations[0].field, format!("encounter.labs[{n}].id"));
    assert!(err.violations[0].description.contains("encounter.labs[0]"), "{}", err.violations[0].description);
}

#[test]
fn oversized_lists_and_texts_are_reported() {
    let s = settings_with(&[("CDSSD__ENCOUNTER__MAX_ITEMS_PER_LIST", "3"), ("CDSSD__ENCOUNTER__MAX_NOTE_BYTES", "10")]);
    let lim = Limits::from_settings(&s.encounter);
    let mut e = example("stemi_primary_pci.json");
    e.vitals.truncate(2);
    e.notes = vec![pb::Note {
        id: "n1".into(),
        text: "a long note text".into(),
        authored_time: e.arrival_time,
        ..Default::default()
    }];
    let err = from_proto(&e, &lim, now()).unwrap_err();
    let got: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert!(got.contains(&"encounter.labs"), "{got:?}");
    assert!(got.contains(&"encounter.notes[0].text"), "{got:?}");
    assert!(!got.contains(&"encounter.vitals"), "{got:?}");
}

#[test]
fn not_given_requires_a_reason() {
    let mut e = example("stemi_primary_pci.json");
    e.medication_administrations[0].status = pb::AdministrationStatus::NotGiven as i32;
    e.medication_administrations[0].reason_not_given = None;
    assert_only(&e, &["encounter.medication_administrations[0].reason_not_given"]);
}

#[test]
fn birth_date_must_be_a_date_before_arrival() {
    let mut e = example("stemi_primary_pci.json");
    e.patient.as_mut().unwrap().birth_date = "14/07/1961".into();
    assert_only(&e, &["encounter.patient.birth_date"]);
    e.patient.as_mut().unwrap().birth_date = "2030-01-01".into();
    assert_only(&e, &["encounter.patient.birth_date"]);
}

#[test]
fn medication_without_codes_is_reported() {
    let mut e = example("stemi_primary_pci.json");
    e.medication_orders[0].codes.clear();
    assert_only(&e, &["encounter.medication_orders[0].codes"]);
}

#[test]
fn all_violations_are_reported_together() {
    let mut e = example("stemi_primary_pci.json");
    e.id.clear();
    e.labs[0].code.as_mut().unwrap().system = "NOPE".into();
    e.procedures[0].start_time = None;
    assert_eq!(fields(&e).len(), 3);
}

#[test]
fn reference_ranges_are_converted_with_their_value() {
    let mut e = example("outpatient_visit.json");
    let i = lab_index(&e, "2093-3");
    let id = e.labs[i].id.clone();
    e.labs[i].value = Some(pb::observation::Value::Quantity(pb::Quantity {
        value: 5.0,
        unit: "mmol/L".into(),
        ..Default::default()
    }));
    e.labs[i].reference_range = Some(pb::ReferenceRange { low: None, high: Some(5.2), unit: String::new() });
    let enc = from_proto(&e, &limits(), now()).unwrap();
    let lab = enc.labs.iter().find(|l| l.id == id).unwrap();
    let high = lab.reference_range.as_ref().unwrap().high.unwrap();
    assert!((high - 5.2 * 38.67).abs() < 1e-9, "reference range in mg/dL like the value: {high}");

    e.labs[i].reference_range = Some(pb::ReferenceRange { low: Some(1.0), high: None, unit: "bananas".into() });
    assert_only(&e, &[format!("encounter.labs[{i}].reference_range.unit").as_str()]);
}

#[test]
fn non_finite_reference_range_bounds_are_field_violations() {
    let mut e = example("outpatient_visit.json");
    let i = lab_index(&e, "2093-3");
    for (low, high, bad) in [
        (Some(f64::NAN), Some(5.2), vec!["low"]),
        (Some(1.0), Some(f64::INFINITY), vec!["high"]),
        (Some(f64::NEG_INFINITY), Some(f64::NAN), vec!["low", "high"]),
    ] {
        e.labs[i].reference_range = Some(pb::ReferenceRange { low, high, unit: String::new() });
        let want: Vec<String> = bad.iter().map(|b| format!("encounter.labs[{i}].reference_range.{b}")).collect();
        assert_only(&e, &want.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[test]
fn issue_12_lists_report_duplicate_ids_and_missing_fields_with_their_paths() {
    let mut e = example("stemi_primary_pci.json");
    let t = e.arrival_time;
    let stay = |id: &str, kind: pb::LocationType| pb::LocationStay {
        id: id.into(),
        r#type: kind as i32,
        start_time: t,
        ..Default::default()
    };
    e.locations = vec![stay("s", pb::LocationType::Emergency), stay("s", pb::LocationType::Ccu)];
    let doc = pb::CareDocumentation {
        id: "c".into(),
        kind: pb::CareDocumentationKind::ClinicalTrial as i32,
        time: t,
        ..Default::default()
    };
    e.care_documentation = vec![doc.clone(), doc];
    let prior = pb::PriorEncounter {
        id: "p".into(),
        encounter_class: pb::EncounterClass::Inpatient as i32,
        arrival_time: ts(t.unwrap().seconds - 400 * 86_400),
        ..Default::default()
    };
    e.prior_encounters = vec![prior.clone(), prior];
    let cond = pb::Diagnosis {
        id: "q".into(),
        code: Some(pb::Coding { system: "ICD-10".into(), code: "I26.9".into(), display: String::new() }),
        ..Default::default()
    };
    e.prior_conditions = vec![cond.clone(), cond];
    assert_only(
        &e,
        &[
            "encounter.locations[1].id",
            "encounter.care_documentation[1].id",
            "encounter.prior_encounters[1].id",
            "encounter.prior_conditions[1].id",
        ],
    );
    e.locations[1].id = "s2".into();
    e.locations[1].start_time = None;
    e.care_documentation[1].id = "c2".into();
    e.care_documentation[1].kind = 0;
    e.prior_encounters[1].id = "p2".into();
    e.prior_encounters[1].encounter_class = 0;
    e.prior_conditions[1].id = "q2".into();
    e.prior_conditions[1].code = None;
    assert_only(
        &e,
        &[
            "encounter.locations[1].start_time",
            "encounter.care_documentation[1].kind",
            "encounter.prior_encounters[1].encounter_class",
            "encounter.prior_conditions[1].code",
        ],
    );
}
