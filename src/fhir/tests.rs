//! Mapper tests: bundle handling, focus, Patient, Encounter and the error contract.

use serde_json::{json, Value};

use super::*;

pub(super) fn bundle(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!("{}/{}", r["resourceType"].as_str().unwrap_or("X"), r["id"].as_str().unwrap_or("x"));
            json!({"fullUrl": url, "resource": r})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "collection", "entry": entry})
}

pub(super) fn patient() -> Value {
    json!({"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1964-05"})
}

pub(super) fn inpatient() -> Value {
    json!({
        "resourceType": "Encounter", "id": "e1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2026-03-02T22:30:00+08:00", "end": "2026-03-06T10:30:00+08:00"}
    })
}

pub(super) fn map(resources: Vec<Value>) -> Mapped {
    let zone: Zone = "Asia/Shanghai".parse().unwrap();
    map_bundle(&bundle(resources), &Options::new(Focus::default(), zone)).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn fail(resources: Vec<Value>) -> FhirError {
    map_bundle(&bundle(resources), &Options::new(Focus::default(), chrono_tz::UTC)).expect_err("must fail")
}

pub(super) fn ts(s: &str) -> Option<pbjson_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
    Some(pbjson_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

#[test]
fn patient_and_encounter_map_with_class_history_hospitalization_and_locations() {
    let mut enc = inpatient();
    enc["classHistory"] = json!([
        {"class": {"code": "EMER"}, "period": {"start": "2026-03-02T22:30:00+08:00", "end": "2026-03-03T00:30:00+08:00"}},
        {"class": {"code": "IMP"}, "period": {"start": "2026-03-03T00:30:00+08:00"}}
    ]);
    enc["hospitalization"] = json!({
        "admitSource": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source", "code": "hosp-trans"}]},
        "dischargeDisposition": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "snf"}]},
        "reAdmission": {"text": "readmitted"}
    });
    enc["serviceType"] = json!({"coding": [{"system": "LOCAL", "code": "CARDIOLOGY"}]});
    enc["location"] = json!([
        {"location": {"reference": "Location/ed"}, "period": {"start": "2026-03-02T22:30:00+08:00", "end": "2026-03-03T00:30:00+08:00"}},
        {"location": {"reference": "Location/icu3"}, "status": "completed", "period": {"start": "2026-03-03T00:30:00+08:00", "end": "2026-03-04T09:00:00+08:00"}},
        {"location": {"reference": "Location/nowhere"}, "physicalType": {"coding": [{"code": "wa"}]}, "period": {"start": "2026-03-04T09:00:00+08:00"}},
        {"location": {"reference": "Location/later"}, "status": "planned"}
    ]);
    enc["extension"] = json!([
        {"url": "urn:cdssd:fhir:extension:last-known-well", "valueDateTime": "2026-03-02T21:00:00+08:00"},
        {"url": "urn:cdssd:fhir:extension:arrival-mode", "valueCode": "ems"},
        {"url": "urn:cdssd:fhir:extension:care-documentation", "extension": [
            {"url": "kind", "valueCode": "comfort-measures-only"},
            {"url": "time", "valueDateTime": "2026-03-05T08:00:00+08:00"},
            {"url": "documented-by", "valueCode": "physician"}]}
    ]);
    let icu = json!({"resourceType": "Location", "id": "icu3", "identifier": [{"value": "ICU-3"}],
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "ICU"}]}]});
    let ed = json!({"resourceType": "Location", "id": "ed", "type": [{"coding": [{"code": "ER"}]}]});
    let m = map(vec![patient(), enc, icu, ed]);
    let e = &m.encounter;
    assert_eq!(e.id, "e1");
    let p = e.patient.as_ref().unwrap();
    assert_eq!((p.id.as_str(), p.birth_date.as_str(), p.sex), ("p1", "1964-05", pb::Sex::Male as i32));
    assert_eq!(e.encounter_class, pb::EncounterClass::Inpatient as i32);
    assert_eq!(e.arrival_time, ts("2026-03-02T14:30:00Z"));
    assert_eq!(e.admission_time, ts("2026-03-02T16:30:00Z"), "the inpatient class history entry is the admission");
    assert_eq!(e.discharge_time, ts("2026-03-06T02:30:00Z"));
    assert_eq!(e.discharge_disposition, pb::DischargeDisposition::SkilledNursing as i32);
    assert!(e.transferred_in);
    assert_eq!(e.first_admission, Some(false), "hospitalization.reAdmission makes it a readmission");
    assert_eq!(e.department, "CARDIOLOGY");
    assert_eq!(e.last_known_well_time, ts("2026-03-02T13:00:00Z"));
    assert_eq!(e.arrival_mode, pb::ArrivalMode::Ems as i32);
    let types: Vec<i32> = e.locations.iter().map(|l| l.r#type).collect();
    use pb::LocationType as L;
    assert_eq!(types, vec![L::Emergency as i32, L::Icu as i32, L::Ward as i32], "a planned location is not a stay");
    assert_eq!(e.locations[1].unit_code, "ICU-3");
    assert_eq!(e.locations[1].end_time, ts("2026-03-04T01:00:00Z"));
    assert_eq!(e.locations[2].unit_code, "nowhere");
    assert_eq!(e.locations[2].end_time, None, "an open stay");
    assert_eq!(e.care_documentation.len(), 1);
    let c = &e.care_documentation[0];
    assert_eq!(
        (c.kind, c.documented_by),
        (pb::CareDocumentationKind::ComfortMeasuresOnly as i32, pb::PractitionerRole::Physician as i32)
    );
    assert_eq!(m.ignored.get("Location"), None, "Locations are read to resolve references");
}

#[test]
fn a_direct_admission_starts_at_the_period_start_and_an_unfinished_stay_has_no_discharge() {
    let mut enc = inpatient();
    enc["status"] = json!("in-progress");
    let m = map(vec![patient(), enc]);
    assert_eq!(m.encounter.admission_time, ts("2026-03-02T14:30:00Z"));
    assert_eq!(m.encounter.discharge_time, None);
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert_eq!(m.warnings[0].expression, "Bundle.entry[1].resource.period.end");
    let mut ed = inpatient();
    ed["class"] = json!({"code": "EMER"});
    let m = map(vec![patient(), ed]);
    assert_eq!(m.encounter.encounter_class, pb::EncounterClass::Emergency as i32);
    assert_eq!(m.encounter.admission_time, None, "an ED visit has no admission");
}

#[test]
fn the_index_encounter_is_the_latest_and_earlier_ones_are_history() {
    let old = json!({"resourceType": "Encounter", "id": "old", "status": "finished", "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-01-10", "end": "2025-01-10"}});
    let cancelled = json!({"resourceType": "Encounter", "id": "cx", "status": "cancelled", "class": {"code": "IMP"},
        "subject": {"reference": "Patient/p1"}, "period": {"start": "2027-01-01T00:00:00Z"}});
    let other = json!({"resourceType": "Encounter", "id": "o", "status": "finished", "class": {"code": "IMP"},
        "subject": {"reference": "Patient/p2"}, "period": {"start": "2027-01-01T00:00:00Z"}});
    let m =
        map(vec![patient(), old, inpatient(), cancelled, other, json!({"resourceType": "Practitioner", "id": "dr"})]);
    assert_eq!(m.encounter.id, "e1");
    assert_eq!(m.encounter.prior_encounters.len(), 1);
    let prior = &m.encounter.prior_encounters[0];
    assert_eq!(prior.id, "old");
    assert_eq!(prior.encounter_class, pb::EncounterClass::Outpatient as i32);
    assert_eq!(prior.arrival_time, ts("2025-01-09T16:00:00Z"), "a date is the start of that day in the hospital zone");
    assert_eq!(m.ignored.get("Practitioner"), Some(&1));
    assert_eq!(m.ignored.get("Encounter (another patient)"), Some(&1));
    assert_eq!(m.ignored.get("Encounter (cancelled, planned or entered-in-error)"), Some(&1));
    // The focus names the encounter.
    let b = bundle(vec![
        patient(),
        json!({"resourceType": "Encounter", "id": "old", "status": "finished", "class": {"code": "AMB"},
        "period": {"start": "2025-01-10T08:00:00Z"}}),
        inpatient(),
    ]);
    let focus = Focus { patient_id: Some("p1"), encounter_id: Some("old") };
    let e = bundle_to_encounter(&b, focus).unwrap();
    assert_eq!(e.id, "old");
    assert!(e.prior_encounters.is_empty(), "a later encounter is not history");
}

#[test]
fn loose_resources_and_search_bundles_map_like_a_bundle_and_duplicates_count_once() {
    let search = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": inpatient(), "search": {"mode": "match"}},
        {"resource": patient(), "search": {"mode": "include"}},
        {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}}
    ]});
    let p = patient();
    let e = resources_to_encounter([&p, &search], Focus { patient_id: Some("p1"), encounter_id: Some("e1") }).unwrap();
    assert_eq!(e.id, "e1");
    assert_eq!(e.patient.unwrap().id, "p1");
}

#[test]
fn several_patients_need_a_focus_and_a_missing_focus_is_not_found() {
    let p2 = json!({"resourceType": "Patient", "id": "p2"});
    let err = fail(vec![patient(), p2.clone(), inpatient()]);
    assert_eq!(err.issues[0].code, IssueCode::Conflict);
    let b = bundle(vec![patient(), p2, inpatient()]);
    let err = bundle_to_encounter(&b, Focus { patient_id: Some("p9"), encounter_id: None }).unwrap_err();
    assert_eq!((err.issues[0].code, err.issues[0].expression.as_str()), (IssueCode::NotFound, "Patient"));
    let err = bundle_to_encounter(&b, Focus { patient_id: Some("p1"), encounter_id: Some("e9") }).unwrap_err();
    assert_eq!((err.issues[0].code, err.issues[0].expression.as_str()), (IssueCode::NotFound, "Encounter"));
    let err = fail(vec![patient()]);
    assert_eq!(err.issues[0].code, IssueCode::Required, "no encounter");
    let err = fail(vec![inpatient()]);
    assert_eq!(err.issues[0].expression, "Patient", "no patient");
}

#[test]
fn invalid_bundles_list_every_problem_with_its_location_and_no_data_values() {
    let mut enc = inpatient();
    enc["period"]["start"] = json!("2026-03-02T22:30:00");
    enc["class"] = json!({"code": "XYZ"});
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2524-7"}]},
        "encounter": {"reference": "Encounter/e1"}, "effectiveDateTime": "2026-03-03T01:00:00Z",
        "valueQuantity": {"value": "4.1", "code": "mmol/L"}});
    let mut p = patient();
    p["birthDate"] = json!("1964-13-01");
    let err = fail(vec![p, enc, obs, json!({"id": "no-type"}), json!(7)]);
    let at: Vec<&str> = err.issues.iter().map(|i| i.expression.as_str()).collect();
    for want in [
        "Bundle.entry[0].resource.birthDate",
        "Bundle.entry[1].resource.period.start",
        "Bundle.entry[1].resource.class.code",
        "Bundle.entry[2].resource.valueQuantity.value",
        "Bundle.entry[3].resource.resourceType",
        "Bundle.entry[4].resource",
    ] {
        assert!(at.contains(&want), "{want} missing from {at:?}");
    }
    let offset = err.issues.iter().find(|i| i.expression.ends_with("period.start")).unwrap();
    assert!(offset.diagnostics.contains("offset"), "{}", offset.diagnostics);
    for i in &err.issues {
        assert!(
            !i.diagnostics.contains("1964") && !i.diagnostics.contains("4.1") && !i.diagnostics.contains("22:30"),
            "a data value in {i:?}"
        );
    }
    let oo = err.to_operation_outcome();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"].as_array().unwrap().len(), err.issues.len());
    assert_eq!(oo["issue"][0]["severity"], "error");
    assert!(oo["issue"][0]["expression"][0].as_str().unwrap().starts_with("Bundle.entry["));
    let not_bundle = map_bundle(&patient(), &Options::new(Focus::default(), chrono_tz::UTC)).unwrap_err();
    assert_eq!(not_bundle.issues[0].expression, "Bundle.resourceType");
    let bad_entries =
        map_bundle(&json!({"resourceType": "Bundle", "entry": {}}), &Options::new(Focus::default(), chrono_tz::UTC))
            .unwrap_err();
    assert_eq!(bad_entries.issues[0].expression, "Bundle.entry");
}

#[test]
fn fhir_dates_and_times_read_as_instants() {
    let zone: Zone = "Asia/Shanghai".parse().unwrap();
    assert_eq!(read::instant("2026-03-02T22:30:00+08:00", zone).ok(), ts("2026-03-02T14:30:00Z"));
    assert_eq!(read::instant("2026-03-02T14:30:00Z", zone).ok(), ts("2026-03-02T14:30:00Z"));
    assert_eq!(read::instant("2026-03-02", zone).ok(), ts("2026-03-01T16:00:00Z"));
    assert_eq!(read::instant("2026-03", zone).ok(), ts("2026-02-28T16:00:00Z"));
    assert_eq!(read::instant("2026", zone).ok(), ts("2025-12-31T16:00:00Z"));
    for bad in ["2026-03-02T22:30:00", "2026-3-2", "yesterday", "2026-02-30", "", "２０２６-03-02T22:30:00"] {
        assert!(read::instant(bad, zone).is_err(), "{bad}");
    }
}

#[test]
fn resources_of_another_patient_are_never_mapped() {
    let obs = |id: &str, subject: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2524-7"}]}, "subject": {"reference": subject},
            "effectiveDateTime": "2026-03-03T01:00:00Z", "valueQuantity": {"value": 2.0, "system": "http://unitsofmeasure.org", "code": "mmol/L"}})
    };
    let m = map(vec![
        patient(),
        inpatient(),
        obs("mine", "Patient/p1"),
        obs("theirs", "Patient/p2"),
        obs("abs", "http://x/fhir/Patient/p1/_history/2"),
    ]);
    let ids: Vec<&str> = m.encounter.labs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["mine", "abs"]);
    assert_eq!(m.ignored.get("Observation (another patient)"), Some(&1));
}
