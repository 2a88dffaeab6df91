//! MedicationRequest (inpatient orders and discharge prescriptions) and
//! MedicationAdministration (dose, rate, route, status, statusReason, period).

use serde_json::Value;

use super::clinical::role_ext;
use super::encounter::ext_code;
use super::error::{Issue, IssueCode};
use super::index::Res;
use super::read::{arr_at, concept, concept_of, obj_at, period_at, quantity, str_at, time_at, At, Sink};
use super::stay::{Cx, Owner};
use crate::proto::v1 as pb;

const REQUEST_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/medicationrequest-category";

/// The drug: `medicationCodeableConcept`, or the codes of the referenced Medication.
fn drug(cx: &Cx<'_, '_>, r: &Res<'_>, sink: &mut Sink) -> (Vec<pb::Coding>, String) {
    let at = At::root(&r.root);
    if r.v.get("medicationCodeableConcept").is_some() {
        return concept(r.v, "medicationCodeableConcept", &at, sink);
    }
    let Some(reference) = super::read::reference(r.v, "medicationReference", &at, sink) else {
        sink.error(
            IssueCode::Required,
            &at.field("medication[x]"),
            "medicationCodeableConcept or medicationReference is required",
        );
        return (Vec::new(), String::new());
    };
    match cx.idx.resolve(reference).filter(|m| m.ty == "Medication") {
        Some(m) => concept(m.v, "code", &At::root(&m.root), sink),
        None => {
            sink.error(
                IssueCode::NotFound,
                &at.field("medicationReference").field("reference"),
                "the Medication is not in the input (send it, or use medicationCodeableConcept)",
            );
            (Vec::new(), String::new())
        }
    }
}

fn name(codes: &[pb::Coding], text: String) -> String {
    if !text.is_empty() {
        return text;
    }
    codes.first().map(|c| if c.display.is_empty() { c.code.clone() } else { c.display.clone() }).unwrap_or_default()
}

/// A dosage's route: the text (`route.text`) and the first coding.
fn route(d: &Value, at: &At<'_>, sink: &mut Sink) -> (String, Option<pb::Coding>) {
    let (codes, text) = concept(d, "route", at, sink);
    (text, codes.into_iter().next())
}

/// `rateQuantity`, or `rateRatio` as one quantity (`125 mL` per `1 h` → 125 mL/h).
fn rate(d: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::Quantity> {
    if let Some(q) = d.get("rateQuantity") {
        return quantity(q, &at.field("rateQuantity"), sink);
    }
    let r = obj_at(d, "rateRatio", at, sink)?;
    let rat = at.field("rateRatio");
    let n = quantity(r.get("numerator")?, &rat.field("numerator"), sink)?;
    let dq = quantity(r.get("denominator")?, &rat.field("denominator"), sink)?;
    if dq.value == 0.0 {
        sink.error(IssueCode::Value, &rat.field("denominator").field("value"), "a rate's denominator must not be 0");
        return None;
    }
    let per = if dq.value == 1.0 { dq.unit.clone() } else { format!("({}.{})", dq.value, dq.unit) };
    Some(pb::Quantity { value: n.value, unit: format!("{}/{per}", n.unit), comparator: n.comparator })
}

fn order_status(s: Option<&str>) -> Option<pb::OrderStatus> {
    use pb::OrderStatus as S;
    Some(match s? {
        "active" => S::Active,
        "on-hold" => S::OnHold,
        "cancelled" => S::Cancelled,
        "completed" => S::Completed,
        "stopped" => S::Discontinued,
        "draft" => S::Draft,
        _ => return None,
    })
}

/// MedicationRequests of the index stay → medication orders (category `discharge` → a
/// discharge prescription).
pub fn requests(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("MedicationRequest").collect();
    for r in all {
        if !cx.of_patient(r, "subject", sink) {
            continue;
        }
        let at = At::root(&r.root);
        let raw_status = str_at(r.v, "status", &at, sink);
        let Some(status) = order_status(raw_status) else {
            cx.ignore("MedicationRequest", "entered-in-error or unknown status");
            continue;
        };
        let order_time = time_at(r.v, "authoredOn", cx.zone, &at, sink);
        match cx.owner(r, "encounter", sink) {
            Owner::Index => {}
            Owner::Unlinked if cx.in_stay(order_time.as_ref()) => {}
            _ => {
                cx.ignore("MedicationRequest", "not of the index encounter");
                continue;
            }
        }
        let (codes, text) = drug(cx, r, sink);
        let discharge = super::read::any_coding(r.v, "category", REQUEST_CATEGORY, "discharge");
        let mut o = pb::MedicationOrder {
            id: r.item_id(),
            name: name(&codes, text),
            codes,
            order_time,
            status: status as i32,
            discharge_medication: discharge,
            ..Default::default()
        };
        let dat = at.field("dosageInstruction");
        if let Some(d) = arr_at(r.v, "dosageInstruction", &at, sink).first() {
            let here = dat.index(0);
            (o.route, o.route_code) = route(d, &here, sink);
            if let Some(t) = obj_at(d, "timing", &here, sink) {
                let tat = here.field("timing");
                let (codes, text) = concept(t, "code", &tat, sink);
                o.frequency = codes.first().map(|c| c.code.clone()).unwrap_or(text);
                if let Some(rep) = obj_at(t, "repeat", &tat, sink) {
                    o.end_time = period_at(rep, "boundsPeriod", cx.zone, &tat.field("repeat"), sink).1;
                }
            }
            let rat = here.field("doseAndRate");
            if let Some(dr) = arr_at(d, "doseAndRate", &here, sink).first() {
                let drat = rat.index(0);
                if let Some(q) = dr.get("doseQuantity") {
                    o.dose = quantity(q, &drat.field("doseQuantity"), sink);
                }
                o.dose_rate = rate(dr, &drat, sink);
            }
        }
        if o.end_time.is_none() {
            if let Some(dr) = obj_at(r.v, "dispenseRequest", &at, sink) {
                o.end_time = period_at(dr, "validityPeriod", cx.zone, &at.field("dispenseRequest"), sink).1;
            }
        }
        e.medication_orders.push(o);
    }
}

fn admin_status(s: Option<&str>) -> Option<pb::AdministrationStatus> {
    use pb::AdministrationStatus as S;
    Some(match s? {
        "completed" => S::Completed,
        "in-progress" | "on-hold" => S::InProgress,
        "stopped" => S::Stopped,
        "not-done" => S::NotGiven,
        _ => return None,
    })
}

fn reason_class(code: &str) -> Option<pb::ReasonClass> {
    use pb::ReasonClass as R;
    Some(match code {
        "clinical-contraindication" => R::ClinicalContraindication,
        "patient-refusal" => R::PatientRefusal,
        "system-logistics" => R::SystemLogistics,
        "other" => R::Other,
        _ => return None,
    })
}

/// MedicationAdministrations of the index stay.
pub fn administrations(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("MedicationAdministration").collect();
    for m in all {
        if !cx.of_patient(m, "subject", sink) {
            continue;
        }
        let at = At::root(&m.root);
        let Some(status) = admin_status(str_at(m.v, "status", &at, sink)) else {
            cx.ignore("MedicationAdministration", "entered-in-error or unknown status");
            continue;
        };
        let (start, end) = if m.v.get("effectiveDateTime").is_some() {
            (time_at(m.v, "effectiveDateTime", cx.zone, &at, sink), None)
        } else {
            period_at(m.v, "effectivePeriod", cx.zone, &at, sink)
        };
        match cx.owner(m, "context", sink) {
            Owner::Index => {}
            Owner::Unlinked if cx.in_stay(start.as_ref()) => {}
            _ => {
                cx.ignore("MedicationAdministration", "not of the index encounter");
                continue;
            }
        }
        let (codes, text) = drug(cx, m, sink);
        let mut a = pb::MedicationAdministration {
            id: m.item_id(),
            name: name(&codes, text),
            codes,
            start_time: start,
            end_time: end,
            status: status as i32,
            ..Default::default()
        };
        if let Some(reference) = super::read::reference(m.v, "request", &at, sink) {
            a.order_id = match cx.idx.resolve(reference) {
                Some(o) => o.item_id(),
                None => super::read::reference_key(reference)
                    .map_or_else(|| reference.to_string(), |(_, id)| id.to_string()),
            };
        }
        if let Some(d) = obj_at(m.v, "dosage", &at, sink) {
            let dat = at.field("dosage");
            if let Some(q) = d.get("dose") {
                a.dose = quantity(q, &dat.field("dose"), sink);
            }
            a.dose_rate = rate(d, &dat, sink);
            (a.route, a.route_code) = route(d, &dat, sink);
        }
        let sat = at.field("statusReason");
        if let Some(r) = arr_at(m.v, "statusReason", &at, sink).first() {
            let (codes, text) = concept_of(r, &sat.index(0), sink);
            a.reason_not_given = codes.into_iter().next();
            a.reason_text = text;
        }
        if let Some((loc, code)) = ext_code(m.v, "reason-class", &at, sink) {
            match reason_class(code) {
                Some(c) => a.reason_class = c as i32,
                None => sink.errors.push(Issue::error(
                    IssueCode::Value,
                    loc,
                    "reason-class must be clinical-contraindication, patient-refusal, system-logistics or other",
                )),
            }
        }
        a.reason_documented_by = role_ext(m.v, "reason-documented-by", &at, sink);
        if status == pb::AdministrationStatus::NotGiven && a.reason_not_given.is_none() && a.reason_class == 0 {
            // The contract reads every NOT_GIVEN record as a documented reason; a not-done
            // without a reason documents none, so it is left out (and reported).
            sink.warn(
                IssueCode::Informational,
                &at.field("statusReason"),
                "a not-done administration without statusReason documents no reason: left out",
            );
            cx.ignore("MedicationAdministration", "not-done without a reason");
            continue;
        }
        e.medication_administrations.push(a);
    }
}
