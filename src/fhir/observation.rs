//! Observation → vitals (category vital-signs), labs (laboratory) or assessments (any other
//! category: survey, exam, imaging, procedure, social-history...), one contract observation
//! per component (blood pressure) besides the observation's own value.

use serde_json::Value;

use super::error::IssueCode;
use super::index::Res;
use super::read::{arr_at, concept, concept_of, num_at, obj_at, period_at, quantity, str_at, time_at, At, Sink};
use super::stay::{Cx, Owner};
use crate::proto::v1 as pb;

const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

#[derive(Clone, Copy)]
enum List {
    Vitals,
    Labs,
    Assessments,
}

fn status(s: Option<&str>) -> pb::ObservationStatus {
    use pb::ObservationStatus as S;
    match s {
        Some("registered") => S::Registered,
        Some("preliminary") => S::Preliminary,
        Some("final") => S::Final,
        Some("amended") => S::Amended,
        Some("corrected") => S::Corrected,
        Some("cancelled") => S::Cancelled,
        Some("entered-in-error") => S::EnteredInError,
        _ => S::Unspecified,
    }
}

/// The category list: the first observation-category coding of any category.
fn list_of(v: &Value) -> List {
    let cats = v.get("category").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for c in cats {
        let codings = c.get("coding").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for x in codings {
            if x.get("system").and_then(Value::as_str) == Some(CATEGORY) {
                return match x.get("code").and_then(Value::as_str) {
                    Some("vital-signs") => List::Vitals,
                    Some("laboratory") => List::Labs,
                    _ => List::Assessments,
                };
            }
        }
    }
    List::Assessments
}

/// `value[x]` of an observation or a component → the contract's value; `None` when absent.
fn value(v: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::observation::Value> {
    use pb::observation::Value as V;
    if let Some(q) = v.get("valueQuantity") {
        return quantity(q, &at.field("valueQuantity"), sink).map(V::Quantity);
    }
    if let Some(cc) = obj_at(v, "valueCodeableConcept", at, sink) {
        let (codings, text) = concept_of(cc, &at.field("valueCodeableConcept"), sink);
        return Some(V::Coded(pb::CodeableConcept { codings, text }));
    }
    if let Some(s) = str_at(v, "valueString", at, sink) {
        return Some(V::Text(s.to_string()));
    }
    if let Some(b) = v.get("valueBoolean") {
        return match b.as_bool() {
            Some(b) => Some(V::Text(b.to_string())),
            None => {
                sink.error(IssueCode::Structure, &at.field("valueBoolean"), "must be a boolean");
                None
            }
        };
    }
    if let Some(n) = num_at(v, "valueInteger", at, sink) {
        // An integer (a score) is a dimensionless quantity (UCUM "1").
        return Some(V::Quantity(pb::Quantity { value: n, unit: "1".into(), comparator: 0 }));
    }
    if v.get("valueRange").is_some() || v.get("valueRatio").is_some() || v.get("valueSampledData").is_some() {
        sink.warn(
            IssueCode::NotSupported,
            at,
            "valueRange, valueRatio and valueSampledData have no contract value: the result is sent without it",
        );
    }
    None
}

/// Observations of the index stay → vitals, labs, assessments.
pub fn observations(cx: &mut Cx<'_, '_>, e: &mut pb::Encounter, sink: &mut Sink) {
    let all: Vec<&Res<'_>> = cx.idx.of_type("Observation").collect();
    for o in all {
        if !cx.of_patient(o, "subject", sink) {
            continue;
        }
        let at = At::root(&o.root);
        let effective = if o.v.get("effectiveDateTime").is_some() {
            time_at(o.v, "effectiveDateTime", cx.zone, &at, sink)
        } else if o.v.get("effectiveInstant").is_some() {
            time_at(o.v, "effectiveInstant", cx.zone, &at, sink)
        } else {
            period_at(o.v, "effectivePeriod", cx.zone, &at, sink).0
        };
        match cx.owner(o, "encounter", sink) {
            Owner::Index => {}
            Owner::Unlinked if cx.in_stay(effective.as_ref()) => {}
            Owner::Prior(_) => {
                cx.ignore("Observation", "earlier encounter: the contract has no observation history");
                continue;
            }
            _ => {
                cx.ignore("Observation", "not of the index encounter");
                continue;
            }
        }
        let st = status(str_at(o.v, "status", &at, sink));
        let issued = time_at(o.v, "issued", cx.zone, &at, sink);
        let range = reference_range(o.v, &at, sink);
        let (codings, _) = concept(o.v, "code", &at, sink);
        let own = value(o.v, &at, sink);
        let components = arr_at(o.v, "component", &at, sink);
        let base = pb::Observation {
            id: o.item_id(),
            codings,
            effective_time: effective,
            issued_time: issued,
            reference_range: range,
            status: st as i32,
            ..Default::default()
        };
        let list = match list_of(o.v) {
            List::Vitals => &mut e.vitals,
            List::Labs => &mut e.labs,
            List::Assessments => &mut e.assessments,
        };
        let mut out = Vec::new();
        if own.is_some() || components.is_empty() {
            let mut one = base.clone();
            one.value = Some(own.unwrap_or_else(|| absent_value(o.v, st)));
            out.push(one);
        }
        let cat = at.field("component");
        for (i, c) in components.iter().enumerate() {
            let here = cat.index(i);
            let (codings, _) = concept(c, "code", &here, sink);
            let Some(v) = value(c, &here, sink) else {
                // A component without a value (and no dataAbsentReason) says nothing.
                continue;
            };
            let suffix = codings.first().map_or_else(|| (i + 1).to_string(), |c| c.code.clone());
            out.push(pb::Observation { id: format!("{}/{suffix}", base.id), codings, value: Some(v), ..base.clone() });
        }
        list.extend(out);
    }
}

/// The text sent for an observation without a value: its `dataAbsentReason` code, else
/// its status (a blood culture collected but not yet resulted is `registered`). The
/// contract requires a value; measures use such an observation's time (collection), never
/// this text.
fn absent_value(v: &Value, st: pb::ObservationStatus) -> pb::observation::Value {
    let reason = super::read::code_in(v, "dataAbsentReason", None);
    let text = match reason {
        Some(r) => format!("data absent: {r}"),
        None => match st {
            pb::ObservationStatus::Registered => "registered, no result yet".to_string(),
            pb::ObservationStatus::Preliminary => "preliminary, no result yet".to_string(),
            _ => "no result".to_string(),
        },
    };
    pb::observation::Value::Text(text)
}

fn reference_range(v: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::ReferenceRange> {
    let rr = arr_at(v, "referenceRange", at, sink).first()?;
    let rat = at.field("referenceRange");
    let here = rat.index(0);
    let low = obj_at(rr, "low", &here, sink);
    let high = obj_at(rr, "high", &here, sink);
    if low.is_none() && high.is_none() {
        return None;
    }
    let num =
        |q: Option<&Value>, name: &str, sink: &mut Sink| q.and_then(|q| num_at(q, "value", &here.field(name), sink));
    let unit = [low, high]
        .into_iter()
        .flatten()
        .find_map(|q| q.get("code").or_else(|| q.get("unit")).and_then(Value::as_str))
        .unwrap_or_default();
    Some(pb::ReferenceRange { low: num(low, "low", sink), high: num(high, "high", sink), unit: unit.to_string() })
}
