//! Condition (diagnoses, their rank from `Encounter.diagnosis`, history), Procedure,
//! AllergyIntolerance and the care-documentation extension.

use serde_json::Value;

use super::encounter::{ext_code, ext_time};
use super::error::{Issue, IssueCode};
use super::index::Res;
use super::read::{arr_at, code_in, concept, obj_at, period_at, str_at, time_at, At, Sink};
use super::stay::{Cx, Owner};
use super::EXTENSION_BASE;
use crate::proto::v1 as pb;

const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// One `Encounter.diagnosis` entry of the index encounter.
struct Listed<'v> {
    reference: &'v str,
    rank: Option<f64>,
    use_code: Option<&'v str>,
    poa: Option<pb::PresentOnAdmission>,
}

fn poa(code: &str) -> Option<pb::PresentOnAdmission> {
    use pb::PresentOnAdmission as P;
    Some(match code {
        "Y" => P::Yes,
        "N" => P::No,
        "U" => P::Unknown,
        "W" => P::ClinicallyUndetermined,
        // "1": exempt from POA reporting.
        "1" => P::Unspecified,
        _ => return None,
    })
}

fn poa_ext(v: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::PresentOnAdmission> {
    let (loc, code) = ext_code(v, "present-on-admission", at, sink)?;
    let out = poa(code);
    if out.is_none() {
        sink.errors.push(Issue::error(IssueCode::Value, loc, "present-on-admission must be Y, N, U, W or 1"));
    }
    out
}

/// Which listed entry is the principal diagnosis: rank 1, preferring the billing, then the
/// discharge diagnosis, then one without a use, then the admission diagnosis.
fn principal(listed: &[Listed<'_>]) -> Option<usize> {
    let pref = |u: Option<&str>| match u {
        Some("billing") => 0,
        Some("DD") => 1,
        None => 2,
        Some("AD") => 3,
        Some(_) => 4,
    };
    listed.iter().enumerate().filter(|(_, l)| l.rank == Some(1.0)).min_by_key(|(_, l)| pref(l.use_code)).map(|(i, _)| i)
}

fn verification(code: Option<&str>) -> pb::VerificationStatus {
    use pb::VerificationStatus as V;
    match code {
        Some("confirmed") => V::Confirmed,
        Some("provisional") => V::Provisional,
        Some("differential") => V::Differential,
        Some("unconfirmed") => V::Unconfirmed,
        Some("refuted") => V::Refuted,
        Some("entered-in-error") => V::EnteredInError,
        _ => V::Unspecified,
    }
}

/// One Condition as a contract diagnosis (rank filled in by the caller).
fn diagnosis(cx: &Cx<'_, '_>, c: &Res<'_>, sink: &mut Sink) -> pb::Diagnosis {
    let at = At::root(&c.root);
    let (codings, _) = concept(c.v, "code", &at, sink);
    if codings.is_empty() {
        sink.error(
            IssueCode::Required,
            &at.field("code").field("coding"),
            "a Condition needs at least one coding (ICD-10 or SNOMED CT)",
        );
    }
    let onset = if c.v.get("onsetDateTime").is_some() {
        time_at(c.v, "onsetDateTime", cx.zone, &at, sink)
    } else {
        period_at(c.v, "onsetPeriod", cx.zone, &at, sink).0
    };
    pb::Diagnosis {
        id: c.item_id(),
        codings,
        recorded_time: time_at(c.v, "recordedDate", cx.zone, &at, sink),
        onset_time: onset,
        verification_status: verification(code_in(c.v, "verificationStatus", None)) as i32,
        present_on_admission: poa_ext(c.v, &at, sink).map_or(0, |p| p as i32),
        ..Default::default()
    }
}

/// Conditions → the index encounter's diagnoses, the earlier encounters' diagnoses and the
/// history (problem list).
pub fn conditions(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let at = At::root(&cx.index.root);
    let mut listed = Vec::new();
    let dat = at.field("diagnosis");
    for (i, d) in arr_at(cx.index.v, "diagnosis", &at, sink).iter().enumerate() {
        let here = dat.index(i);
        let Some(reference) =
            obj_at(d, "condition", &here, sink).and_then(|c| str_at(c, "reference", &here.field("condition"), sink))
        else {
            sink.error(
                IssueCode::Required,
                &here.field("condition").field("reference"),
                "Encounter.diagnosis needs a Condition reference",
            );
            continue;
        };
        let rank = super::read::num_at(d, "rank", &here, sink);
        listed.push(Listed { reference, rank, use_code: code_in(d, "use", None), poa: poa_ext(d, &here, sink) });
    }
    let main = principal(&listed);
    let conds: Vec<&Res<'_>> = cx.idx.of_type("Condition").collect();
    for c in conds {
        if !cx.of_patient(c, "subject", sink) {
            continue;
        }
        let mine: Vec<usize> = (0..listed.len()).filter(|&i| cx.idx.refers_to(listed[i].reference, c)).collect();
        let owner = cx.owner(c, "encounter", sink);
        let mut dx = diagnosis(cx, c, sink);
        if !mine.is_empty() || matches!(owner, Owner::Index) {
            dx.rank = if mine.iter().any(|&i| Some(i) == main) {
                pb::DiagnosisRank::Principal
            } else if mine.iter().any(|&i| listed[i].use_code == Some("AD")) {
                pb::DiagnosisRank::Admitting
            } else {
                pb::DiagnosisRank::Secondary
            } as i32;
            if let Some(p) = mine.iter().find_map(|&i| listed[i].poa) {
                dx.present_on_admission = p as i32;
            }
            e.diagnoses.push(dx);
            continue;
        }
        match owner {
            Owner::Prior(p) => {
                let pid = p.item_id();
                dx.rank = pb::DiagnosisRank::Secondary as i32;
                match e.prior_encounters.iter_mut().find(|x| x.id == pid) {
                    Some(prior) => prior.diagnoses.push(dx),
                    None => cx.ignore("Condition", "encounter not mapped"),
                }
            }
            Owner::Unlinked => {
                // An encounter diagnosis recorded during the stay belongs to it; anything
                // else unlinked (problem list, history) is the patient's history.
                let enc_dx = super::read::any_coding(c.v, "category", CATEGORY, "encounter-diagnosis");
                if enc_dx && dx.recorded_time.is_some() && cx.in_stay(dx.recorded_time.as_ref()) {
                    dx.rank = pb::DiagnosisRank::Secondary as i32;
                    e.diagnoses.push(dx);
                } else {
                    e.prior_conditions.push(dx);
                }
            }
            Owner::Elsewhere => cx.ignore("Condition", "another encounter"),
            Owner::Index => unreachable!("handled above"),
        }
    }
}

/// Procedures of the index stay.
pub fn procedures(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("Procedure").collect();
    for p in all {
        if !cx.of_patient(p, "subject", sink) {
            continue;
        }
        let at = At::root(&p.root);
        if matches!(str_at(p.v, "status", &at, sink), Some("not-done" | "entered-in-error" | "preparation")) {
            cx.ignore("Procedure", "not performed");
            continue;
        }
        let (start, end) = if p.v.get("performedDateTime").is_some() {
            (time_at(p.v, "performedDateTime", cx.zone, &at, sink), None)
        } else {
            period_at(p.v, "performedPeriod", cx.zone, &at, sink)
        };
        match cx.owner(p, "encounter", sink) {
            Owner::Index => {}
            Owner::Unlinked if cx.in_stay(start.as_ref()) => {}
            _ => {
                cx.ignore("Procedure", "not of the index encounter");
                continue;
            }
        }
        let (codings, _) = concept(p.v, "code", &at, sink);
        e.procedures.push(pb::Procedure {
            id: p.item_id(),
            codings,
            start_time: start,
            end_time: end,
            guidewire_crossing_time: ext_time(p.v, "guidewire-crossing", cx.zone, &at, sink),
            ..Default::default()
        });
    }
}

/// AllergyIntolerance (patient-level: every active, not refuted record of the patient).
pub fn allergies(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("AllergyIntolerance").collect();
    for a in all {
        if !cx.of_patient(a, "patient", sink) {
            continue;
        }
        let at = At::root(&a.root);
        if matches!(code_in(a.v, "clinicalStatus", None), Some("inactive" | "resolved")) {
            cx.ignore("AllergyIntolerance", "inactive or resolved");
            continue;
        }
        if matches!(code_in(a.v, "verificationStatus", None), Some("refuted" | "entered-in-error")) {
            cx.ignore("AllergyIntolerance", "refuted or entered-in-error");
            continue;
        }
        let mut ty = match str_at(a.v, "type", &at, sink) {
            Some("allergy") => pb::AllergyType::Allergy,
            Some("intolerance") => pb::AllergyType::Intolerance,
            _ => pb::AllergyType::Unspecified,
        };
        if let Some((loc, code)) = ext_code(a.v, "allergy-type", &at, sink) {
            if code == "contraindication" {
                ty = pb::AllergyType::Contraindication;
            } else {
                sink.errors.push(Issue::error(
                    IssueCode::Value,
                    loc,
                    "allergy-type must be contraindication (allergy and intolerance are AllergyIntolerance.type)",
                ));
            }
        }
        let (substance, _) = concept(a.v, "code", &at, sink);
        let ratt = at.field("reaction");
        let reaction = arr_at(a.v, "reaction", &at, sink).first().and_then(|r| {
            let here = ratt.index(0);
            let m = arr_at(r, "manifestation", &here, sink).first()?;
            super::read::concept_of(m, &here.field("manifestation").index(0), sink).0.into_iter().next()
        });
        e.allergies.push(pb::Allergy {
            id: a.item_id(),
            substance_codings: substance,
            r#type: ty as i32,
            reaction,
            recorded_time: time_at(a.v, "recordedDate", cx.zone, &at, sink),
            ..Default::default()
        });
    }
}

fn role(code: &str) -> Option<pb::PractitionerRole> {
    use pb::PractitionerRole as R;
    Some(match code {
        "physician" => R::Physician,
        "advanced-practice-nurse" => R::AdvancedPracticeNurse,
        "physician-assistant" => R::PhysicianAssistant,
        "pharmacist" => R::Pharmacist,
        "nurse" => R::Nurse,
        "other" => R::Other,
        _ => return None,
    })
}

/// A `documented-by` style code (extension valueCode) → role, or an error.
pub fn role_ext(v: &Value, name: &str, at: &At<'_>, sink: &mut Sink) -> i32 {
    let Some((loc, code)) = ext_code(v, name, at, sink) else { return 0 };
    match role(code) {
        Some(r) => r as i32,
        None => {
            sink.errors.push(Issue::error(IssueCode::Value, loc, format!("{name} must be physician, advanced-practice-nurse, physician-assistant, pharmacist, nurse or other")));
            0
        }
    }
}

/// The `care-documentation` extensions of the index Encounter (comfort measures only,
/// clinical trial), each with `kind`, `time` and optionally `documented-by`.
pub fn care_documentation(cx: &Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let (v, root) = (cx.index.v, At::root(&cx.index.root));
    let url = format!("{EXTENSION_BASE}care-documentation");
    let xat = root.field("extension");
    for (i, x) in arr_at(v, "extension", &root, sink).iter().enumerate() {
        if x.get("url").and_then(Value::as_str) != Some(url.as_str()) {
            continue;
        }
        let here = xat.index(i);
        let sub = |name: &str| {
            x.get("extension")?
                .as_array()?
                .iter()
                .enumerate()
                .find(|(_, s)| s.get("url").and_then(Value::as_str) == Some(name))
        };
        let kind = sub("kind").and_then(|(_, s)| s.get("valueCode")).and_then(Value::as_str);
        let kind = match kind {
            Some("comfort-measures-only") => pb::CareDocumentationKind::ComfortMeasuresOnly,
            Some("clinical-trial") => pb::CareDocumentationKind::ClinicalTrial,
            _ => {
                sink.error(
                    IssueCode::Value,
                    &here,
                    "care-documentation needs a kind extension with valueCode comfort-measures-only or clinical-trial",
                );
                continue;
            }
        };
        let time = match sub("time") {
            Some((j, s)) => {
                let sat = here.field("extension");
                time_at(s, "valueDateTime", cx.zone, &sat.index(j), sink)
            }
            None => None,
        };
        let by = match sub("documented-by") {
            Some((j, s)) => {
                let sat = here.field("extension");
                let code = s.get("valueCode").and_then(Value::as_str).and_then(role);
                if code.is_none() {
                    sink.error(IssueCode::Value, &sat.index(j), "documented-by must be physician, advanced-practice-nurse, physician-assistant, pharmacist, nurse or other");
                }
                code.map_or(0, |r| r as i32)
            }
            None => 0,
        };
        e.care_documentation.push(pb::CareDocumentation {
            id: format!("care-{}", i + 1),
            kind: kind as i32,
            time,
            documented_by: by,
        });
    }
}
