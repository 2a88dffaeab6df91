//! Reading FHIR R4 JSON elements and datatypes (Coding, CodeableConcept, Quantity,
//! Reference, date/dateTime/instant) with a FHIRPath-like location for each problem.
//! Locations are chains of borrowed segments, formatted only when an issue is recorded.

use std::fmt;

use chrono::{NaiveDate, TimeZone};
use serde_json::Value;

use super::error::{Issue, IssueCode};
use crate::proto::v1 as pb;

/// One step of a location.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Field(&'a str),
    Index(usize),
}

/// A FHIRPath-like location, e.g. `Bundle.entry[3].resource.valueQuantity.code`.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
}

impl<'a> At<'a> {
    /// A root (`Bundle`, `Patient`, or a caller's label such as a prefetch key).
    pub fn root(name: &'a str) -> Self {
        At { parent: None, seg: Seg::Root(name) }
    }
    /// `self.name`.
    pub fn field(&'a self, name: &'a str) -> At<'a> {
        At { parent: Some(self), seg: Seg::Field(name) }
    }
    /// `self[i]`.
    pub fn index(&'a self, i: usize) -> At<'a> {
        At { parent: Some(self), seg: Seg::Index(i) }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            p.fmt(f)?;
        }
        match self.seg {
            Seg::Root(n) => f.write_str(n),
            Seg::Field(n) => write!(f, ".{n}"),
            Seg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Where the issues of one mapping go: errors fail it, warnings are reported beside the result.
#[derive(Debug, Default)]
pub struct Sink {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl Sink {
    pub fn error(&mut self, code: IssueCode, at: &At<'_>, diagnostics: impl Into<String>) {
        self.errors.push(Issue::error(code, at.to_string(), diagnostics));
    }
    pub fn warn(&mut self, code: IssueCode, at: &At<'_>, diagnostics: impl Into<String>) {
        self.warnings.push(Issue::warning(code, at.to_string(), diagnostics));
    }
}

/// The JSON type name, for diagnostics (never the value itself).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `obj[name]` as a string; absent is `None`, another JSON type an error.
pub fn str_at<'v>(obj: &'v Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<&'v str> {
    match obj.get(name)? {
        Value::String(s) => Some(s),
        other => {
            sink.error(IssueCode::Structure, &at.field(name), format!("must be a string, not {}", kind(other)));
            None
        }
    }
}

/// `obj[name]` as an object.
pub fn obj_at<'v>(obj: &'v Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<&'v Value> {
    match obj.get(name)? {
        v @ Value::Object(_) => Some(v),
        other => {
            sink.error(IssueCode::Structure, &at.field(name), format!("must be an object, not {}", kind(other)));
            None
        }
    }
}

/// `obj[name]` as an array (absent: empty).
pub fn arr_at<'v>(obj: &'v Value, name: &str, at: &At<'_>, sink: &mut Sink) -> &'v [Value] {
    match obj.get(name) {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(other) => {
            sink.error(IssueCode::Structure, &at.field(name), format!("must be an array, not {}", kind(other)));
            &[]
        }
    }
}

/// `obj[name]` as a JSON number (FHIR decimal / integer).
pub fn num_at(obj: &Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<f64> {
    match obj.get(name)? {
        Value::Number(n) => n.as_f64(),
        other => {
            sink.error(IssueCode::Structure, &at.field(name), format!("must be a JSON number, not {}", kind(other)));
            None
        }
    }
}

/// `obj[name]` as a boolean.
pub fn bool_at(obj: &Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<bool> {
    match obj.get(name)? {
        Value::Bool(b) => Some(*b),
        other => {
            sink.error(IssueCode::Structure, &at.field(name), format!("must be a boolean, not {}", kind(other)));
            None
        }
    }
}

/// A FHIR Coding → the contract's Coding (system, code, display copied as sent).
pub fn coding(v: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::Coding> {
    if !v.is_object() {
        sink.error(IssueCode::Structure, at, format!("a Coding must be an object, not {}", kind(v)));
        return None;
    }
    let code = str_at(v, "code", at, sink)?;
    let system = str_at(v, "system", at, sink).unwrap_or_default();
    let display = str_at(v, "display", at, sink).unwrap_or_default();
    Some(pb::Coding { system: system.to_string(), code: code.to_string(), display: display.to_string() })
}

/// Every coding (with a code) of the CodeableConcept `obj[name]`, in order; and its text.
pub fn concept(obj: &Value, name: &str, at: &At<'_>, sink: &mut Sink) -> (Vec<pb::Coding>, String) {
    let Some(cc) = obj_at(obj, name, at, sink) else { return (Vec::new(), String::new()) };
    concept_of(cc, &at.field(name), sink)
}

/// Every coding of the CodeableConcept `cc` and its text.
pub fn concept_of(cc: &Value, at: &At<'_>, sink: &mut Sink) -> (Vec<pb::Coding>, String) {
    let codings = arr_at(cc, "coding", at, sink);
    let here = at.field("coding");
    let out = codings.iter().enumerate().filter_map(|(i, c)| coding(c, &here.index(i), sink)).collect();
    let text = str_at(cc, "text", at, sink).unwrap_or_default().to_string();
    (out, text)
}

/// The first code of the CodeableConcept `obj[name]` whose system is `system` (any system when `None`).
pub fn code_in<'v>(obj: &'v Value, name: &str, system: Option<&str>) -> Option<&'v str> {
    obj.get(name)?.get("coding")?.as_array()?.iter().find_map(|c| {
        let ok = system.is_none_or(|s| c.get("system").and_then(Value::as_str) == Some(s));
        if ok {
            c.get("code")?.as_str()
        } else {
            None
        }
    })
}

/// FHIR Quantity.comparator → the contract's comparator.
fn comparator(s: &str) -> Option<pb::QuantityComparator> {
    Some(match s {
        "<" => pb::QuantityComparator::LessThan,
        "<=" => pb::QuantityComparator::LessOrEqual,
        ">=" => pb::QuantityComparator::GreaterOrEqual,
        ">" => pb::QuantityComparator::GreaterThan,
        _ => return None,
    })
}

/// A FHIR Quantity → the contract's Quantity: the UCUM `code` when present (the machine
/// unit), else the display `unit`; the comparator kept.
pub fn quantity(q: &Value, at: &At<'_>, sink: &mut Sink) -> Option<pb::Quantity> {
    if !q.is_object() {
        sink.error(IssueCode::Structure, at, format!("a Quantity must be an object, not {}", kind(q)));
        return None;
    }
    let Some(value) = num_at(q, "value", at, sink) else {
        if q.get("value").is_none() {
            sink.error(IssueCode::Required, &at.field("value"), "a Quantity without a value cannot be mapped");
        }
        return None;
    };
    let unit = str_at(q, "code", at, sink).or_else(|| str_at(q, "unit", at, sink)).unwrap_or_default();
    let mut out = pb::Quantity { value, unit: unit.to_string(), comparator: 0 };
    if let Some(c) = str_at(q, "comparator", at, sink) {
        match comparator(c) {
            Some(c) => out.comparator = c as i32,
            None => sink.error(IssueCode::Value, &at.field("comparator"), "must be one of <, <=, >=, >"),
        }
    }
    Some(out)
}

/// The `(type, id)` a literal reference names: `Patient/123`, an absolute URL ending in
/// `Patient/123` (a `_history` suffix dropped), or a `urn:uuid:` / `urn:oid:` resolved by
/// the caller through the entries' `fullUrl`.
pub fn reference_key(reference: &str) -> Option<(&str, &str)> {
    let r = reference.split_once("/_history/").map_or(reference, |(head, _)| head);
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    (!id.is_empty() && ty.starts_with(|c: char| c.is_ascii_uppercase())).then_some((ty, id))
}

/// The `reference` string of the Reference `obj[name]`.
pub fn reference<'v>(obj: &'v Value, name: &str, at: &At<'_>, sink: &mut Sink) -> Option<&'v str> {
    let r = obj_at(obj, name, at, sink)?;
    str_at(r, "reference", &at.field(name), sink)
}

/// The time zone used for FHIR dates without a time (and partial dates).
pub type Zone = chrono_tz::Tz;

/// A FHIR `date`, `dateTime` or `instant` → an instant. A date (or a partial date) is the
/// start of that day in `zone`; a time must carry an offset (FHIR: "if hours and minutes
/// are specified, a time zone SHALL be populated").
pub fn instant(s: &str, zone: Zone) -> Result<pbjson_types::Timestamp, &'static str> {
    let t = if s.len() > 10 {
        chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| {
                if s.ends_with('Z') || s.get(10..).unwrap_or("").contains(['+', '-']) {
                    "is not a FHIR dateTime (YYYY-MM-DDThh:mm:ss[.fff]+zz:zz)"
                } else {
                    "has a time without an offset: FHIR requires one (Z or +hh:mm)"
                }
            })?
            .with_timezone(&chrono::Utc)
    } else {
        if !is_fhir_date(s) {
            return Err("is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)");
        }
        let full = match s.len() {
            4 => format!("{s}-01-01"),
            7 => format!("{s}-01"),
            _ => s.to_string(),
        };
        let date = NaiveDate::parse_from_str(&full, "%Y-%m-%d").map_err(|_| "is not a valid date")?;
        let midnight = date.and_hms_opt(0, 0, 0).ok_or("is not a valid date")?;
        zone.from_local_datetime(&midnight).earliest().ok_or("does not exist in the hospital time zone")?.to_utc()
    };
    Ok(pbjson_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 })
}

/// `obj[name]` as a FHIR date/dateTime/instant.
pub fn time_at(obj: &Value, name: &str, zone: Zone, at: &At<'_>, sink: &mut Sink) -> Option<pbjson_types::Timestamp> {
    let s = str_at(obj, name, at, sink)?;
    match instant(s, zone) {
        Ok(t) => Some(t),
        Err(why) => {
            sink.error(IssueCode::Value, &at.field(name), format!("the value {why}"));
            None
        }
    }
}

/// A FHIR Period `obj[name]` → (start, end).
pub fn period_at(
    obj: &Value,
    name: &str,
    zone: Zone,
    at: &At<'_>,
    sink: &mut Sink,
) -> (Option<pbjson_types::Timestamp>, Option<pbjson_types::Timestamp>) {
    let Some(p) = obj_at(obj, name, at, sink) else { return (None, None) };
    let here = at.field(name);
    (time_at(p, "start", zone, &here, sink), time_at(p, "end", zone, &here, sink))
}

/// The extension of `obj` with this url (FHIR `extension[]`, matched on `url`).
pub fn extension<'v>(obj: &'v Value, url: &str) -> Option<(usize, &'v Value)> {
    obj.get("extension")?
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, e)| e.get("url").and_then(Value::as_str) == Some(url))
}

/// Whole-day date check for `Patient.birthDate` (YYYY, YYYY-MM or YYYY-MM-DD).
pub fn is_fhir_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    };
    let full = match b.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.to_string(),
    };
    shape && NaiveDate::parse_from_str(&full, "%Y-%m-%d").is_ok()
}

/// Does any CodeableConcept of the array `obj[name]` (e.g. `category`) have the coding `system|code`?
pub fn any_coding(obj: &Value, name: &str, system: &str, code: &str) -> bool {
    let Some(list) = obj.get(name).and_then(Value::as_array) else { return false };
    list.iter().any(|cc| {
        cc.get("coding").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some(system)
                    && c.get("code").and_then(Value::as_str) == Some(code)
            })
        })
    })
}
