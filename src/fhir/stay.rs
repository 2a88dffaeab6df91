//! Who and which stay: the focus patient, the index encounter, and which resource belongs
//! to which encounter. Then every resource type is mapped into one `pb::Encounter`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::IssueCode;
use super::index::{Index, Res};
use super::read::{obj_at, str_at, At, Sink, Zone};
use super::Options;
use crate::proto::v1 as pb;

/// Resource types the mapper reads (others are counted as ignored).
const READ: &[&str] = &[
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
    "AllergyIntolerance",
    "DocumentReference",
    // Read only to resolve references (a Location's type, a Medication's codes).
    "Location",
    "Medication",
];

/// Where a clinical resource belongs.
pub enum Owner<'i, 'a> {
    /// The index encounter (or an encounter that is `partOf` it).
    Index,
    /// An earlier encounter of the patient.
    Prior(&'i Res<'a>),
    /// No encounter reference.
    Unlinked,
    /// Another encounter that is not mapped (a later one, a cancelled one, or unknown).
    Elsewhere,
}

/// What the mappers of each resource type share.
pub struct Cx<'i, 'a> {
    pub idx: &'i Index<'a>,
    pub zone: Zone,
    pub patient: &'i Res<'a>,
    pub index: &'i Res<'a>,
    /// Encounters that are `partOf` the index encounter (an ICU stay recorded as its own encounter).
    parts: Vec<&'i Res<'a>>,
    /// Earlier encounters of the patient (history).
    pub priors: Vec<&'i Res<'a>>,
    /// The index encounter's period (start, end): unlinked records in it belong to it.
    pub period: (Option<pbjson_types::Timestamp>, Option<pbjson_types::Timestamp>),
    /// Left out, by `"Type (reason)"`.
    pub ignored: BTreeMap<String, usize>,
}

impl<'i, 'a> Cx<'i, 'a> {
    /// Count a resource left out, with the reason.
    pub fn ignore(&mut self, ty: &str, reason: &str) {
        *self.ignored.entry(format!("{ty} ({reason})")).or_default() += 1;
    }

    /// Which encounter the reference `obj[field]` names.
    pub fn owner(&self, r: &Res<'_>, field: &str, sink: &mut Sink) -> Owner<'i, 'a> {
        let at = At::root(&r.root);
        let Some(reference) = super::read::reference(r.v, field, &at, sink) else { return Owner::Unlinked };
        if self.idx.refers_to(reference, self.index) || self.parts.iter().any(|p| self.idx.refers_to(reference, p)) {
            return Owner::Index;
        }
        match self.priors.iter().find(|p| self.idx.refers_to(reference, p)) {
            Some(p) => Owner::Prior(p),
            None => Owner::Elsewhere,
        }
    }

    /// Is the unlinked time `t` within the index stay?
    pub fn in_stay(&self, t: Option<&pbjson_types::Timestamp>) -> bool {
        let Some(t) = t else { return true };
        let key = |x: &pbjson_types::Timestamp| (x.seconds, x.nanos);
        self.period.0.as_ref().is_none_or(|s| key(s) <= key(t))
            && self.period.1.as_ref().is_none_or(|e| key(t) <= key(e))
    }

    /// False (and counted) when the resource's `subject`/`patient` names another patient.
    pub fn of_patient(&mut self, r: &Res<'_>, field: &str, sink: &mut Sink) -> bool {
        let at = At::root(&r.root);
        let Some(reference) = super::read::reference(r.v, field, &at, sink) else { return true };
        if self.idx.refers_to(reference, self.patient) {
            return true;
        }
        self.ignore(r.ty, "another patient");
        false
    }
}

/// Encounter statuses that mean "did not happen" (never an index or prior encounter).
fn not_happened(status: Option<&str>) -> bool {
    matches!(status, Some("cancelled" | "entered-in-error" | "planned"))
}

/// Map the indexed input; `None` when an error was recorded that prevents it.
pub fn map(
    idx: &Index<'_>,
    options: &Options<'_>,
    sink: &mut Sink,
) -> Option<(pb::Encounter, BTreeMap<String, usize>)> {
    let patient = focus_patient(idx, options.focus.patient_id, sink)?;
    let mut ignored: BTreeMap<String, usize> = idx.skipped.clone();
    for r in &idx.all {
        if !READ.contains(&r.ty) {
            *ignored.entry(r.ty.to_string()).or_default() += 1;
        }
    }
    let patient_ref = |r: &Res<'_>, sink: &mut Sink| -> bool {
        let at = At::root(&r.root);
        match super::read::reference(r.v, "subject", &at, sink) {
            Some(reference) => idx.refers_to(reference, patient),
            None => true,
        }
    };
    // Encounters of this patient that happened.
    let mut encounters: Vec<&Res<'_>> = Vec::new();
    for e in idx.of_type("Encounter") {
        let status = e.v.get("status").and_then(Value::as_str);
        if !patient_ref(e, sink) {
            *ignored.entry("Encounter (another patient)".into()).or_default() += 1;
        } else if not_happened(status) && (options.focus.encounter_id.is_none() || e.id != options.focus.encounter_id) {
            *ignored.entry("Encounter (cancelled, planned or entered-in-error)".into()).or_default() += 1;
        } else {
            encounters.push(e);
        }
    }
    let start_of = |e: &Res<'_>, sink: &mut Sink| {
        let at = At::root(&e.root);
        super::read::period_at(e.v, "period", options.zone, &at, sink).0
    };
    let index = match options.focus.encounter_id {
        Some(id) => match encounters.iter().find(|e| e.id == Some(id)) {
            Some(e) => *e,
            None => {
                sink.error(
                    IssueCode::NotFound,
                    &At::root("Encounter"),
                    "the focus encounter id is not an Encounter of the focus patient in the input",
                );
                return None;
            }
        },
        None => {
            // The latest start; an in-progress encounter wins over finished ones.
            let mut best: Option<(&Res<'_>, (bool, i64, i32))> = None;
            for e in &encounters {
                let t = start_of(e, sink).map_or((i64::MIN, 0), |t| (t.seconds, t.nanos));
                let key = (e.v.get("status").and_then(Value::as_str) == Some("in-progress"), t.0, t.1);
                if best.as_ref().is_none_or(|(_, k)| key > *k) {
                    best = Some((e, key));
                }
            }
            match best {
                Some((e, _)) => e,
                None => {
                    sink.error(
                        IssueCode::Required,
                        &At::root("Encounter"),
                        "the input has no Encounter of the patient: the contract evaluates one encounter",
                    );
                    return None;
                }
            }
        }
    };
    let period = {
        let at = At::root(&index.root);
        super::read::period_at(index.v, "period", options.zone, &at, sink)
    };
    let index_start = period.0.map(|t| (t.seconds, t.nanos));
    let mut parts = Vec::new();
    let mut priors = Vec::new();
    for e in &encounters {
        if std::ptr::eq(e.v, index.v) {
            continue;
        }
        let at = At::root(&e.root);
        if let Some(reference) =
            obj_at(e.v, "partOf", &at, sink).and_then(|p| str_at(p, "reference", &at.field("partOf"), sink))
        {
            if idx.refers_to(reference, index) {
                parts.push(*e);
                continue;
            }
        }
        let start = start_of(e, sink).map(|t| (t.seconds, t.nanos));
        match (start, index_start) {
            (Some(s), Some(i)) if s < i => priors.push(*e),
            _ => *ignored.entry("Encounter (not before the index encounter)".into()).or_default() += 1,
        }
    }
    let mut cx = Cx { idx, zone: options.zone, patient, index, parts, priors, period, ignored };
    let enc = super::encounter::build(&mut cx, sink);
    Some((enc, cx.ignored))
}

/// The focus patient: the one named, else the only Patient of the input.
fn focus_patient<'i, 'a>(idx: &'i Index<'a>, id: Option<&str>, sink: &mut Sink) -> Option<&'i Res<'a>> {
    let mut patients = idx.of_type("Patient");
    match id {
        Some(id) => {
            let found = idx.of_type("Patient").find(|p| p.id == Some(id));
            if found.is_none() {
                sink.error(
                    IssueCode::NotFound,
                    &At::root("Patient"),
                    "the focus patient id is not a Patient resource of the input",
                );
            }
            found
        }
        None => {
            let first = patients.next();
            if first.is_none() {
                sink.error(IssueCode::Required, &At::root("Patient"), "the input has no Patient resource");
            } else if patients.next().is_some() {
                sink.error(
                    IssueCode::Conflict,
                    &At::root("Patient"),
                    "the input has several Patient resources: name the focus patient",
                );
                return None;
            }
            first
        }
    }
}
