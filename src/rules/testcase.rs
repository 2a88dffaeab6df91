//! Test-case files `rules/<pack>/tests/<rule>.toml`: parsing and validation at load time,
//! and the JSON edits (`remove`, `set`, `add`) applied to a base encounter.
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::finding::Status;
use crate::diagnostic::{line_col, Diagnostic};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    #[serde(default)]
    case: Vec<Spanned<CaseRaw>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRaw {
    name: String,
    base: String,
    now: Spanned<String>,
    expect: Spanned<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    add: toml::Table,
    #[serde(default)]
    expect_deadline: Option<Spanned<String>>,
    #[serde(default)]
    expect_missing: Option<Vec<String>>,
    #[serde(default)]
    expect_reason: Option<String>,
    #[serde(default)]
    as_of_now: bool,
}

/// One test case, validated.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// Base encounter JSON, relative to the repository root (the parent of `rules/`).
    pub base: String,
    pub now: DateTime<Utc>,
    pub expect: Status,
    pub remove: Vec<String>,
    pub set: serde_json::Map<String, Value>,
    pub add: serde_json::Map<String, Value>,
    pub expect_deadline: Option<DateTime<Utc>>,
    pub expect_missing: Option<Vec<String>>,
    /// The declared reason key the finding must carry.
    pub expect_reason: Option<String>,
    /// Evaluate the record as it stood at `now` (see [`as_it_stood`]) instead of listing
    /// every later item in `remove`.
    pub as_of_now: bool,
    /// Line of the `[[case]]` in its file.
    pub line: u32,
}

/// The cases of one rule.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: String,
    pub rule_id: String,
    pub cases: Vec<TestCase>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("'{s}' is not an RFC 3339 time like 2026-03-02T12:00:00Z ({e})"))
}

fn to_json(t: toml::Table) -> serde_json::Map<String, Value> {
    match serde_json::to_value(t) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

pub fn parse_test_file(path: &str, src: &str, rule_id: &str) -> Result<TestFile, Vec<Diagnostic>> {
    let raw: FileRaw = toml::from_str(src).map_err(|e| vec![Diagnostic::toml(path, src, &e)])?;
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    if raw.case.is_empty() {
        errors.push(Diagnostic::new(path, 1, 1, "no [[case]] in test file"));
    }
    for c in raw.case {
        let (line, _) = line_col(src, c.span().start);
        let c = c.into_inner();
        let at = |span: std::ops::Range<usize>, msg: String| {
            let (l, col) = line_col(src, span.start);
            Diagnostic::new(path, l, col, msg)
        };
        let now = parse_time(c.now.get_ref()).map_err(|m| errors.push(at(c.now.span(), m))).ok();
        let expect = Status::parse(c.expect.get_ref().trim());
        if expect.is_none() {
            errors.push(at(
                c.expect.span(),
                format!(
                    "expect '{}' must be one of met, not_met, excluded, not_applicable, pending, error",
                    c.expect.get_ref()
                ),
            ));
        }
        let expect_deadline = match &c.expect_deadline {
            Some(d) => parse_time(d.get_ref()).map_err(|m| errors.push(at(d.span(), m))).ok(),
            None => None,
        };
        if let (Some(now), Some(expect)) = (now, expect) {
            cases.push(TestCase {
                name: c.name,
                base: c.base,
                now,
                expect,
                remove: c.remove,
                set: to_json(c.set),
                add: to_json(c.add),
                expect_deadline,
                expect_missing: c.expect_missing,
                expect_reason: c.expect_reason,
                as_of_now: c.as_of_now,
                line,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TestFile { path: path.to_string(), rule_id: rule_id.to_string(), cases })
}

/// Apply a case's edits to a base encounter in proto3 JSON form (lowerCamelCase).
///
/// `remove` entries are `list[id=ID]` (drop that item) or a dotted field path
/// (`symptomOnsetTime`, `patient.birthDate`); `set` overwrites top-level fields;
/// `add` appends items to lists (creating them).
pub fn apply_edits(enc: &mut Value, case: &TestCase) -> Result<(), String> {
    for r in &case.remove {
        remove_path(enc, r)?;
    }
    let Some(obj) = enc.as_object_mut() else {
        return Err("base encounter must be a JSON object".into());
    };
    for (k, v) in &case.set {
        obj.insert(k.clone(), v.clone());
    }
    for (k, v) in &case.add {
        let Value::Array(items) = v else {
            return Err(format!("add.{k} must be a list of items"));
        };
        let list = obj.entry(k.clone()).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(list) = list else {
            return Err(format!("add.{k}: '{k}' is not a list in the encounter"));
        };
        list.extend(items.iter().cloned());
    }
    if case.as_of_now {
        as_it_stood(enc, case.now);
    }
    Ok(())
}

/// The encounter (proto3 JSON) as the record stood at `now`, for a test case with
/// `as_of_now = true`: a list item none of whose times (`…Time` fields) is at or before
/// `now` had not happened yet and is dropped, and so is an observation whose result was
/// issued after `now` (`issuedTime`: not yet in the record); an item that had started
/// keeps its start, and its later times (the end of an infusion, a stay, a procedure)
/// are removed, as still open. Encounter-level times after `now` are removed
/// (`dischargeTime`: with it `dischargeDisposition`). Earlier encounters are untouched.
/// Times equal to `now` count as recorded; a time that does not parse is left for
/// validation to report.
pub fn as_it_stood(enc: &mut Value, now: DateTime<Utc>) {
    let after = |v: &Value| v.as_str().and_then(|s| parse_time(s).ok()).is_some_and(|t| t > now);
    let Some(obj) = enc.as_object_mut() else { return };
    let late: Vec<String> =
        obj.iter().filter(|(k, v)| k.ends_with("Time") && after(v)).map(|(k, _)| k.clone()).collect();
    for k in &late {
        obj.remove(k);
    }
    if late.iter().any(|k| k == "dischargeTime") {
        obj.remove("dischargeDisposition");
    }
    for (list, items) in obj.iter_mut() {
        if list == "priorEncounters" || list == "priorConditions" {
            continue;
        }
        let Value::Array(items) = items else { continue };
        items.retain_mut(|item| {
            let Some(item) = item.as_object_mut() else { return true };
            let times: Vec<(&String, bool)> =
                item.iter().filter(|(k, _)| k.ends_with("Time")).map(|(k, v)| (k, after(v))).collect();
            if times.is_empty() {
                return true;
            }
            if times.iter().all(|(_, late)| *late) || item.get("issuedTime").is_some_and(after) {
                return false;
            }
            let late: Vec<String> = times.iter().filter(|(_, l)| *l).map(|(k, _)| (*k).clone()).collect();
            for k in late {
                item.remove(&k);
            }
            true
        });
    }
}

fn remove_path(enc: &mut Value, spec: &str) -> Result<(), String> {
    if let Some((list, rest)) = spec.split_once("[id=") {
        let id = rest.strip_suffix(']').ok_or_else(|| format!("remove '{spec}': expected list[id=ID]"))?;
        let items = enc
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .ok_or_else(|| format!("remove '{spec}': the encounter has no list '{list}'"))?;
        let before = items.len();
        items.retain(|it| it.get("id").and_then(Value::as_str) != Some(id));
        if items.len() == before {
            return Err(format!("remove '{spec}': no item with id '{id}' in '{list}'"));
        }
        return Ok(());
    }
    let mut parts: Vec<&str> = spec.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = enc;
    for p in parts {
        cur = cur.get_mut(p).ok_or_else(|| format!("remove '{spec}': no field '{p}'"))?;
    }
    let obj = cur.as_object_mut().ok_or_else(|| format!("remove '{spec}': not an object"))?;
    obj.remove(last).map(|_| ()).ok_or_else(|| format!("remove '{spec}': no field '{last}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_as_it_stood_drops_later_items_and_opens_running_ones() {
        let now = parse_time("2026-03-01T10:00:00Z").unwrap();
        let mut enc = serde_json::json!({
            "arrivalTime": "2026-03-01T08:00:00Z",
            "dischargeTime": "2026-03-03T08:00:00Z",
            "dischargeDisposition": "DISCHARGE_DISPOSITION_HOME",
            "labs": [
                {"id": "before", "effectiveTime": "2026-03-01T09:00:00Z", "issuedTime": "2026-03-01T09:30:00Z"},
                {"id": "at", "effectiveTime": "2026-03-01T10:00:00Z"},
                {"id": "one-second-past", "effectiveTime": "2026-03-01T10:00:01Z"},
                {"id": "issued-later", "effectiveTime": "2026-03-01T09:50:00Z", "issuedTime": "2026-03-01T10:00:01Z"}
            ],
            "medicationAdministrations": [
                {"id": "running", "startTime": "2026-03-01T09:00:00Z", "endTime": "2026-03-01T11:00:00Z"}
            ],
            "notes": [{"id": "untimed"}],
            "priorEncounters": [{"id": "old", "arrivalTime": "2027-01-01T00:00:00Z"}]
        });
        as_it_stood(&mut enc, now);
        let ids = |list: &str| -> Vec<String> {
            enc[list].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(ids("labs"), ["before", "at"]);
        assert_eq!(ids("medicationAdministrations"), ["running"]);
        assert!(enc["medicationAdministrations"][0].get("endTime").is_none());
        assert_eq!(ids("notes"), ["untimed"]);
        assert_eq!(ids("priorEncounters"), ["old"], "history is not cut");
        assert!(enc.get("dischargeTime").is_none() && enc.get("dischargeDisposition").is_none());
        assert_eq!(enc["arrivalTime"], "2026-03-01T08:00:00Z");
    }
}
