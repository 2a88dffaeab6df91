//! Checking what the LLM returned: JSON, the published schema, ICD-10 code
//! format, grounding of evidence references, and cross-checks against the
//! rest of the decision (reported as flags, never silently "fixed").

use std::{collections::HashMap, sync::LazyLock};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::proto::v1 as pb;

/// The published JSON Schema of the draft (also sent as `response_format`).
pub const DRAFT_SCHEMA: &str = include_str!("draft.schema.json");

static ICD10: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$").expect("valid ICD-10 pattern"));

/// Whether `code` has the format of an ICD-10 code (I21.0, J18.9, C7A.0).
pub fn is_icd10(code: &str) -> bool {
    ICD10.is_match(code)
}

/// The compiled schema and its renderings for prompts.
pub struct DraftSchema {
    validator: jsonschema::Validator,
    /// The schema as JSON.
    pub json: Value,
    /// Minified, for the `{{schema}}` placeholder.
    pub minified: String,
    /// A compact outline, for the `{{schema_outline}}` placeholder.
    pub outline: &'static str,
}

impl std::fmt::Debug for DraftSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DraftSchema").field("id", &self.json.get("$id")).finish()
    }
}

/// Why an LLM response was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvalidOutput {
    #[error("the response is not JSON: {0}")]
    NotJson(String),
    #[error("the response violates the draft schema: {}", .0.join("; "))]
    Schema(Vec<String>),
    #[error("`{path}` = `{code}` is not an ICD-10 code")]
    Icd10 { path: String, code: String },
    #[error("degenerate output: {0}")]
    Degenerate(String),
    #[error("citation check: {0}")]
    Citation(String),
}

/// A draft that passed the schema.
#[derive(Debug, Clone, Deserialize)]
pub struct RawDraft {
    pub differential: Vec<RawDifferential>,
    pub next_steps: Vec<RawStep>,
    pub red_flags: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawDifferential {
    pub condition: String,
    pub icd10: String,
    pub likelihood: String,
    pub supporting: Vec<String>,
    pub contradicting: Vec<String>,
    /// Knowledge-base passage ids the claim rests on.
    pub citations: Vec<String>,
}

/// A next step and the passages it cites.
#[derive(Debug, Clone, Deserialize)]
pub struct RawStep {
    pub step: String,
    pub citations: Vec<String>,
}

const OUTLINE: &str = r#"{"differential":[{"condition":"<diagnosis>","icd10":"<ICD-10 code>","likelihood":"high|moderate|low","supporting":["<reference>"],"contradicting":["<reference>"],"citations":["<passage id>"]}],"next_steps":[{"step":"<step>","citations":["<passage id>"]}],"red_flags":["<red flag>"],"summary":"<one paragraph>"}"#;

impl DraftSchema {
    pub fn new() -> Self {
        let json: Value = serde_json::from_str(DRAFT_SCHEMA).expect("draft.schema.json is valid JSON");
        let validator = jsonschema::validator_for(&json).expect("draft.schema.json is a valid JSON Schema");
        let minified = serde_json::to_string(&json).expect("serialisable");
        Self { validator, json, minified, outline: OUTLINE }
    }

    /// Parse `content` and check it against the schema and the ICD-10 format.
    pub fn check(&self, content: &str) -> Result<RawDraft, InvalidOutput> {
        let value: Value = serde_json::from_str(content.trim()).map_err(|e| InvalidOutput::NotJson(e.to_string()))?;
        let errors: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {}", if at.is_empty() { "/" } else { &at }, truncate(&e.to_string(), 160))
            })
            .collect();
        if !errors.is_empty() {
            return Err(InvalidOutput::Schema(errors));
        }
        let draft: RawDraft = serde_json::from_value(value).map_err(|e| InvalidOutput::Schema(vec![e.to_string()]))?;
        for (i, d) in draft.differential.iter().enumerate() {
            if !is_icd10(&d.icd10) {
                return Err(InvalidOutput::Icd10 {
                    path: format!("/differential/{i}/icd10"),
                    code: truncate(&d.icd10, 20),
                });
            }
        }
        Ok(draft)
    }
}

impl Default for DraftSchema {
    fn default() -> Self {
        Self::new()
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Maps the aliases shown in the prompt ("labs/3") to encounter references ("labs/lab-lactate-1").
pub type RefIndex = HashMap<String, String>;

/// Turn a schema-valid draft into proto differentials, mapping references back
/// to the encounter's ids; references to items that do not exist are dropped
/// and reported in the returned flags.
pub fn ground(draft: &RawDraft, refs: &RefIndex) -> (Vec<pb::Differential>, Vec<String>) {
    let mut flags = Vec::new();
    let mut map = |list: &[String], dx: usize, which: &str| -> Vec<String> {
        let mut out = Vec::new();
        for r in list {
            match refs.get(r) {
                Some(real) if !out.contains(real) => out.push(real.clone()),
                Some(_) => {}
                None => flags.push(format!(
                    "dropped {which} reference `{}` of differential {} (no such item in the encounter)",
                    truncate(r, 40),
                    dx + 1
                )),
            }
        }
        out
    };
    let differentials = draft
        .differential
        .iter()
        .enumerate()
        .map(|(i, d)| pb::Differential {
            condition: d.condition.clone(),
            icd10: d.icd10.clone(),
            likelihood: d.likelihood.clone(),
            likelihood_level: pb::Likelihood::from_str_name(&format!(
                "LIKELIHOOD_{}",
                d.likelihood.to_ascii_uppercase()
            ))
            .unwrap_or_default() as i32,
            supporting: map(&d.supporting, i, "supporting"),
            contradicting: map(&d.contradicting, i, "contradicting"),
            citations: d.citations.clone(),
        })
        .collect();
    (differentials, flags)
}

/// Keep the differentials supported by at least one encounter item that exists (after
/// [`ground`]); the others are dropped with a flag. A draft left with none is degenerate.
pub fn supported(
    differentials: Vec<pb::Differential>,
    flags: &mut Vec<String>,
) -> Result<Vec<pb::Differential>, InvalidOutput> {
    let total = differentials.len();
    let mut kept = Vec::with_capacity(total);
    for (i, d) in differentials.into_iter().enumerate() {
        if d.supporting.is_empty() {
            flags.push(format!(
                "dropped differential {} (`{}`): no supporting item of the encounter",
                i + 1,
                truncate(&d.condition, 40)
            ));
        } else {
            kept.push(d);
        }
    }
    if kept.is_empty() {
        return Err(InvalidOutput::Degenerate(format!(
            "none of the {total} differential(s) is supported by an item of the encounter"
        )));
    }
    Ok(kept)
}

/// Cross-checks of the draft against the coded diagnoses and the risk scores.
///
/// - A coded principal ICD-10 diagnosis whose 3-character category is absent from the differential.
/// - A HIGH-band risk score the draft neither cites (`risks/<n>`) nor mentions (model id or outcome).
pub fn cross_check(
    draft: &RawDraft,
    principal_icd10: &[String],
    risks: &[pb::RiskScore],
    risk_alias: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let mut flags = Vec::new();
    let category = |c: &str| c.split('.').next().unwrap_or(c).chars().take(3).collect::<String>().to_uppercase();
    for code in principal_icd10 {
        if !draft.differential.iter().any(|d| category(&d.icd10) == category(code)) {
            flags.push(format!("coded principal diagnosis {code} is absent from the draft's differential"));
        }
    }
    let text = format!("{} {}", draft.summary, draft.red_flags.join(" ")).to_lowercase();
    for (i, r) in risks.iter().enumerate() {
        if r.status() != pb::RiskStatus::Ok || r.band() != pb::RiskBand::High {
            continue;
        }
        let alias = risk_alias(i);
        let cited =
            draft.differential.iter().any(|d| d.supporting.contains(&alias) || d.contradicting.contains(&alias));
        let mentioned = (!r.model_id.is_empty() && text.contains(&r.model_id.to_lowercase()))
            || (!r.outcome.is_empty() && text.contains(&r.outcome.to_lowercase()));
        if !cited && !mentioned {
            flags.push(format!(
                "high risk from model {} ({:.0} % {}) is not addressed by the draft",
                r.model_id,
                r.probability * 100.0,
                r.outcome
            ));
        }
    }
    flags
}
