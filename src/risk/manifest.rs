//! The model manifest (`models/<id>/manifest.toml`): parsing and the checks that need
//! no ONNX session. The format is documented in `models/README.md`.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::source::{icd_key, FeatureSource};
use crate::diagnostic::Diagnostic;

/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// Element type of a model input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    Float32,
    Float64,
}

impl ElementType {
    pub fn as_str(self) -> &'static str {
        match self {
            ElementType::Float32 => "float32",
            ElementType::Float64 => "float64",
        }
    }
}

/// What to do with a value outside the valid range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangePolicy {
    /// Score, and mark the feature out of range.
    Flag,
    /// Do not score.
    Refuse,
}

/// What to do when the encounter lacks the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Use the stated `impute` value and mark the feature imputed.
    Impute,
    /// Do not score.
    Refuse,
}

/// Encounter classes a model applies to (names as in the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassName {
    Inpatient,
    Emergency,
    Outpatient,
    Observation,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicability {
    #[serde(default)]
    pub encounter_classes: Vec<ClassName>,
    /// ICD-10 prefixes (normalised by [`parse`]: upper case, no dots).
    #[serde(default)]
    pub diagnosis_prefixes: Vec<String>,
    #[serde(default)]
    pub exclude_diagnosis_prefixes: Vec<String>,
    pub age_min: Option<f64>,
    pub age_max: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub element_type: ElementType,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub element_type: ElementType,
    /// Column of the probability in a `[batch, columns]` output (0 for `[batch]`).
    #[serde(default)]
    pub column: usize,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bands {
    pub moderate: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    /// What a person reads for the feature, `{ zh-CN = "…", en = "…" }` (checked by [`parse`]).
    pub label: Spanned<toml::Value>,
    pub source: Spanned<String>,
    /// For `assessment_text:` sources: the answers that mean 1.
    #[serde(default, rename = "match")]
    pub match_values: Vec<String>,
    pub unit: String,
    pub valid_min: f64,
    pub valid_max: f64,
    pub out_of_range: RangePolicy,
    pub missing: MissingPolicy,
    pub impute: Option<f64>,
    pub reference: Option<f64>,
}

/// Where the model is and is not valid (the populations it was derived and validated in),
/// in every locale: shown on each of its risk cards and in ListModels (SAFETY.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validity {
    #[serde(rename = "zh-CN")]
    pub zh_cn: Spanned<String>,
    pub en: Spanned<String>,
}

impl Validity {
    /// The statement in `l`.
    pub fn text(&self, l: crate::locale::Locale) -> &str {
        l.pick(self.zh_cn.get_ref(), self.en.get_ref())
    }
}

/// A text a person reads, in every locale: written `{ zh-CN = "…", en = "…" }` (or as a
/// table with those two keys); both are required and the zh-CN one contains Chinese.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts {
    pub zh_cn: String,
    pub en: String,
}

impl Texts {
    /// The text in `l`.
    pub fn text(&self, l: crate::locale::Locale) -> &str {
        l.pick(&self.zh_cn, &self.en)
    }
}

/// The texts of `key` (a value spanning `span` of `text`), or the problems that make them
/// unusable (pushed to `problems`, `path:line:col` of the value).
fn texts(text: &str, key: &str, value: &Spanned<toml::Value>, problems: &mut Vec<Diagnostic>) -> Texts {
    let mut bad = |m: String| problems.push(at(text, value.span(), m));
    let shape = format!("{key} = {{ zh-CN = \"…\", en = \"…\" }}");
    let Some(table) = value.get_ref().as_table() else {
        bad(format!("{key} must give the text in every locale: {shape} (models/README.md)"));
        return Texts::default();
    };
    let mut out = Texts::default();
    for (locale, t) in table {
        match (locale.as_str(), t.as_str()) {
            ("zh-CN" | "en", None) => bad(format!("{key}.{locale} must be a string")),
            ("zh-CN", Some(s)) => out.zh_cn = s.to_string(),
            ("en", Some(s)) => out.en = s.to_string(),
            _ => bad(format!("{key}: unknown locale `{locale}` (the locales are zh-CN and en: {shape})")),
        }
    }
    for (locale, t) in [("zh-CN", &out.zh_cn), ("en", &out.en)] {
        if t.trim().is_empty() {
            bad(format!("{key}.{locale} is missing or empty: {shape}"));
        }
    }
    if !out.zh_cn.trim().is_empty() && !crate::locale::has_chinese(&out.zh_cn) {
        bad(format!("{key}.zh-CN has no Chinese text"));
    }
    out
}

/// The manifest as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub title: String,
    /// What the model predicts, in every locale ([`Texts`]).
    pub outcome: Spanned<toml::Value>,
    /// The prediction horizon, in every locale ([`Texts`]).
    pub horizon: Spanned<toml::Value>,
    pub model_file: String,
    pub model_sha256: Option<String>,
    pub card: String,
    pub citation: String,
    /// Required; optional here only so that its absence gets a message saying what to add.
    pub validity: Option<Spanned<Validity>>,
    pub applicability: Applicability,
    pub input: TensorSpec,
    pub output: OutputSpec,
    pub bands: Bands,
    #[serde(rename = "features")]
    pub features: Vec<Spanned<FeatureSpec>>,
}

/// One validated feature: the spec plus its parsed source and label.
#[derive(Debug, Clone)]
pub struct Feature {
    pub spec: FeatureSpec,
    pub source: FeatureSource,
    /// What a person reads for it (`label` of the manifest).
    pub label: Texts,
}

/// A validated manifest (still unchecked against the ONNX session).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub title: String,
    /// What it predicts ("death from any cause within 1 year of admission").
    pub outcome: Texts,
    /// The prediction horizon ("1 year").
    pub horizon: Texts,
    pub model_file: String,
    pub model_sha256: Option<String>,
    pub card: String,
    pub citation: String,
    pub validity: Validity,
    pub applicability: Applicability,
    pub input: TensorSpec,
    pub output: OutputSpec,
    pub bands: Bands,
    pub features: Vec<Feature>,
}

fn at(text: &str, span: Range<usize>, message: String) -> Diagnostic {
    Diagnostic::at_offset(MANIFEST_FILE, text, span.start, message)
}

/// Parses and checks a manifest. `dir_name` is the model directory's name (the id must equal it).
/// Every problem found is returned, not only the first.
pub fn parse(text: &str, dir_name: &str) -> Result<Manifest, Vec<Diagnostic>> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| vec![Diagnostic::toml(MANIFEST_FILE, text, &e)])?;
    let mut problems = Vec::new();
    let whole = |m: String| Diagnostic::file(MANIFEST_FILE, m);

    if raw.id != dir_name {
        problems.push(whole(format!("id \"{}\" differs from the directory name \"{dir_name}\"", raw.id)));
    }
    if raw.version.trim().is_empty() {
        problems.push(whole("version is empty".into()));
    }
    if raw.model_file.contains('/') || raw.model_file.contains("..") || raw.model_file.is_empty() {
        problems.push(whole(format!("model_file \"{}\" must be a file name in the model directory", raw.model_file)));
    }
    if raw.card.contains('/') || raw.card.contains("..") || raw.card.is_empty() {
        problems.push(whole(format!("card \"{}\" must be a file name in the model directory", raw.card)));
    }
    if let Some(sha) = &raw.model_sha256 {
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            problems.push(whole("model_sha256 must be 64 hexadecimal digits".into()));
        }
    }
    let b = raw.bands;
    if !(b.moderate.is_finite() && b.high.is_finite() && 0.0 < b.moderate && b.moderate <= b.high && b.high <= 1.0) {
        problems.push(whole(format!(
            "bands must satisfy 0 < moderate <= high <= 1 (moderate {}, high {})",
            b.moderate, b.high
        )));
    }
    match &raw.validity {
        None => problems.push(whole(
            "no [validity] table: state in `zh-CN` and `en` the populations the model is (not) validated in; \
             it is shown on every risk card (models/README.md)"
                .into(),
        )),
        Some(v) => {
            let v = v.get_ref();
            for (key, t) in [("zh-CN", &v.zh_cn), ("en", &v.en)] {
                if t.get_ref().trim().is_empty() {
                    problems.push(at(text, t.span(), format!("validity.{key} is empty")));
                }
            }
            if !crate::locale::has_chinese(v.zh_cn.get_ref()) && !v.zh_cn.get_ref().trim().is_empty() {
                problems.push(at(text, v.zh_cn.span(), "validity.zh-CN has no Chinese text".into()));
            }
        }
    }
    let outcome = texts(text, "outcome", &raw.outcome, &mut problems);
    let horizon = texts(text, "horizon", &raw.horizon, &mut problems);
    let a = &raw.applicability;
    if let (Some(lo), Some(hi)) = (a.age_min, a.age_max) {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            problems.push(whole(format!("applicability: age_min {lo} > age_max {hi}")));
        }
    }
    if raw.features.is_empty() {
        problems.push(whole("no [[features]]".into()));
    }

    let mut features = Vec::with_capacity(raw.features.len());
    let mut seen = std::collections::HashSet::new();
    for spanned in &raw.features {
        let span = spanned.span();
        let f = spanned.get_ref();
        let mut bad = |m: String| problems.push(at(text, span.clone(), format!("feature \"{}\": {m}", f.name)));
        if f.name.is_empty() {
            bad("name is empty".into());
        }
        if !seen.insert(f.name.clone()) {
            bad("duplicate feature name".into());
        }
        if !(f.valid_min.is_finite() && f.valid_max.is_finite() && f.valid_min <= f.valid_max) {
            bad(format!("valid_min {} must be <= valid_max {}", f.valid_min, f.valid_max));
        }
        let in_range = |v: f64| v.is_finite() && v >= f.valid_min && v <= f.valid_max;
        match (f.missing, f.impute) {
            (MissingPolicy::Impute, None) => bad("missing = \"impute\" needs an `impute` value".into()),
            (MissingPolicy::Impute, Some(v)) if !in_range(v) => {
                bad(format!("impute value {v} is outside the valid range"))
            }
            (MissingPolicy::Refuse, Some(_)) => bad("`impute` is only allowed with missing = \"impute\"".into()),
            _ => {}
        }
        if let Some(r) = f.reference {
            if !in_range(r) {
                bad(format!("reference value {r} is outside the valid range"));
            }
        }
        let mut label_problems = Vec::new();
        let label = texts(text, &format!("feature \"{}\": label", f.name), &f.label, &mut label_problems);
        problems.extend(label_problems);
        let source_span = f.source.span();
        match FeatureSource::parse(f.source.get_ref(), &f.match_values, &f.unit) {
            Ok(source) => features.push(Feature { spec: f.clone(), source, label }),
            Err(m) => problems.push(at(text, source_span, format!("feature \"{}\": source: {m}", f.name))),
        }
    }

    let validity = match raw.validity {
        Some(v) if problems.is_empty() => v.into_inner(),
        _ => return Err(problems),
    };
    Ok(Manifest {
        id: raw.id,
        version: raw.version,
        title: raw.title,
        outcome,
        horizon,
        model_file: raw.model_file,
        model_sha256: raw.model_sha256.map(|s| s.to_ascii_lowercase()),
        card: raw.card,
        citation: raw.citation,
        validity,
        applicability: Applicability {
            diagnosis_prefixes: raw.applicability.diagnosis_prefixes.iter().map(|p| icd_key(p)).collect(),
            exclude_diagnosis_prefixes: raw
                .applicability
                .exclude_diagnosis_prefixes
                .iter()
                .map(|p| icd_key(p))
                .collect(),
            ..raw.applicability
        },
        input: raw.input,
        output: raw.output,
        bands: raw.bands,
        features,
    })
}

impl Manifest {
    /// Feature names in input-column order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.spec.name.clone()).collect()
    }

    /// The label of feature `name` in `l` (the name itself for an unknown feature).
    pub fn label<'a>(&'a self, name: &'a str, l: crate::locale::Locale) -> &'a str {
        self.features.iter().find(|f| f.spec.name == name).map_or(name, |f| f.label.text(l))
    }
}
