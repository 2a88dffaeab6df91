//! Scoring one encounter with one model: applicability, feature extraction with
//! missing/range policies, one batched run (patient + one row per explained
//! feature), band, explanations.

use crate::locale::Locale;
use std::time::Instant;

use super::manifest::{ClassName, Manifest, MissingPolicy, RangePolicy};
use super::model::LoadedModel;
use super::source::{icd_matches, Extracted};
use super::text::{self, Note};
use crate::encounter::terminology::Equivalents;
use crate::encounter::{Encounter, EncounterClass};
use crate::proto::v1 as pb;

/// Why a model does not apply to an encounter, or `None` when it does.
/// Why a model does not apply to an encounter (its manifest's `[applicability]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotApplicable {
    /// The encounter class is not one the model applies to.
    Class(&'static str),
    /// No ICD-10 diagnosis starts with one of these prefixes.
    NoDiagnosis(Vec<String>),
    /// This diagnosis excludes the model.
    ExcludedBy(String),
    /// The age is outside `min`–`max` years (`-`: open).
    Age(String, String),
}

impl NotApplicable {
    /// The reason as a person reads it, in `locale` (after "not applicable: ").
    pub fn text(&self, locale: Locale) -> String {
        match (self, locale) {
            (NotApplicable::Class(c), Locale::En) => format!("encounter class {c} is not one the model applies to"),
            (NotApplicable::Class(c), Locale::ZhCn) => format!("就诊类型 {} 不在模型适用范围内", class_zh(c)),
            (NotApplicable::NoDiagnosis(p), Locale::En) => {
                format!("no ICD-10 diagnosis starting with {}", p.join(", "))
            }
            (NotApplicable::NoDiagnosis(p), Locale::ZhCn) => format!("无以 {} 开头的 ICD-10 诊断", p.join("、")),
            (NotApplicable::ExcludedBy(c), Locale::En) => format!("diagnosis {c} excludes the model"),
            (NotApplicable::ExcludedBy(c), Locale::ZhCn) => format!("诊断 {c} 为模型的排除条件"),
            (NotApplicable::Age(lo, hi), Locale::En) => format!("age outside {lo}-{hi} years"),
            (NotApplicable::Age(lo, hi), Locale::ZhCn) => format!("年龄不在 {lo}–{hi} 岁范围内"),
        }
    }
}

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Locale::En))
    }
}

fn class_zh(class: &str) -> &'static str {
    match class {
        "inpatient" => "住院",
        "emergency" => "急诊",
        "outpatient" => "门诊",
        "observation" => "留观",
        _ => "其他",
    }
}

/// Why a model does not apply, without code mapping tables (see [`not_applicable_with`]).
pub fn not_applicable(m: &Manifest, enc: &Encounter) -> Option<NotApplicable> {
    not_applicable_with(m, enc, &Equivalents::default())
}

/// Why a model does not apply, or `None` when it does; `eq`: what mapped codings stand for
/// (the ICD-10 code a SNOMED CT diagnosis maps to counts), as the pipeline passes it.
pub fn not_applicable_with(m: &Manifest, enc: &Encounter, eq: &Equivalents) -> Option<NotApplicable> {
    let a = &m.applicability;
    let class = match enc.class {
        EncounterClass::Inpatient => ClassName::Inpatient,
        EncounterClass::Emergency => ClassName::Emergency,
        EncounterClass::Outpatient => ClassName::Outpatient,
        EncounterClass::Observation => ClassName::Observation,
    };
    if !a.encounter_classes.is_empty() && !a.encounter_classes.contains(&class) {
        return Some(NotApplicable::Class(enc.class.as_str()));
    }
    // Every ICD-10 coding of every diagnosis (a diagnosis coded SNOMED CT + ICD-10 counts),
    // and the ICD-10 codes its other codings map to (rules/mappings/).
    let icd = || enc.diagnoses.iter().flat_map(|d| eq.expand(&d.codings)).filter(|c| c.system.is_icd10());
    if !a.diagnosis_prefixes.is_empty() && !icd().any(|c| icd_matches(&c.code, &a.diagnosis_prefixes)) {
        return Some(NotApplicable::NoDiagnosis(a.diagnosis_prefixes.clone()));
    }
    if let Some(c) = icd().find(|c| icd_matches(&c.code, &a.exclude_diagnosis_prefixes)) {
        return Some(NotApplicable::ExcludedBy(c.code.clone()));
    }
    let age = enc.patient.age_years;
    if a.age_min.is_some_and(|lo| age < lo) || a.age_max.is_some_and(|hi| age > hi) {
        return Some(NotApplicable::Age(
            a.age_min.map_or("-".into(), |v| v.to_string()),
            a.age_max.map_or("-".into(), |v| v.to_string()),
        ));
    }
    None
}

/// The features of one encounter as the model will see them.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Model input row (finite values; meaningless when `refusals` is not empty).
    pub row: Vec<f64>,
    pub features: Vec<pb::FeatureValue>,
    /// Reasons not to score.
    pub refusals: Vec<Note>,
    /// Caveats of a score (imputed, out of range but flagged, unusable items).
    pub notes: Vec<Note>,
}

/// Extracts and checks every feature.
pub fn prepare(m: &Manifest, enc: &Encounter) -> Prepared {
    prepare_with(m, enc, &Equivalents::default())
}

/// [`prepare`] with what mapped codings stand for (see [`not_applicable_with`]).
pub fn prepare_with(m: &Manifest, enc: &Encounter, eq: &Equivalents) -> Prepared {
    apply_policies(m, m.features.iter().map(|f| f.source.extract(enc, eq)).collect())
}

/// Applies the manifest's missing-value and range policies to extracted values
/// (one per feature, in order): non-finite values count as missing.
pub fn apply_policies(m: &Manifest, extracted: Vec<Extracted>) -> Prepared {
    let n = m.features.len();
    let mut p = Prepared { row: Vec::with_capacity(n), features: Vec::with_capacity(n), ..Default::default() };
    for (feature, (f, x)) in m.features.iter().zip(extracted).enumerate() {
        let s = &f.spec;
        if let Some(why) = x.note {
            p.notes.push(Note::Unusable { feature, why });
        }
        let mut value = x.value;
        if let Some(v) = value.filter(|v| !v.is_finite()) {
            p.notes.push(Note::NonFinite { feature, value: v });
            value = None;
        }
        let mut imputed = false;
        let v = match (value, s.missing, s.impute) {
            (Some(v), _, _) => v,
            (None, MissingPolicy::Impute, Some(i)) => {
                imputed = true;
                p.notes.push(Note::Imputed { feature, value: i });
                i
            }
            (None, _, _) => {
                p.refusals.push(Note::Missing { feature });
                p.row.push(f64::NAN);
                continue;
            }
        };
        let out_of_range = v < s.valid_min || v > s.valid_max;
        if out_of_range {
            match s.out_of_range {
                RangePolicy::Refuse => p.refusals.push(Note::OutOfRange { feature, value: v, refused: true }),
                RangePolicy::Flag => p.notes.push(Note::OutOfRange { feature, value: v, refused: false }),
            }
        }
        p.row.push(v);
        p.features.push(pb::FeatureValue {
            name: s.name.clone(),
            value: v,
            unit: s.unit.clone(),
            imputed,
            out_of_range,
            source: x.evidence,
            // In the request's locale: set by `score_prepared`.
            label: String::new(),
        });
    }
    p
}

/// The band of a probability.
pub fn band(m: &Manifest, p: f64) -> pb::RiskBand {
    if p >= m.bands.high {
        pb::RiskBand::High
    } else if p >= m.bands.moderate {
        pb::RiskBand::Moderate
    } else {
        pb::RiskBand::Low
    }
}

/// A RiskScore with the model's identity filled in, its texts in `l`.
pub fn base(model: &LoadedModel, l: Locale) -> pb::RiskScore {
    pb::RiskScore {
        device: model.device.label().to_string(),
        device_kind: super::device_kind(model.device) as i32,
        ..from_manifest(&model.manifest, l)
    }
}

/// What a score says about its model from the manifest alone (a model that failed to load
/// has no device): outcome, horizon and validity in `l`.
pub fn from_manifest(m: &Manifest, l: Locale) -> pb::RiskScore {
    pb::RiskScore {
        model_id: m.id.clone(),
        model_version: m.version.clone(),
        outcome: m.outcome.text(l).to_string(),
        horizon: m.horizon.text(l).to_string(),
        citation: m.citation.clone(),
        validity: m.validity.text(l).to_string(),
        ..Default::default()
    }
}

/// Scores the encounter: always returns a RiskScore (OK, REFUSED or ERROR), its texts in
/// English (benches and tests; the pipeline uses [`score_with`] in the request's locale).
/// `explain` adds per-feature contributions from the same batched run.
pub fn score(model: &LoadedModel, enc: &Encounter, explain: bool) -> pb::RiskScore {
    score_with(model, enc, &Equivalents::default(), explain, Locale::En)
}

/// [`score`] with what mapped codings stand for (see [`not_applicable_with`]), texts in `l`.
pub fn score_with(model: &LoadedModel, enc: &Encounter, eq: &Equivalents, explain: bool, l: Locale) -> pb::RiskScore {
    let started = Instant::now();
    let prepared = prepare_with(&model.manifest, enc, eq);
    score_prepared(model, prepared, explain, started, l)
}

/// Scores already prepared features (`started`: when the work for this score began); the
/// texts a person reads (message, feature labels) in `l`.
pub fn score_prepared(
    model: &LoadedModel,
    prepared: Prepared,
    explain: bool,
    started: Instant,
    l: Locale,
) -> pb::RiskScore {
    let m = &model.manifest;
    let mut out = base(model, l);
    out.features = prepared.features;
    for f in &mut out.features {
        f.label = m.label(&f.name, l).to_string();
    }
    if !prepared.refusals.is_empty() {
        out.set_status(pb::RiskStatus::Refused);
        out.message = text::refused(&prepared.refusals, m, l);
        out.duration_us = started.elapsed().as_micros() as u64;
        return out;
    }
    // Row 0 is the patient; row k+1 replaces feature `explained[k]` by its reference value.
    let mut rows = vec![prepared.row.clone()];
    let mut explained = Vec::new();
    if explain {
        for (i, f) in m.features.iter().enumerate() {
            // A feature already at its reference value contributes nothing: no row.
            if let Some(r) = f.spec.reference.filter(|r| *r != prepared.row[i]) {
                let mut row = prepared.row.clone();
                row[i] = r;
                rows.push(row);
                explained.push((i, r));
            }
        }
    }
    let probs = match model.run(&rows) {
        Ok(p) => p,
        Err(e) => {
            out.set_status(pb::RiskStatus::Error);
            out.message = text::run_failed(&e.to_string(), l);
            out.duration_us = started.elapsed().as_micros() as u64;
            return out;
        }
    };
    let p0 = probs[0];
    if !(p0.is_finite() && (0.0..=1.0).contains(&p0)) {
        out.set_status(pb::RiskStatus::Error);
        out.message = text::invalid_probability(p0, l);
        out.duration_us = started.elapsed().as_micros() as u64;
        return out;
    }
    out.set_status(pb::RiskStatus::Ok);
    out.probability = p0;
    out.set_band(band(m, p0));
    let mut contributions: Vec<pb::Contribution> = explained
        .iter()
        .zip(&probs[1..])
        .filter(|(_, p)| p.is_finite())
        .map(|(&(i, r), p)| pb::Contribution {
            feature: m.features[i].spec.name.clone(),
            delta: p0 - p,
            reference_value: r,
            label: m.features[i].label.text(l).to_string(),
        })
        .collect();
    contributions.sort_by(|a, b| b.delta.abs().total_cmp(&a.delta.abs()).then_with(|| a.feature.cmp(&b.feature)));
    out.contributions = contributions;
    out.message = text::join(&prepared.notes, m, l);
    out.duration_us = started.elapsed().as_micros() as u64;
    out
}
