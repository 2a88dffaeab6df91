//! Rule metadata returned by a script's `meta()`, validated at load time.
use rhai::{Dynamic, Map};

use super::error::LoadError;
use super::finding::Severity;
use super::lint::find_position;

/// Workflow moments a rule can run on (the `Trigger` enum of the proto, lower case).
pub const TRIGGERS: &[&str] =
    &["arrival", "admission", "order_sign", "patient_view", "periodic_review", "discharge", "retrospective"];

const FIELDS: &[&str] = &["id", "title", "measure", "version", "severity", "triggers", "requires"];

/// Validated metadata of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    /// `<pack>.<file stem>`.
    pub id: String,
    pub title: String,
    /// Measure and source citation, e.g. "CMS AMI-8a; NHC-2020 STEMI-3".
    pub measure: String,
    pub version: String,
    pub severity: Severity,
    /// Trigger names from [`TRIGGERS`].
    pub triggers: Vec<String>,
    /// Data the rule needs (documentation).
    pub requires: Vec<String>,
}

impl RuleMeta {
    pub fn runs_on(&self, trigger: &str) -> bool {
        self.triggers.iter().any(|t| t == trigger)
    }
}

/// Validate the map `meta()` returned. `expected_id` is `<pack>.<file stem>`.
pub fn parse_meta(path: &str, src: &str, value: Dynamic, expected_id: &str) -> Result<RuleMeta, Vec<LoadError>> {
    let meta_pos = find_position(src, "fn meta");
    let type_name = value.type_name().to_string();
    let Some(map) = value.try_cast::<Map>() else {
        return Err(vec![LoadError::at(
            path,
            meta_pos,
            format!("meta() must return an object map #{{ id: ..., ... }}, not {type_name}"),
        )]);
    };
    let mut errors = Vec::new();
    // Position of a field inside the meta() body, falling back to `fn meta`.
    let field_pos = |field: &str| {
        let start = src.find("fn meta").unwrap_or(0);
        let p = find_position(&src[start..], &format!("{field}:"));
        if p.is_none() {
            meta_pos
        } else {
            let base = find_position(src, "fn meta");
            let line = base.line().unwrap_or(1) + p.line().unwrap_or(1) - 1;
            let col = if p.line() == Some(1) {
                base.position().unwrap_or(1) + p.position().unwrap_or(1) - 1
            } else {
                p.position().unwrap_or(1)
            };
            rhai::Position::new(line as u16, col as u16)
        }
    };
    let mut err = |field: &str, msg: String| errors.push(LoadError::at(path, field_pos(field), msg));

    for key in map.keys() {
        if !FIELDS.contains(&key.as_str()) {
            err(key, format!("unknown metadata field '{key}' (allowed: {})", FIELDS.join(", ")));
        }
    }

    let text = |field: &str, errs: &mut dyn FnMut(&str, String)| -> String {
        match map.get(field) {
            None => {
                errs(field, format!("missing metadata field '{field}'"));
                String::new()
            }
            Some(v) => match v.clone().into_immutable_string() {
                Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
                Ok(_) => {
                    errs(field, format!("metadata field '{field}' is empty"));
                    String::new()
                }
                Err(t) => {
                    errs(field, format!("metadata field '{field}' must be a string, not {t}"));
                    String::new()
                }
            },
        }
    };
    let id = text("id", &mut err);
    let title = text("title", &mut err);
    let measure = text("measure", &mut err);
    let version = text("version", &mut err);
    let severity_s = text("severity", &mut err);

    if !id.is_empty() && id != expected_id {
        err("id", format!("rule id '{id}' must be '{expected_id}' (<pack>.<file name>)"));
    }
    if !version.is_empty() && !valid_version(&version) {
        err("version", format!("version '{version}' must look like 1.0.0"));
    }
    let severity = match Severity::parse(&severity_s) {
        Some(s) => s,
        None => {
            if !severity_s.is_empty() {
                err("severity", format!("severity '{severity_s}' must be info, warning or critical"));
            }
            Severity::Warning
        }
    };
    let triggers = string_list(&map, "triggers", true, &mut err);
    for t in &triggers {
        if !TRIGGERS.contains(&t.as_str()) {
            err("triggers", format!("unknown trigger '{t}' (allowed: {})", TRIGGERS.join(", ")));
        }
    }
    let requires = string_list(&map, "requires", false, &mut err);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleMeta { id, title, measure, version, severity, triggers, requires })
}

fn string_list(map: &Map, field: &str, required: bool, err: &mut dyn FnMut(&str, String)) -> Vec<String> {
    let Some(v) = map.get(field) else {
        if required {
            err(field, format!("missing metadata field '{field}'"));
        }
        return Vec::new();
    };
    let Some(arr) = v.read_lock::<rhai::Array>() else {
        err(field, format!("metadata field '{field}' must be an array of strings"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in arr.iter() {
        match item.clone().into_immutable_string() {
            Ok(s) => out.push(s.to_string()),
            Err(t) => err(field, format!("'{field}' must hold strings, found {t}")),
        }
    }
    if required && out.is_empty() {
        err(field, format!("metadata field '{field}' must not be empty"));
    }
    out
}

fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
