//! `cdssd evaluate --fhir FILE`: a FHIR R4 Bundle → the request of the normal evaluate path
//! (the mapper is `crate::fhir`; the encounter is validated by the pipeline as any other).

use anyhow::Context;

use crate::{fhir, proto::v1 as pb};

/// Map the bundle in `text` (read from `file`) to a request; what was left out goes to stderr
/// (resource types and counts, never data values); a bundle that cannot be mapped is an
/// error listing every issue with its location (the OperationOutcome's issues).
pub fn request(
    text: &str,
    file: &str,
    encounter_id: Option<&str>,
    zone: chrono_tz::Tz,
) -> anyhow::Result<pb::EvaluateRequest> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{file}:{}:{}: not JSON: {}",
            e.line(),
            e.column(),
            e.to_string().split(" at line").next().unwrap_or("syntax error")
        )
    })?;
    let focus = fhir::Focus { patient_id: None, encounter_id };
    let mapped =
        fhir::map_bundle(&json, &fhir::Options::new(focus, zone)).with_context(|| format!("{file}: FHIR bundle"))?;
    for w in &mapped.warnings {
        eprintln!("{file}: warning: {}: {}", w.expression, w.diagnostics);
    }
    if !mapped.ignored.is_empty() {
        let list: Vec<String> = mapped.ignored.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        eprintln!("{file}: not mapped: {}", list.join(", "));
    }
    Ok(pb::EvaluateRequest { encounter: Some(mapped.encounter), ..Default::default() })
}
