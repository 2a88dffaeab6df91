//! The encounter behind a recorded decision, for the figures and worksheets that need
//! more than the PHI-minimised record: the sealed request is opened (a PHI read the
//! caller records in the access log) and validated into the model the rules read, so
//! codes are compared in the same canonical form and against the same value sets.

use crate::{
    audit::{keys::KeyRing, StoredDecision},
    encounter::{self, Code, Encounter, Limits},
    rules::valueset::{normalize_code, ValueSet},
};

/// Open the decision's request and validate its encounter as of the evaluation time.
pub fn open(d: &StoredDecision, keys: &KeyRing, limits: &Limits) -> Result<Encounter, String> {
    let req = d.open_request(keys).map_err(|e| e.to_string())?;
    let enc = req.encounter.as_ref().ok_or_else(|| format!("decision {}: request without encounter", d.id))?;
    let now = chrono::DateTime::from_timestamp_micros(d.evaluated_us).unwrap_or_default();
    encounter::from_proto(enc, limits, now)
        .map_err(|e| format!("decision {}: {} violation(s)", d.id, e.violations.len()))
}

/// Does any of the codes belong to the value set (as the rules match them)?
pub fn any_code(codes: &[Code], vs: &ValueSet) -> bool {
    codes.iter().any(|c| {
        let sys = c.system.name();
        vs.matches_normalized(sys, &normalize_code(sys, &c.code))
    })
}

/// The `item_id` of the first evidence reference `list/item_id` of the given list.
pub fn evidence_item<'a>(evidence: &'a [String], list: &str) -> Option<&'a str> {
    evidence.iter().find_map(|e| e.strip_prefix(list).and_then(|r| r.strip_prefix('/')))
}
