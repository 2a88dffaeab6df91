//! Mapper tests per clinical resource type: Condition, Observation, MedicationRequest,
//! MedicationAdministration, Procedure, AllergyIntolerance.

use serde_json::json;

use super::tests::{fail, inpatient, map, patient, ts};
use super::*;

const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

fn condition(id: &str, code: &str) -> serde_json::Value {
    json!({"resourceType": "Condition", "id": id, "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}, {"system": "http://snomed.info/sct", "code": "22298006"}]}})
}

#[test]
fn conditions_keep_every_coding_rank_verification_onset_and_history() {
    let mut enc = inpatient();
    enc["diagnosis"] = json!([
        {"condition": {"reference": "Condition/adm"}, "use": {"coding": [{"code": "AD"}]}, "rank": 1},
        {"condition": {"reference": "Condition/main"}, "use": {"coding": [{"code": "DD"}]}, "rank": 1,
         "extension": [{"url": "urn:cdssd:fhir:extension:present-on-admission", "valueCode": "Y"}]},
        {"condition": {"reference": "Condition/htn"}, "use": {"coding": [{"code": "DD"}]}, "rank": 2}
    ]);
    let mut main = condition("main", "I21.0");
    main["verificationStatus"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]});
    main["onsetDateTime"] = json!("2026-03-02T20:30:00+08:00");
    main["recordedDate"] = json!("2026-03-02T22:40:00+08:00");
    let adm = condition("adm", "R07.4");
    let htn = condition("htn", "I10");
    let mut linked = condition("linked", "E78.5");
    linked["encounter"] = json!({"reference": "Encounter/e1"});
    linked["verificationStatus"] = json!({"coding": [{"code": "refuted"}]});
    let mut problem = condition("hx", "I25.2");
    problem["category"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}]);
    let mut stay_dx = condition("stay", "N17.9");
    stay_dx["category"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}]);
    stay_dx["recordedDate"] = json!("2026-03-04");
    let old = json!({"resourceType": "Encounter", "id": "old", "status": "finished", "class": {"code": "IMP"},
        "period": {"start": "2025-06-01T08:00:00Z", "end": "2025-06-05T08:00:00Z"}});
    let mut vte = condition("vte", "I26.9");
    vte["encounter"] = json!({"reference": "Encounter/old"});
    let m = map(vec![patient(), enc, main, adm, htn, linked, problem, stay_dx, old, vte]);
    let e = &m.encounter;
    let by =
        |id: &str| e.diagnoses.iter().find(|d| d.id == id).unwrap_or_else(|| panic!("{id} not in {:?}", e.diagnoses));
    use pb::DiagnosisRank as R;
    assert_eq!(by("main").rank, R::Principal as i32, "rank 1 of the discharge diagnoses beats rank 1 of admission");
    assert_eq!(by("adm").rank, R::Admitting as i32);
    assert_eq!(by("htn").rank, R::Secondary as i32);
    assert_eq!(by("main").codings.len(), 2, "every coding kept");
    assert_eq!(by("main").codings[1].system, "http://snomed.info/sct");
    assert_eq!(by("main").verification_status, pb::VerificationStatus::Confirmed as i32);
    assert_eq!(by("main").present_on_admission, pb::PresentOnAdmission::Yes as i32);
    assert_eq!(by("main").onset_time, ts("2026-03-02T12:30:00Z"));
    assert_eq!(by("main").recorded_time, ts("2026-03-02T14:40:00Z"));
    assert_eq!(e.symptom_onset_time, ts("2026-03-02T12:30:00Z"), "the principal diagnosis' onset is the symptom onset");
    assert_eq!(
        by("linked").verification_status,
        pb::VerificationStatus::Refuted as i32,
        "refuted is mapped; validation drops it"
    );
    assert_eq!(by("stay").rank, R::Secondary as i32, "an unlinked encounter diagnosis recorded during the stay");
    assert_eq!(e.prior_conditions.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["hx"]);
    assert_eq!(e.prior_encounters.len(), 1);
    assert_eq!(e.prior_encounters[0].diagnoses[0].id, "vte");
}

fn obs(id: &str, category: &str, loinc: &str) -> serde_json::Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "category": [{"coding": [{"system": LAB, "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}, {"system": "LOCAL", "code": "x-1"}]},
        "effectiveDateTime": "2026-03-03T01:00:00Z"})
}

#[test]
fn observations_sort_into_lists_with_ucum_codes_comparators_coded_values_status_and_components() {
    let mut trop = obs("trop", "laboratory", "89579-7");
    trop["valueQuantity"] =
        json!({"value": 3, "comparator": "<", "unit": "ng/l", "system": "http://unitsofmeasure.org", "code": "ng/L"});
    trop["issued"] = json!("2026-03-03T01:40:00Z");
    trop["referenceRange"] = json!([{"high": {"value": 26, "code": "ng/L"}}]);
    let mut smoke = obs("smoke", "social-history", "72166-2");
    smoke["valueCodeableConcept"] = json!({"coding": [{"system": "http://loinc.org", "code": "LA18976-3"}, {"system": "http://snomed.info/sct", "code": "77176002"}], "text": "Smoker"});
    let mut bp = obs("bp", "vital-signs", "85354-9");
    bp["component"] = json!([
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 142, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 88, "unit": "mm[Hg]"}}
    ]);
    let mut culture = obs("bcx", "laboratory", "600-7");
    culture["status"] = json!("registered");
    let mut wrong = obs("err", "laboratory", "2524-7");
    wrong["status"] = json!("entered-in-error");
    wrong["valueQuantity"] = json!({"value": 9.9, "code": "mmol/L"});
    let mut nihss = obs("nihss", "survey", "70182-1");
    nihss["valueInteger"] = json!(11);
    let mut before = obs("before", "laboratory", "2160-0");
    before.as_object_mut().unwrap().remove("encounter");
    before["effectiveDateTime"] = json!("2026-01-01T00:00:00Z");
    before["valueQuantity"] = json!({"value": 1.0, "code": "mg/dL"});
    let m = map(vec![patient(), inpatient(), trop, smoke, bp, culture, wrong, nihss, before]);
    let e = &m.encounter;
    use pb::observation::Value as V;
    let t = &e.labs[0];
    assert_eq!(t.id, "trop");
    let Some(V::Quantity(q)) = &t.value else { panic!("{t:?}") };
    assert_eq!(
        (q.value, q.unit.as_str(), q.comparator),
        (3.0, "ng/L", pb::QuantityComparator::LessThan as i32),
        "the UCUM code, not the display unit"
    );
    assert_eq!(t.codings.len(), 2);
    assert_eq!(t.issued_time, ts("2026-03-03T01:40:00Z"));
    assert_eq!(t.reference_range.as_ref().map(|r| (r.high, r.unit.as_str())), Some((Some(26.0), "ng/L")));
    assert_eq!(t.status, pb::ObservationStatus::Final as i32);
    let ids: Vec<&str> = e.labs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["trop", "bcx", "err"], "the creatinine before the stay is not the stay's");
    assert!(
        matches!(&e.labs[1].value, Some(V::Text(t)) if t.contains("registered")),
        "a culture not yet resulted keeps its time"
    );
    assert_eq!(e.labs[2].status, pb::ObservationStatus::EnteredInError as i32, "mapped; validation drops it");
    let vit: Vec<&str> = e.vitals.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(vit, vec!["bp/8480-6", "bp/8462-4"], "one observation per component");
    assert!(matches!(&e.vitals[1].value, Some(V::Quantity(q)) if q.value == 88.0 && q.unit == "mm[Hg]"));
    assert_eq!(e.vitals[1].effective_time, ts("2026-03-03T01:00:00Z"));
    let smoke = e.assessments.iter().find(|o| o.id == "smoke").unwrap();
    let Some(V::Coded(c)) = &smoke.value else { panic!("{smoke:?}") };
    assert_eq!((c.codings.len(), c.text.as_str()), (2, "Smoker"));
    let n = e.assessments.iter().find(|o| o.id == "nihss").unwrap();
    assert!(matches!(&n.value, Some(V::Quantity(q)) if q.value == 11.0 && q.unit == "1"));
    assert_eq!(m.ignored.get("Observation (not of the index encounter)"), Some(&1));
}

#[test]
fn a_bad_comparator_is_an_error_at_its_location() {
    let mut o = obs("o", "laboratory", "2524-7");
    o["valueQuantity"] = json!({"value": 2, "comparator": "~", "code": "mmol/L"});
    let err = fail(vec![patient(), inpatient(), o]);
    assert_eq!(err.issues[0].expression, "Bundle.entry[2].resource.valueQuantity.comparator");
    assert_eq!(err.issues[0].code, IssueCode::Value);
}

fn med(kind: &str, id: &str) -> serde_json::Value {
    json!({"resourceType": kind, "id": id, "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AC06", "display": "acetylsalicylic acid"},
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1191"}], "text": "Aspirin 100 mg"}})
}

#[test]
fn medication_requests_map_discharge_prescriptions_status_dose_rate_route_and_frequency() {
    let mut dc = med("MedicationRequest", "dc-asp");
    dc["status"] = json!("active");
    dc["intent"] = json!("order");
    dc["encounter"] = json!({"reference": "Encounter/e1"});
    dc["category"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "discharge"}]}]);
    dc["authoredOn"] = json!("2026-03-06T09:00:00+08:00");
    dc["dosageInstruction"] = json!([{"timing": {"code": {"coding": [{"code": "QD"}]}, "repeat": {"boundsPeriod": {"end": "2027-03-06"}}},
        "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}], "text": "PO"},
        "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg", "code": "mg"}}]}]);
    let mut ne = json!({"resourceType": "MedicationRequest", "id": "ne", "status": "on-hold", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
        "medicationReference": {"reference": "Medication/norepi"}, "authoredOn": "2026-03-03T01:00:00Z",
        "dosageInstruction": [{"doseAndRate": [{"rateRatio": {"numerator": {"value": 0.1, "code": "ug/kg"}, "denominator": {"value": 1, "code": "min"}}}]}]});
    ne["note"] = json!([{"text": "free text never mapped"}]);
    let medication = json!({"resourceType": "Medication", "id": "norepi", "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "C01CA03", "display": "norepinephrine"}]}});
    let mut gone = med("MedicationRequest", "gone");
    gone["status"] = json!("entered-in-error");
    let m = map(vec![patient(), inpatient(), dc, ne, medication, gone]);
    let o = &m.encounter.medication_orders;
    assert_eq!(o.len(), 2);
    assert!(o[0].discharge_medication);
    assert_eq!((o[0].name.as_str(), o[0].codes.len()), ("Aspirin 100 mg", 2));
    assert_eq!(o[0].status, pb::OrderStatus::Active as i32);
    assert_eq!(o[0].order_time, ts("2026-03-06T01:00:00Z"));
    assert_eq!((o[0].route.as_str(), o[0].route_code.as_ref().map(|c| c.code.as_str())), ("PO", Some("26643006")));
    assert_eq!(o[0].frequency, "QD");
    assert_eq!(o[0].dose.as_ref().map(|d| (d.value, d.unit.as_str())), Some((100.0, "mg")));
    assert_eq!(o[0].end_time, ts("2027-03-05T16:00:00Z"));
    assert_eq!(o[1].status, pb::OrderStatus::OnHold as i32);
    assert_eq!(
        (o[1].name.as_str(), o[1].codes[0].code.as_str()),
        ("norepinephrine", "C01CA03"),
        "codes of the referenced Medication"
    );
    assert_eq!(o[1].dose_rate.as_ref().map(|d| (d.value, d.unit.as_str())), Some((0.1, "ug/kg/min")));
    assert!(!o[1].discharge_medication);
    assert_eq!(m.ignored.get("MedicationRequest (entered-in-error or unknown status)"), Some(&1));
}

#[test]
fn medication_administrations_map_dose_rate_route_status_reason_and_period() {
    let mut given = med("MedicationAdministration", "ma-1");
    given["status"] = json!("completed");
    given["context"] = json!({"reference": "Encounter/e1"});
    given["request"] = json!({"reference": "MedicationRequest/mo-1"});
    given["effectivePeriod"] = json!({"start": "2026-03-02T22:38:00+08:00", "end": "2026-03-02T23:38:00+08:00"});
    given["dosage"] = json!({"dose": {"value": 300, "unit": "milligram", "system": "http://unitsofmeasure.org", "code": "mg"},
        "rateQuantity": {"value": 125, "code": "mL/h"}, "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}});
    let mut refused = med("MedicationAdministration", "ma-2");
    refused["status"] = json!("not-done");
    refused["context"] = json!({"reference": "Encounter/e1"});
    refused["effectiveDateTime"] = json!("2026-03-03T08:00:00+08:00");
    refused["statusReason"] =
        json!([{"coding": [{"system": "http://snomed.info/sct", "code": "182895007"}], "text": "declined"}]);
    refused["extension"] = json!([
        {"url": "urn:cdssd:fhir:extension:reason-class", "valueCode": "patient-refusal"},
        {"url": "urn:cdssd:fhir:extension:reason-documented-by", "valueCode": "pharmacist"}]);
    let mut silent = med("MedicationAdministration", "ma-3");
    silent["status"] = json!("not-done");
    silent["context"] = json!({"reference": "Encounter/e1"});
    silent["effectiveDateTime"] = json!("2026-03-03T08:00:00+08:00");
    let m = map(vec![patient(), inpatient(), given, refused, silent]);
    let a = &m.encounter.medication_administrations;
    assert_eq!(a.len(), 2, "a not-done without a reason is left out");
    assert_eq!(m.warnings.iter().filter(|w| w.expression == "Bundle.entry[4].resource.statusReason").count(), 1);
    assert_eq!(a[0].status, pb::AdministrationStatus::Completed as i32);
    assert_eq!(a[0].order_id, "mo-1");
    assert_eq!((a[0].start_time, a[0].end_time), (ts("2026-03-02T14:38:00Z"), ts("2026-03-02T15:38:00Z")));
    assert_eq!(a[0].dose.as_ref().map(|d| d.unit.as_str()), Some("mg"));
    assert_eq!(a[0].dose_rate.as_ref().map(|d| (d.value, d.unit.as_str())), Some((125.0, "mL/h")));
    assert_eq!((a[0].route.as_str(), a[0].route_code.as_ref().map(|c| c.code.as_str())), ("", Some("47625008")));
    assert_eq!(a[1].status, pb::AdministrationStatus::NotGiven as i32);
    assert_eq!(a[1].reason_not_given.as_ref().map(|c| c.code.as_str()), Some("182895007"));
    assert_eq!(a[1].reason_text, "declined");
    assert_eq!(a[1].reason_class, pb::ReasonClass::PatientRefusal as i32);
    assert_eq!(a[1].reason_documented_by, pb::PractitionerRole::Pharmacist as i32);
}

#[test]
fn procedures_map_codings_period_and_guidewire_and_skip_what_was_not_done() {
    let pci = json!({"resourceType": "Procedure", "id": "pci", "status": "completed", "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "00.66"}, {"system": "http://snomed.info/sct", "code": "415070008"}]},
        "performedPeriod": {"start": "2026-03-02T23:40:00+08:00", "end": "2026-03-03T00:12:00+08:00"},
        "extension": [{"url": "urn:cdssd:fhir:extension:guidewire-crossing", "valueDateTime": "2026-03-02T23:45:00+08:00"}]});
    let ecg = json!({"resourceType": "Procedure", "id": "ecg", "status": "completed", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "89.52"}]}, "performedDateTime": "2026-03-02T22:34:00+08:00"});
    let not_done = json!({"resourceType": "Procedure", "id": "nd", "status": "not-done", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "88.72"}]}});
    let m = map(vec![patient(), inpatient(), pci, ecg, not_done]);
    let p = &m.encounter.procedures;
    assert_eq!(p.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec!["pci", "ecg"]);
    assert_eq!(p[0].codings.len(), 2);
    assert_eq!((p[0].start_time, p[0].end_time), (ts("2026-03-02T15:40:00Z"), ts("2026-03-02T16:12:00Z")));
    assert_eq!(p[0].guidewire_crossing_time, ts("2026-03-02T15:45:00Z"));
    assert_eq!(p[1].start_time, ts("2026-03-02T14:34:00Z"));
    assert_eq!(m.ignored.get("Procedure (not performed)"), Some(&1));
}

#[test]
fn allergies_map_substance_type_reaction_and_skip_refuted_or_resolved() {
    let a = json!({"resourceType": "AllergyIntolerance", "id": "alg-1", "patient": {"reference": "Patient/p1"}, "type": "allergy", "criticality": "high",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "C09AA"}, {"system": "http://snomed.info/sct", "code": "41549009"}]},
        "reaction": [{"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "41291007", "display": "Angioedema"}]}]}],
        "recordedDate": "2025-02-01"});
    let ci = json!({"resourceType": "AllergyIntolerance", "id": "alg-2", "patient": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AC"}]},
        "extension": [{"url": "urn:cdssd:fhir:extension:allergy-type", "valueCode": "contraindication"}]});
    let refuted = json!({"resourceType": "AllergyIntolerance", "id": "alg-3", "patient": {"reference": "Patient/p1"},
        "verificationStatus": {"coding": [{"code": "refuted"}]}, "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA"}]}});
    let resolved = json!({"resourceType": "AllergyIntolerance", "id": "alg-4", "patient": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "resolved"}]}, "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA"}]}});
    let m = map(vec![patient(), inpatient(), a, ci, refuted, resolved]);
    let al = &m.encounter.allergies;
    assert_eq!(al.len(), 2);
    assert_eq!((al[0].r#type, al[0].substance_codings.len()), (pb::AllergyType::Allergy as i32, 2));
    assert_eq!(al[0].reaction.as_ref().map(|c| c.code.as_str()), Some("41291007"));
    assert_eq!(al[0].recorded_time, ts("2025-01-31T16:00:00Z"));
    assert_eq!(al[1].r#type, pb::AllergyType::Contraindication as i32);
    assert_eq!(m.ignored.get("AllergyIntolerance (refuted or entered-in-error)"), Some(&1));
    assert_eq!(m.ignored.get("AllergyIntolerance (inactive or resolved)"), Some(&1));
}

#[test]
fn document_references_map_type_date_and_plain_text() {
    let note = json!({"resourceType": "DocumentReference", "id": "note-dc-1", "status": "current", "subject": {"reference": "Patient/p1"},
        "type": {"coding": [{"system": "http://loinc.org", "code": "8653-8"}]}, "date": "2026-03-06T09:30:00+08:00",
        "content": [{"attachment": {"contentType": "application/pdf", "data": "JVBERi0="}},
                    {"attachment": {"contentType": "text/plain; charset=utf-8", "data": "VGFrZSBhc3BpcmluIGRhaWx5Lg=="}}],
        "context": {"encounter": [{"reference": "Encounter/e1"}]}});
    let old = json!({"resourceType": "DocumentReference", "id": "old", "status": "superseded", "subject": {"reference": "Patient/p1"},
        "type": {"coding": [{"system": "http://loinc.org", "code": "8653-8"}]}, "date": "2026-03-06T09:00:00+08:00", "content": []});
    let m = map(vec![patient(), inpatient(), note, old]);
    let n = &m.encounter.notes;
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].id.as_str(), n[0].text.as_str()), ("note-dc-1", "Take aspirin daily."));
    assert_eq!(n[0].r#type.as_ref().map(|c| c.code.as_str()), Some("8653-8"));
    assert_eq!(n[0].authored_time, ts("2026-03-06T01:30:00Z"));
    assert_eq!(m.ignored.get("DocumentReference (superseded or entered-in-error)"), Some(&1));
}
