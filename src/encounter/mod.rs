//! The encounter: proto ⇄ JSON, validation with field-level errors, and the
//! validated internal model ([`Encounter`]) that rules and models read.

pub mod codes;
mod convert;
mod course;
mod model;
pub mod terminology;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fields;
pub mod units;

pub use convert::{from_proto, now};
pub use course::*;
pub use model::*;

use crate::{config::EncounterSettings, proto::v1 as pb};

/// The lists whose items decide which measures apply: an item there that no rule can
/// read may change a denominator (data-quality notices and their QC card).
pub const DENOMINATOR_LISTS: &[&str] = &["diagnoses", "procedures"];

/// Validation limits and accepted local code systems (from `[encounter]`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_items_per_list: usize,
    pub max_text_bytes: usize,
    pub max_note_bytes: usize,
    pub future_tolerance: chrono::Duration,
    pub local_code_systems: Vec<String>,
}

impl Limits {
    pub fn from_settings(s: &EncounterSettings) -> Self {
        Self {
            max_items_per_list: s.max_items_per_list,
            max_text_bytes: s.max_text_bytes,
            max_note_bytes: s.max_note_bytes,
            future_tolerance: chrono::Duration::seconds(s.future_tolerance_s as i64),
            local_code_systems: s.local_code_systems.clone(),
        }
    }
}

/// One invalid field: a path like `encounter.labs[2].quantity.unit` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// The encounter is invalid; every violation found is listed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid encounter: {}", .violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
pub struct ValidationError {
    pub violations: Vec<FieldViolation>,
}

/// A JSON document could not be read as a proto message.
#[derive(Debug, thiserror::Error)]
#[error("{what} is not valid proto3 JSON: {source}")]
pub struct JsonError {
    what: &'static str,
    #[source]
    source: serde_json::Error,
}

/// Parse an `Encounter` from its canonical proto3 JSON.
pub fn encounter_from_json(json: &str) -> Result<pb::Encounter, JsonError> {
    serde_json::from_str(json).map_err(|source| JsonError { what: "encounter", source })
}

/// Parse a JSON document that is either an `EvaluateRequest` (has an
/// `encounter` key) or a bare `Encounter`; the latter is wrapped in a request.
pub fn request_from_json(json: &str) -> Result<pb::EvaluateRequest, JsonError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|source| JsonError { what: "document", source })?;
    if value.get("encounter").is_some() {
        serde_json::from_value(value).map_err(|source| JsonError { what: "EvaluateRequest", source })
    } else {
        let encounter = serde_json::from_value(value).map_err(|source| JsonError { what: "encounter", source })?;
        Ok(pb::EvaluateRequest { encounter: Some(encounter), ..Default::default() })
    }
}

/// Canonical proto3 JSON of any generated message (pretty-printed).
pub fn to_json<T: serde::Serialize>(msg: &T) -> String {
    serde_json::to_string_pretty(msg).expect("generated messages always serialise")
}
