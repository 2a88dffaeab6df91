//! Patient and Encounter (class, class history, period, hospitalization, service type,
//! location history, the project extensions) and the patient's earlier encounters.

use serde_json::Value;

use super::error::IssueCode;
use super::index::Res;
use super::read::{
    arr_at, bool_at, code_in, concept, is_fhir_date, obj_at, period_at, str_at, time_at, At, Sink, Zone,
};
use super::stay::Cx;
use super::EXTENSION_BASE;
use crate::proto::v1 as pb;

const ADMIT_SOURCE: &str = "http://terminology.hl7.org/CodeSystem/admit-source";
const DISPOSITION: &str = "http://terminology.hl7.org/CodeSystem/discharge-disposition";

/// The value of the project extension `name` on `obj`, with its location.
pub fn ext<'v>(obj: &'v Value, name: &str) -> Option<(usize, &'v Value)> {
    let url = format!("{EXTENSION_BASE}{name}");
    super::read::extension(obj, &url)
}

/// A project extension's `value[x]` of type `valueDateTime`.
pub fn ext_time(obj: &Value, name: &str, zone: Zone, at: &At<'_>, sink: &mut Sink) -> Option<pbjson_types::Timestamp> {
    let (i, e) = ext(obj, name)?;
    let here = at.field("extension");
    let here = here.index(i);
    if e.get("valueDateTime").is_none() {
        sink.error(IssueCode::Required, &here, format!("extension {name} needs valueDateTime"));
        return None;
    }
    time_at(e, "valueDateTime", zone, &here, sink)
}

/// A project extension's `valueCode`.
pub fn ext_code<'v>(obj: &'v Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<(String, &'v str)> {
    let (i, e) = ext(obj, name)?;
    let here = at.field("extension");
    let here = here.index(i);
    let v = str_at(e, "valueCode", &here, sink);
    if v.is_none() && e.get("valueCode").is_none() {
        sink.error(IssueCode::Required, &here, format!("extension {name} needs valueCode"));
    }
    Some((here.field("valueCode").to_string(), v?))
}

/// v3 ActCode encounter class → the contract's class.
pub fn class(code: &str) -> Option<pb::EncounterClass> {
    Some(match code {
        "IMP" | "ACUTE" | "NONAC" => pb::EncounterClass::Inpatient,
        "EMER" => pb::EncounterClass::Emergency,
        "AMB" | "VR" | "HH" | "FLD" | "PRENC" => pb::EncounterClass::Outpatient,
        "OBSENC" | "SS" => pb::EncounterClass::Observation,
        _ => return None,
    })
}

/// `Encounter.class` (a Coding in R4) → the contract's class, or an error.
fn class_of(v: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::EncounterClass> {
    let Some(c) = obj_at(v, "class", at, sink) else {
        sink.error(
            IssueCode::Required,
            &at.field("class"),
            "Encounter.class is required (v3 ActCode IMP, EMER, AMB, OBSENC...)",
        );
        return None;
    };
    let code = str_at(c, "code", &at.field("class"), sink)?;
    let out = class(code);
    if out.is_none() {
        sink.error(
            IssueCode::Value,
            &at.field("class").field("code"),
            "not a mapped v3 ActCode class (IMP, ACUTE, NONAC, EMER, AMB, VR, HH, FLD, PRENC, OBSENC, SS)",
        );
    }
    out
}

fn disposition(code: &str) -> Option<pb::DischargeDisposition> {
    use pb::DischargeDisposition as D;
    Some(match code {
        "home" | "alt-home" => D::Home,
        "other-hcf" => D::TransferAcuteCare,
        "hosp" => D::Hospice,
        "snf" | "long" => D::SkilledNursing,
        "aadvice" => D::LeftAgainstAdvice,
        "exp" => D::Expired,
        "psy" | "rehab" | "oth" => D::Other,
        _ => return None,
    })
}

fn patient(r: &Res<'_>, sink: &mut Sink) -> pb::Patient {
    let at = At::root(&r.root);
    let mut p = pb::Patient { id: r.item_id(), ..Default::default() };
    if let Some(b) = str_at(r.v, "birthDate", &at, sink) {
        if is_fhir_date(b) {
            p.birth_date = b.to_string();
        } else {
            sink.error(IssueCode::Value, &at.field("birthDate"), "not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)");
        }
    }
    p.sex = match str_at(r.v, "gender", &at, sink) {
        Some("male") => pb::Sex::Male,
        Some("female") => pb::Sex::Female,
        Some("other") => pb::Sex::Other,
        Some("unknown") => pb::Sex::Unknown,
        None => pb::Sex::Unspecified,
        Some(_) => {
            sink.error(IssueCode::Value, &at.field("gender"), "must be male, female, other or unknown");
            pb::Sex::Unspecified
        }
    } as i32;
    // US Core race (ombCategory), the one race element in common use with FHIR R4.
    if let Some((_, race)) = super::read::extension(r.v, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race")
    {
        let omb = race
            .get("extension")
            .and_then(Value::as_array)
            .and_then(|subs| subs.iter().find(|s| s.get("url").and_then(Value::as_str) == Some("ombCategory")));
        if let Some(c) = omb.and_then(|o| o.get("valueCoding")) {
            p.race = super::read::coding(c, &at.field("extension"), sink);
        }
    }
    p
}

/// Build the whole encounter.
pub fn build(cx: &mut Cx<'_, '_>, sink: &mut Sink) -> pb::Encounter {
    let r = cx.index;
    let at = At::root(&r.root);
    let v = r.v;
    let mut e = pb::Encounter { id: r.item_id(), patient: Some(patient(cx.patient, sink)), ..Default::default() };
    let cls = class_of(v, &at, sink);
    e.encounter_class = cls.map_or(0, |c| c as i32);
    let (start, end) = cx.period;
    e.arrival_time = start;
    if start.is_none() {
        sink.error(
            IssueCode::Required,
            &at.field("period").field("start"),
            "the index encounter needs period.start (the arrival)",
        );
    }
    // Admission: the start of the first inpatient class in classHistory; without a class
    // history an inpatient encounter is a direct admission at its start.
    let history = arr_at(v, "classHistory", &at, sink);
    let hat = at.field("classHistory");
    let mut admission = None;
    for (i, h) in history.iter().enumerate() {
        let here = hat.index(i);
        let inpatient =
            obj_at(h, "class", &here, sink).and_then(|c| str_at(c, "code", &here.field("class"), sink)).and_then(class)
                == Some(pb::EncounterClass::Inpatient);
        if inpatient {
            admission = period_at(h, "period", cx.zone, &here, sink).0;
            break;
        }
    }
    if admission.is_none() && cls == Some(pb::EncounterClass::Inpatient) {
        admission = start;
    }
    e.admission_time = admission;
    let status = str_at(v, "status", &at, sink);
    let finished = matches!(status, Some("finished") | Some("unknown") | None);
    if finished {
        e.discharge_time = end;
    } else if end.is_some() {
        sink.warn(
            IssueCode::Informational,
            &at.field("period").field("end"),
            "period.end of an encounter that is not finished is not a discharge: left out",
        );
    }
    if let Some(h) = obj_at(v, "hospitalization", &at, sink) {
        let hat = at.field("hospitalization");
        e.transferred_in = code_in(h, "admitSource", Some(ADMIT_SOURCE)) == Some("hosp-trans");
        if let Some(code) =
            code_in(h, "dischargeDisposition", Some(DISPOSITION)).or_else(|| code_in(h, "dischargeDisposition", None))
        {
            match disposition(code) {
                Some(d) if e.discharge_time.is_some() => e.discharge_disposition = d as i32,
                Some(_) => {}
                None => sink.error(IssueCode::Value, &hat.field("dischargeDisposition"), "not a discharge-disposition code (home, alt-home, other-hcf, hosp, long, aadvice, exp, psy, rehab, snf, oth)"),
            }
        }
        if h.get("reAdmission").is_some() {
            e.first_admission = Some(false);
        }
    }
    // Department: the service (Encounter.serviceType), as its code.
    let (service, text) = concept(v, "serviceType", &at, sink);
    e.department = service.first().map(|c| c.code.clone()).unwrap_or(text);
    e.locations = locations(cx, sink);
    extensions(cx, &mut e, sink);
    e.prior_encounters = cx.priors.clone().iter().filter_map(|p| prior(cx, p, sink)).collect();
    super::clinical::conditions(cx, &mut e, sink);
    super::observation::observations(cx, &mut e, sink);
    super::medication::requests(cx, &mut e, sink);
    super::medication::administrations(cx, &mut e, sink);
    super::clinical::procedures(cx, &mut e, sink);
    super::clinical::allergies(cx, &mut e, sink);
    super::notes::notes(cx, &mut e, sink);
    // Symptom onset: the extension, else the onset of the principal diagnosis.
    if e.symptom_onset_time.is_none() {
        let principal = e.diagnoses.iter().find(|d| d.rank == pb::DiagnosisRank::Principal as i32);
        e.symptom_onset_time = principal.and_then(|d| d.onset_time);
    }
    e
}

/// The project extensions on Encounter.
fn extensions(cx: &Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let (v, root) = (cx.index.v, At::root(&cx.index.root));
    e.last_known_well_time = ext_time(v, "last-known-well", cx.zone, &root, sink);
    e.symptom_onset_time = ext_time(v, "symptom-onset", cx.zone, &root, sink);
    e.prehospital_ecg_time = ext_time(v, "prehospital-ecg", cx.zone, &root, sink);
    if let Some((i, x)) = ext(v, "first-admission") {
        let here = root.field("extension");
        e.first_admission = bool_at(x, "valueBoolean", &here.index(i), sink);
    }
    if let Some((loc, code)) = ext_code(v, "arrival-mode", &root, sink) {
        e.arrival_mode = match code {
            "ems" => pb::ArrivalMode::Ems,
            "walk-in" => pb::ArrivalMode::WalkIn,
            "transfer" => pb::ArrivalMode::Transfer,
            "other" => pb::ArrivalMode::Other,
            _ => {
                sink.errors.push(super::Issue::error(
                    IssueCode::Value,
                    loc,
                    "arrival-mode must be ems, walk-in, transfer or other",
                ));
                pb::ArrivalMode::Unspecified
            }
        } as i32;
    }
    super::clinical::care_documentation(cx, e, sink);
}

/// Location type from v3 RoleCode (Location.type) or the location's physical type.
fn location_type(codes: &[pb::Coding]) -> Option<pb::LocationType> {
    use pb::LocationType as L;
    codes.iter().find_map(|c| {
        Some(match c.code.as_str() {
            "ER" | "ETU" => L::Emergency,
            "ICU" | "PEDICU" | "PEDNICU" => L::Icu,
            "CCU" => L::Ccu,
            "OR" => L::OperatingRoom,
            "CATH" => L::CathLab,
            "NCCS" => L::StrokeUnit,
            "HU" | "wa" => L::Ward,
            _ => return None,
        })
    })
}

fn locations(cx: &Cx<'_, '_>, sink: &mut Sink) -> Vec<pb::LocationStay> {
    let at = At::root(&cx.index.root);
    let list = arr_at(cx.index.v, "location", &at, sink);
    let lat = at.field("location");
    let mut out = Vec::new();
    for (i, l) in list.iter().enumerate() {
        let here = lat.index(i);
        if matches!(str_at(l, "status", &here, sink), Some("planned")) {
            continue;
        }
        let reference =
            obj_at(l, "location", &here, sink).and_then(|r| str_at(r, "reference", &here.field("location"), sink));
        let resolved = reference.and_then(|r| cx.idx.resolve(r)).filter(|r| r.ty == "Location");
        let mut codes = Vec::new();
        let mut unit_code = String::new();
        if let Some(loc) = resolved {
            let lat = At::root(&loc.root);
            for (j, t) in arr_at(loc.v, "type", &lat, sink).iter().enumerate() {
                let tat = lat.field("type");
                codes.extend(super::read::concept_of(t, &tat.index(j), sink).0);
            }
            unit_code = arr_at(loc.v, "identifier", &lat, sink)
                .first()
                .and_then(|id| id.get("value").and_then(Value::as_str))
                .or(loc.id)
                .unwrap_or_default()
                .to_string();
        } else if let Some((_, id)) = reference.and_then(super::read::reference_key) {
            unit_code = id.to_string();
        }
        codes.extend(concept(l, "physicalType", &here, sink).0);
        let (start, end) = period_at(l, "period", cx.zone, &here, sink);
        let ty = location_type(&codes).unwrap_or(pb::LocationType::Other);
        out.push(pb::LocationStay {
            id: format!("loc-{}", i + 1),
            r#type: ty as i32,
            unit_code,
            start_time: start,
            end_time: end,
        });
    }
    out
}

fn prior(cx: &Cx<'_, '_>, p: &Res<'_>, sink: &mut Sink) -> Option<pb::PriorEncounter> {
    let at = At::root(&p.root);
    let c = obj_at(p.v, "class", &at, sink).and_then(|c| str_at(c, "code", &at.field("class"), sink)).and_then(class);
    let Some(c) = c else {
        sink.warn(
            IssueCode::NotSupported,
            &at.field("class"),
            "an earlier encounter without a mapped class is left out of the history",
        );
        return None;
    };
    let (start, end) = period_at(p.v, "period", cx.zone, &at, sink);
    let finished = matches!(str_at(p.v, "status", &at, sink), Some("finished") | Some("unknown") | None);
    Some(pb::PriorEncounter {
        id: p.item_id(),
        encounter_class: c as i32,
        arrival_time: Some(start?),
        discharge_time: if finished { end } else { None },
        diagnoses: Vec::new(),
    })
}
