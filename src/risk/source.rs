//! Feature sources: where in the validated encounter a model feature comes from
//! (the `source` of a manifest feature; the syntax is in `models/README.md`).

use super::text::SourceNote;
use crate::encounter::terminology::Equivalents;
use crate::encounter::{self, CodeSystem, Encounter, ObsValue, Observation, OrderStatus, Sex};
use crate::proto::v1 as pb;

/// Which observation of a code to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first at or after arrival.
    First,
    /// The latest.
    Last,
}

/// Which list of observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsList {
    Vitals,
    Labs,
}

/// Conversion from the encounter's unit to the manifest's unit.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitRule {
    /// The code is a known quantity: the value arrives in its canonical unit and is
    /// converted with `manifest = (canonical - offset) / factor`.
    Known { factor: f64, offset: f64 },
    /// Unknown quantity: the observation's unit must equal the manifest's.
    Exact(String),
}

impl UnitRule {
    fn new(loinc: &str, unit: &str) -> Result<Self, String> {
        match encounter::units::known(loinc) {
            None => Ok(UnitRule::Exact(unit.to_string())),
            Some(q) => q
                .accepts
                .iter()
                .find(|(u, _, _)| *u == unit)
                .map(|&(_, factor, offset)| UnitRule::Known { factor, offset })
                .ok_or_else(|| {
                    let units: Vec<&str> = q.accepts.iter().map(|(u, _, _)| *u).collect();
                    format!(
                        "unit \"{unit}\" is not a unit of {} (LOINC {loinc}): use one of {}",
                        q.name,
                        units.join(", ")
                    )
                }),
        }
    }

    fn convert(&self, value: f64, unit: &str) -> Option<f64> {
        match self {
            UnitRule::Known { factor, offset } => Some((value - offset) / factor),
            UnitRule::Exact(want) => (want == unit).then_some(value),
        }
    }
}

/// A parsed feature source.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureSource {
    /// Age in years at arrival.
    Age,
    /// 1 female, 0 male; missing otherwise.
    SexFemale,
    /// 1 when the patient's race code is one of these.
    Race(Vec<String>),
    /// A numeric vital sign or lab result.
    Observation { list: ObsList, which: Which, code: String, unit: UnitRule },
    /// Body mass index: the first recorded BMI after arrival, else first weight / height².
    Bmi,
    /// 1 when an ICD-10 diagnosis starts with one of the prefixes (stored as [`icd_key`]s).
    HasDiagnosis(Vec<String>),
    /// 1 when an active medication order has a code of `system` starting with a prefix.
    HasActiveMed { system: String, prefixes: Vec<String> },
    /// 1 when the latest assessment of `code` has one of the text answers (lower case).
    AssessmentText { code: String, matches: Vec<String> },
}

fn list(arg: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = arg.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err("needs at least one code".into());
    }
    Ok(items)
}

/// An ICD-10 code or prefix as compared: upper case, without dots.
pub fn icd_key(code: &str) -> String {
    code.chars().filter(|c| *c != '.').collect::<String>().to_ascii_uppercase()
}

/// True when `code` starts with `key` (an [`icd_key`]), ignoring dots and case; no allocation.
fn icd_starts_with(code: &str, key: &str) -> bool {
    let mut c = code.bytes().filter(|b| *b != b'.').map(|b| b.to_ascii_uppercase());
    key.bytes().all(|k| c.next() == Some(k))
}

/// True when a diagnosis code starts with one of the prefixes, given as [`icd_key`]s.
pub fn icd_matches(code: &str, keys: &[String]) -> bool {
    keys.iter().any(|k| icd_starts_with(code, k))
}

impl FeatureSource {
    /// Parses `source` (with the feature's `match` list and `unit`).
    pub fn parse(source: &str, match_values: &[String], unit: &str) -> Result<Self, String> {
        let (kind, arg) = match source.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (source.trim(), None),
        };
        let want_unit = |u: &str| {
            if unit == u {
                Ok(())
            } else {
                Err(format!("`{kind}` gives values in unit \"{u}\", not \"{unit}\""))
            }
        };
        let parsed = match (kind, arg) {
            ("age", None) => {
                want_unit("a")?;
                FeatureSource::Age
            }
            ("sex_female", None) => {
                want_unit("1")?;
                FeatureSource::SexFemale
            }
            ("race", Some(a)) => {
                want_unit("1")?;
                FeatureSource::Race(list(a)?)
            }
            ("bmi", None) => {
                want_unit("kg/m2")?;
                FeatureSource::Bmi
            }
            ("first_vital" | "last_vital" | "first_lab" | "last_lab", Some(code)) => {
                if code.is_empty() || code.contains(',') {
                    return Err("needs exactly one LOINC code".into());
                }
                let which = if kind.starts_with("first") { Which::First } else { Which::Last };
                let list = if kind.ends_with("vital") { ObsList::Vitals } else { ObsList::Labs };
                FeatureSource::Observation { list, which, code: code.to_string(), unit: UnitRule::new(code, unit)? }
            }
            ("has_diagnosis", Some(a)) => {
                want_unit("1")?;
                FeatureSource::HasDiagnosis(list(a)?.iter().map(|p| icd_key(p)).collect())
            }
            ("has_active_med", Some(a)) => {
                want_unit("1")?;
                let (system, codes) =
                    a.split_once(':').ok_or("needs SYSTEM:PREFIX[,PREFIX...], e.g. has_active_med:ATC:C07")?;
                let system = encounter::codes::parse_system(system.trim(), &[])
                    .map(|s| s.name().to_string())
                    .ok_or_else(|| format!("unknown code system \"{}\"", system.trim()))?;
                FeatureSource::HasActiveMed { system, prefixes: list(codes)? }
            }
            ("assessment_text", Some(code)) => {
                want_unit("1")?;
                if match_values.is_empty() {
                    return Err("assessment_text needs a `match` list of answers that mean 1".into());
                }
                FeatureSource::AssessmentText {
                    code: code.to_string(),
                    matches: match_values.iter().map(|m| m.trim().to_lowercase()).collect(),
                }
            }
            _ => {
                return Err(format!(
                    "unknown source \"{source}\" (expected age, sex_female, race:CODES, bmi, first_vital:LOINC, \
                     last_vital:LOINC, first_lab:LOINC, last_lab:LOINC, has_diagnosis:PREFIXES, \
                     has_active_med:SYSTEM:PREFIXES or assessment_text:LOINC)"
                ))
            }
        };
        if !match_values.is_empty() && !matches!(parsed, FeatureSource::AssessmentText { .. }) {
            return Err("`match` is only allowed with assessment_text sources".into());
        }
        Ok(parsed)
    }
}

/// A value taken from the encounter, with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// `None` when the encounter lacks it.
    pub value: Option<f64>,
    pub evidence: Option<pb::Evidence>,
    /// Why the value is missing although an item exists (e.g. a unit mismatch).
    pub note: Option<super::text::SourceNote>,
}

fn coding(c: &encounter::Code) -> pb::Coding {
    pb::Coding { system: c.system.name().to_string(), code: c.code.clone(), display: c.display.clone() }
}

fn timestamp(t: encounter::Time) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn obs_evidence(list: &str, o: &Observation) -> pb::Evidence {
    let value = match &o.value {
        ObsValue::Quantity { value, unit } => format!("{value} {unit}"),
        ObsValue::Text(t) => t.clone(),
    };
    pb::Evidence {
        item_kind: pb::ItemKind::of_list(list) as i32,
        item_type: list.to_string(),
        item_id: o.id.clone(),
        label: o.code.display.clone(),
        code: Some(coding(&o.code)),
        value,
        time: Some(timestamp(o.time)),
    }
}

fn encounter_evidence(field: &str, value: String) -> pb::Evidence {
    pb::Evidence {
        item_kind: pb::ItemKind::Encounter as i32,
        item_type: "encounter".into(),
        item_id: field.into(),
        label: field.into(),
        value,
        ..Default::default()
    }
}

/// Any of the observation's codings, or a code one maps to (an LIS code → LOINC), is LOINC `code`.
fn is_loinc(o: &Observation, code: &str, eq: &Equivalents) -> bool {
    eq.expand(&o.codings).any(|c| c.system == CodeSystem::Loinc && c.code == code)
}

fn pick<'a>(
    obs: &'a [Observation],
    code: &str,
    which: Which,
    arrival: encounter::Time,
    eq: &Equivalents,
) -> Option<&'a Observation> {
    let mut it = obs.iter().filter(|o| is_loinc(o, code, eq));
    match which {
        Which::First => it.find(|o| o.time >= arrival),
        Which::Last => it.next_back(),
    }
}

fn found(value: f64, evidence: pb::Evidence) -> Extracted {
    Extracted { value: Some(value), evidence: Some(evidence), note: None }
}

fn flag(present: Option<pb::Evidence>) -> Extracted {
    match present {
        Some(e) => found(1.0, e),
        None => Extracted { value: Some(0.0), ..Default::default() },
    }
}

impl FeatureSource {
    /// Reads the value from the encounter; `eq` gives what mapped codings stand for
    /// (rules/mappings/: a SNOMED CT diagnosis counts as its ICD-10 code, an RxNorm order
    /// as its ATC code, an LIS test as its LOINC code).
    pub fn extract(&self, enc: &Encounter, eq: &Equivalents) -> Extracted {
        match self {
            FeatureSource::Age => {
                let age = enc.patient.age_years;
                found(age, encounter_evidence("patient.age", format!("{age:.1} a")))
            }
            FeatureSource::SexFemale => match enc.patient.sex {
                Sex::Female => found(1.0, encounter_evidence("patient.sex", "female".into())),
                Sex::Male => found(0.0, encounter_evidence("patient.sex", "male".into())),
                other => Extracted { note: Some(SourceNote::Sex(other.as_str())), ..Default::default() },
            },
            FeatureSource::Race(codes) => match &enc.patient.race {
                Some(r) => {
                    let e = pb::Evidence {
                        item_kind: pb::ItemKind::Encounter as i32,
                        item_type: "encounter".into(),
                        item_id: "patient.race".into(),
                        label: "race".into(),
                        code: Some(coding(r)),
                        value: r.display.clone(),
                        time: None,
                    };
                    found(if codes.contains(&r.code) { 1.0 } else { 0.0 }, e)
                }
                None => Extracted::default(),
            },
            FeatureSource::Observation { list, which, code, unit } => {
                let (obs, name) = match list {
                    ObsList::Vitals => (&enc.vitals, "vitals"),
                    ObsList::Labs => (&enc.labs, "labs"),
                };
                let Some(o) = pick(obs, code, *which, enc.arrival, eq) else {
                    return Extracted::default();
                };
                let e = obs_evidence(name, o);
                if let Some(c) = o.comparator {
                    // A censored value (`<3 ng/L`) is never fed as if it were exact.
                    return Extracted {
                        value: None,
                        evidence: Some(e),
                        note: Some(SourceNote::Bound { item: format!("{name}/{}", o.id), comparator: c.as_str() }),
                    };
                }
                // Validation put a LOINC-coded known quantity into its canonical unit; one
                // found through a mapped code (an LIS code) arrives in the unit it was sent in.
                let direct = o.codings.iter().any(|c| c.system == CodeSystem::Loinc && c.code == *code);
                let canonical = |value: f64, u: &str| match encounter::units::known(code) {
                    Some(q) if !direct => {
                        encounter::units::to_canonical(q, value, u).map(|v| (v, q.canonical.to_string()))
                    }
                    _ => Some((value, u.to_string())),
                };
                match &o.value {
                    ObsValue::Quantity { value, unit: u } => {
                        match canonical(*value, u).and_then(|(v, cu)| unit.convert(v, &cu)) {
                            Some(v) => found(v, e),
                            None => Extracted {
                                value: None,
                                evidence: Some(e),
                                note: Some(SourceNote::Unit { item: format!("{name}/{}", o.id), unit: u.clone() }),
                            },
                        }
                    }
                    ObsValue::Text(_) => Extracted {
                        value: None,
                        evidence: Some(e),
                        note: Some(SourceNote::Text { item: format!("{name}/{}", o.id) }),
                    },
                }
            }
            FeatureSource::Bmi => bmi(enc, eq),
            FeatureSource::HasDiagnosis(prefixes) => flag(
                enc.diagnoses
                    .iter()
                    .find_map(|d| {
                        eq.expand(&d.codings)
                            .find(|c| c.system.is_icd10() && icd_matches(&c.code, prefixes))
                            .map(|c| (d, c))
                    })
                    .map(|(d, c)| pb::Evidence {
                        item_kind: pb::ItemKind::Diagnoses as i32,
                        item_type: "diagnoses".into(),
                        item_id: d.id.clone(),
                        label: d.code.display.clone(),
                        code: Some(coding(c)),
                        value: c.code.clone(),
                        time: d.time.map(timestamp),
                    }),
            ),
            FeatureSource::HasActiveMed { system, prefixes } => {
                flag(enc.medication_orders.iter().filter(|m| m.status == OrderStatus::Active).find_map(|m| {
                    eq.expand(&m.codes)
                        .find(|c| c.system.name() == system && prefixes.iter().any(|p| c.code.starts_with(p.as_str())))
                        .map(|c| pb::Evidence {
                            item_kind: pb::ItemKind::MedicationOrders as i32,
                            item_type: "medication_orders".into(),
                            item_id: m.id.clone(),
                            label: m.name.clone(),
                            code: Some(coding(c)),
                            value: "active".into(),
                            time: Some(timestamp(m.time)),
                        })
                }))
            }
            FeatureSource::AssessmentText { code, matches } => {
                let Some(o) = enc.assessments.iter().rfind(|o| is_loinc(o, code, eq)) else {
                    return Extracted::default();
                };
                let e = obs_evidence("assessments", o);
                match &o.value {
                    // The text answer, or any coding of a coded answer (LOINC LA18976-3, SNOMED CT 77176002).
                    ObsValue::Text(t) => {
                        let hit = matches.contains(&t.trim().to_lowercase())
                            || eq.expand(&o.answer_codes).any(|c| matches.contains(&c.code.to_lowercase()));
                        found(if hit { 1.0 } else { 0.0 }, e)
                    }
                    ObsValue::Quantity { .. } => Extracted {
                        value: None,
                        evidence: Some(e),
                        note: Some(SourceNote::Number { item: format!("assessments/{}", o.id) }),
                    },
                }
            }
        }
    }
}

const BMI: &str = "39156-5";
const WEIGHT: &str = "29463-7";
const HEIGHT: &str = "8302-2";

/// First recorded BMI after arrival; else the first weight after arrival over the latest
/// height squared (canonical units kg and cm).
fn bmi(enc: &Encounter, eq: &Equivalents) -> Extracted {
    if let Some(o) = pick(&enc.vitals, BMI, Which::First, enc.arrival, eq) {
        if let Some(v) = o.number() {
            return found(v, obs_evidence("vitals", o));
        }
    }
    let weight = pick(&enc.vitals, WEIGHT, Which::First, enc.arrival, eq);
    let height = pick(&enc.vitals, HEIGHT, Which::Last, enc.arrival, eq);
    match (weight.and_then(|w| w.number().map(|v| (w, v))), height.and_then(Observation::number)) {
        (Some((w, kg)), Some(cm)) if cm > 0.0 => {
            let mut e = obs_evidence("vitals", w);
            let value = kg / (cm / 100.0).powi(2);
            e.label = format!("BMI = {kg} kg / ({cm} cm)²");
            e.value = format!("{value:.1} kg/m2");
            found(value, e)
        }
        _ => Extracted::default(),
    }
}
