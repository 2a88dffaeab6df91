//! A CDS Hooks 2.0 service call (`POST /cds-services/{id}`) read into what the mapper needs:
//! `hook`, `hookInstance`, `context` (patientId, encounterId, draftOrders) and `prefetch`.
//! Every problem of the body is collected (400); then every prefetch key the service needs
//! and did not get (412, [`super::services::PREFETCH`]).

use serde_json::Value;

use super::services::{Service, PREFETCH};
use crate::encounter::FieldViolation;

/// A call that can be mapped.
#[derive(Debug)]
pub struct HookCall {
    pub hook_instance: String,
    pub patient_id: String,
    pub encounter_id: String,
    /// The whole body (the prefetch values and draft orders are borrowed from it).
    body: Value,
}

/// One prefetch key the call lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub key: &'static str,
    pub template: &'static str,
    /// `absent` (not sent: the client did not or could not fetch it) or `null` (no data; for a
    /// read of the patient or the encounter, nothing to evaluate).
    pub why: &'static str,
}

/// Why a call cannot be evaluated.
#[derive(Debug)]
pub enum CallError {
    /// The body is not a valid call of this service: every violation.
    Invalid(Vec<FieldViolation>),
    /// Prefetch keys the service needs are missing (HTTP 412).
    MissingPrefetch(Vec<Missing>),
}

fn violation(field: &str, description: impl Into<String>) -> FieldViolation {
    FieldViolation { field: field.into(), description: description.into() }
}

/// A non-empty string at `obj[name]`, or the violation at `path`.
fn required_str<'v>(obj: &'v Value, name: &str, path: &str, out: &mut Vec<FieldViolation>) -> Option<&'v str> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        None | Some(Value::Null) => {
            out.push(violation(path, "is required"));
            None
        }
        Some(_) => {
            out.push(violation(path, "must be a non-empty string"));
            None
        }
    }
}

/// Read `body` as a call of `service`.
pub fn parse(service: &Service, body: &[u8]) -> Result<HookCall, CallError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| CallError::Invalid(vec![violation("body", format!("the body is not valid JSON ({e})"))]))?;
    let mut bad = Vec::new();
    if !body.is_object() {
        return Err(CallError::Invalid(vec![violation("body", "must be a JSON object (a CDS Hooks request)")]));
    }
    if let Some(hook) = required_str(&body, "hook", "hook", &mut bad) {
        if hook != service.hook {
            bad.push(violation("hook", format!("is `{hook}`, but this service is for `{}`", service.hook)));
        }
    }
    let instance = required_str(&body, "hookInstance", "hookInstance", &mut bad).map(str::to_string);
    if let Some(i) = &instance {
        if uuid::Uuid::parse_str(i).is_err() {
            bad.push(violation("hookInstance", "must be a UUID"));
        }
    }
    if let Some(v) = body.get("fhirServer").filter(|v| !v.is_null()) {
        if !v.as_str().is_some_and(|s| s.starts_with("https://") || s.starts_with("http://")) {
            bad.push(violation("fhirServer", "must be an absolute URL"));
        }
    }
    let (mut patient, mut encounter) = (None, None);
    match body.get("context") {
        Some(ctx) if ctx.is_object() => {
            patient = required_str(ctx, "patientId", "context.patientId", &mut bad).map(str::to_string);
            encounter = match ctx.get("encounterId") {
                None | Some(Value::Null) => {
                    bad.push(violation(
                        "context.encounterId",
                        "is required: cdssd evaluates one encounter (the quality measures of a stay)",
                    ));
                    None
                }
                _ => required_str(ctx, "encounterId", "context.encounterId", &mut bad).map(str::to_string),
            };
            if ctx.get("userId").is_some_and(|u| !u.is_string()) {
                bad.push(violation("context.userId", "must be a string, e.g. Practitioner/123"));
            }
            if service.draft_orders {
                match ctx.get("draftOrders") {
                    Some(d) if d.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {}
                    None | Some(Value::Null) => {
                        bad.push(violation("context.draftOrders", format!("is required by the {} hook", service.hook)))
                    }
                    Some(_) => bad.push(violation("context.draftOrders", "must be a FHIR Bundle")),
                }
            }
        }
        None | Some(Value::Null) => bad.push(violation("context", "is required")),
        Some(_) => bad.push(violation("context", "must be an object")),
    }
    match body.get("prefetch") {
        None | Some(Value::Null) => {}
        Some(Value::Object(p)) => {
            for pf in PREFETCH {
                let field = format!("prefetch.{}", pf.key);
                match p.get(pf.key) {
                    None | Some(Value::Null) => {}
                    Some(v) => match v.get("resourceType").and_then(Value::as_str) {
                        None => bad.push(violation(&field, "must be a FHIR resource or Bundle (with resourceType)")),
                        Some(t) if pf.read && !pf.template.starts_with(&format!("{t}/")) => {
                            bad.push(violation(&field, format!("is a {t}; `{}` reads another type", pf.template)))
                        }
                        Some(_) => {}
                    },
                }
            }
        }
        Some(_) => bad.push(violation("prefetch", "must be an object of prefetch keys")),
    }
    if !bad.is_empty() {
        return Err(CallError::Invalid(bad));
    }
    let missing = missing_prefetch(body.get("prefetch"));
    if !missing.is_empty() {
        return Err(CallError::MissingPrefetch(missing));
    }
    Ok(HookCall {
        hook_instance: instance.unwrap_or_default(),
        patient_id: patient.unwrap_or_default(),
        encounter_id: encounter.unwrap_or_default(),
        body,
    })
}

/// The keys of [`PREFETCH`] that `prefetch` lacks.
fn missing_prefetch(prefetch: Option<&Value>) -> Vec<Missing> {
    PREFETCH
        .iter()
        .filter_map(|pf| {
            let why = match prefetch.and_then(|p| p.get(pf.key)) {
                None => "absent",
                Some(Value::Null) if pf.read => "null",
                Some(_) => return None,
            };
            Some(Missing { key: pf.key, template: pf.template, why })
        })
        .collect()
}

impl HookCall {
    /// The FHIR inputs, each labelled with where it came from (`observations`,
    /// `context.draftOrders`): the prefetch values that are not null, then the draft orders.
    pub fn resources(&self) -> Vec<(&str, &Value)> {
        let mut out: Vec<(&str, &Value)> = PREFETCH
            .iter()
            .filter_map(|pf| Some((pf.key, self.body["prefetch"].get(pf.key).filter(|v| !v.is_null())?)))
            .collect();
        if let Some(d) = self.body["context"].get("draftOrders").filter(|d| d.is_object()) {
            out.push(("context.draftOrders", d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::hooks::services::find;

    fn body(hook: &str, prefetch: Value) -> Vec<u8> {
        serde_json::json!({
            "hook": hook,
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e1"},
            "prefetch": prefetch,
        })
        .to_string()
        .into_bytes()
    }

    fn full() -> Value {
        let mut p = serde_json::Map::new();
        for pf in PREFETCH {
            let v = if pf.read {
                serde_json::json!({"resourceType": pf.template.split('/').next().unwrap(), "id": "x"})
            } else {
                serde_json::json!({"resourceType": "Bundle", "type": "searchset", "entry": []})
            };
            p.insert(pf.key.into(), v);
        }
        Value::Object(p)
    }

    #[test]
    fn a_full_prefetch_is_read_with_its_labels() {
        let call = parse(find("patient-view").unwrap(), &body("patient-view", full())).unwrap();
        assert_eq!((call.patient_id.as_str(), call.encounter_id.as_str()), ("p1", "e1"));
        let labels: Vec<&str> = call.resources().iter().map(|(l, _)| *l).collect();
        assert_eq!(labels.len(), PREFETCH.len());
        assert_eq!(labels[0], "patient");
    }

    #[test]
    fn missing_keys_are_named_absent_or_null_and_a_null_search_is_empty() {
        let mut p = full();
        p.as_object_mut().unwrap().remove("observations");
        p["encounter"] = Value::Null;
        p["allergies"] = Value::Null;
        let Err(CallError::MissingPrefetch(m)) = parse(find("patient-view").unwrap(), &body("patient-view", p)) else {
            panic!("412 expected");
        };
        let got: Vec<(&str, &str)> = m.iter().map(|m| (m.key, m.why)).collect();
        assert_eq!(got, [("encounter", "null"), ("observations", "absent")]);
        let Err(CallError::MissingPrefetch(m)) =
            parse(find("patient-view").unwrap(), &body("patient-view", Value::Null))
        else {
            panic!("412 expected");
        };
        assert_eq!(m.len(), PREFETCH.len());
    }

    #[test]
    fn bad_bodies_name_every_field() {
        let pv = find("patient-view").unwrap();
        let Err(CallError::Invalid(v)) = parse(pv, b"{not json") else { panic!() };
        assert_eq!(v[0].field, "body");
        let b = br#"{"hook":"order-sign","hookInstance":"nope","context":{"patientId":7},"prefetch":{"patient":{"resourceType":"Encounter"}}}"#;
        let Err(CallError::Invalid(v)) = parse(pv, b) else { panic!() };
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["hook", "hookInstance", "context.patientId", "context.encounterId", "prefetch.patient"]);
        let os = find("order-sign").unwrap();
        let Err(CallError::Invalid(v)) = parse(os, &body("order-sign", full())) else { panic!() };
        assert_eq!(v[0].field, "context.draftOrders");
    }
}
