//! FHIR R4 → the contract's `cdss.v1.Encounter`: the one mapper every transport uses (the
//! CDS Hooks service's prefetch, `cdssd evaluate --fhir BUNDLE.json`).
//!
//! The mapper only maps: what it produces goes through the normal encounter validation of
//! the pipeline, which reports contract violations (unknown code systems, units, required
//! fields). The mapper itself reports what it cannot map — JSON of the wrong shape, dates
//! that are not FHIR dates, references to nothing, an ambiguous patient — as
//! OperationOutcome-style issues with FHIRPath-like locations ([`FhirError`]), all of them
//! at once. What it leaves out on purpose (resource types it does not read, resources of
//! other encounters, records the contract cannot carry) is reported beside the encounter
//! ([`Mapped`]). The element-by-element table is `docs/FHIR-MAPPING.md`.
//!
//! Depends on the contract types only (no transport, no pipeline).

mod clinical;
mod encounter;
mod error;
mod index;
mod medication;
mod notes;
mod observation;
mod read;
mod stay;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_items;

use std::collections::BTreeMap;

use serde_json::Value;

pub use error::{operation_outcome, FhirError, Issue, IssueCode, Severity};
pub use read::Zone;

use crate::proto::v1 as pb;

/// Base of the project's FHIR extensions, for the few contract fields FHIR R4 core has no
/// element for (listed in `docs/FHIR-MAPPING.md`), e.g. `urn:cdssd:fhir:extension:last-known-well`.
pub const EXTENSION_BASE: &str = "urn:cdssd:fhir:extension:";

/// Which patient and encounter of the input to map (CDS Hooks `context.patientId` /
/// `context.encounterId`). `None`: the only Patient; the index encounter is the latest
/// (by `period.start`) Encounter of that patient that is not cancelled, planned or
/// entered-in-error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Focus<'a> {
    /// `Patient.id` to map.
    pub patient_id: Option<&'a str>,
    /// `Encounter.id` of the index encounter.
    pub encounter_id: Option<&'a str>,
}

/// How to map.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Which patient and encounter.
    pub focus: Focus<'a>,
    /// The hospital time zone: a FHIR `date` (no time) is the start of that day there.
    pub zone: Zone,
}

impl<'a> Options<'a> {
    /// Map `focus` with dates read in `zone`.
    pub fn new(focus: Focus<'a>, zone: Zone) -> Self {
        Options { focus, zone }
    }
}

/// A mapped encounter and what was left out.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The encounter (not yet validated: the pipeline does that).
    pub encounter: pb::Encounter,
    /// Resources not mapped, by resource type: types the mapper does not read (counted
    /// under their name) and resources of other patients or of no mapped encounter
    /// (counted under `"Type (reason)"`).
    pub ignored: BTreeMap<String, usize>,
    /// Warnings: items left out or mapped with a loss, with their locations.
    pub warnings: Vec<Issue>,
}

/// A FHIR R4 Bundle (collection/searchset/transaction...) → encounter. Dates without a time
/// are read in UTC; use [`map_bundle`] to give the hospital's zone.
pub fn bundle_to_encounter(bundle: &Value, focus: Focus<'_>) -> Result<pb::Encounter, FhirError> {
    map_bundle(bundle, &Options::new(focus, chrono_tz::UTC)).map(|m| m.encounter)
}

/// Loose resources (e.g. CDS Hooks prefetch values: single resources or search Bundles) →
/// encounter. Dates without a time are read in UTC; use [`map_resources`] to give the zone.
pub fn resources_to_encounter<'a>(
    resources: impl IntoIterator<Item = &'a Value>,
    focus: Focus<'_>,
) -> Result<pb::Encounter, FhirError> {
    let labelled: Vec<(String, &Value)> = resources.into_iter().map(|v| (root_label(v), v)).collect();
    map_resources(labelled.iter().map(|(l, v)| (l.as_str(), *v)), &Options::new(focus, chrono_tz::UTC))
        .map(|m| m.encounter)
}

/// A Bundle → encounter, with the report of what was left out.
pub fn map_bundle(bundle: &Value, options: &Options<'_>) -> Result<Mapped, FhirError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::one(Issue::error(
            IssueCode::Structure,
            "Bundle.resourceType",
            "expected a FHIR Bundle (resourceType \"Bundle\")",
        )));
    }
    map_resources([("Bundle", bundle)], options)
}

/// Labelled inputs (a label is the root of the issues' locations, e.g. a CDS Hooks prefetch
/// key: `conditions.entry[2].resource.code`) → encounter, with the report.
pub fn map_resources<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a Value)>,
    options: &Options<'_>,
) -> Result<Mapped, FhirError> {
    let mut sink = read::Sink::default();
    let mut idx = index::Index::default();
    for (label, v) in items {
        idx.add(label, v, &mut sink);
    }
    let mapped = stay::map(&idx, options, &mut sink);
    match mapped {
        Some((encounter, ignored)) if sink.errors.is_empty() => {
            let mut seen = std::collections::HashSet::new();
            let warnings = sink.warnings.into_iter().filter(|i| seen.insert(i.expression.clone())).collect();
            Ok(Mapped { encounter, ignored, warnings })
        }
        _ => {
            if sink.errors.is_empty() {
                sink.errors.push(Issue::error(IssueCode::Structure, "Bundle", "the input cannot be mapped"));
            }
            // One issue per location (a period read twice reports once).
            let mut seen = std::collections::HashSet::new();
            let issues = sink.errors.into_iter().filter(|i| seen.insert(i.expression.clone())).collect();
            Err(FhirError { issues })
        }
    }
}

/// The location root of a loose resource: its resource type (FHIRPath style).
fn root_label(v: &Value) -> String {
    v.get("resourceType").and_then(Value::as_str).unwrap_or("resource").to_string()
}
