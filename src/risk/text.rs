//! Every text the risk component writes for a person about one score — imputed and
//! extrapolated features, refusals, unusable items, failures — in each [`Locale`]. Scoring
//! records *what* happened ([`Note`], [`SourceNote`]); the texts are rendered once, in the
//! request's locale (`Evaluation::text_locale`), with the features' manifest labels.

use super::manifest::Manifest;
use crate::locale::Locale;

/// Why an item the encounter has could not be used as a feature value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceNote {
    /// The patient's sex is recorded as unknown, other or unspecified.
    Sex(&'static str),
    /// `item` (`labs/lab-1`) is a bound (`<`, `>=` …), not an exact value.
    Bound { item: String, comparator: &'static str },
    /// `item` has a unit that cannot be converted to the manifest's.
    Unit { item: String, unit: String },
    /// `item` is a text, the feature needs a number.
    Text { item: String },
    /// `item` is a number, the feature needs a text answer.
    Number { item: String },
}

impl SourceNote {
    /// The reason in `l`.
    pub fn text(&self, l: Locale) -> String {
        match (self, l) {
            (SourceNote::Sex(s), Locale::En) => format!("sex is {s}"),
            (SourceNote::Sex(s), Locale::ZhCn) => format!("性别记录为{}", sex_zh(s)),
            (SourceNote::Bound { item, comparator }, Locale::En) => {
                format!("{item} is reported as a bound ({comparator}), not an exact value")
            }
            (SourceNote::Bound { item, comparator }, Locale::ZhCn) => {
                format!("{item} 报告为界值（{comparator}），不是确切数值")
            }
            (SourceNote::Unit { item, unit }, Locale::En) => {
                format!("{item} has unit \"{unit}\", which cannot be converted")
            }
            (SourceNote::Unit { item, unit }, Locale::ZhCn) => format!("{item} 的单位“{unit}”无法换算"),
            (SourceNote::Text { item }, Locale::En) => format!("{item} is text, not a number"),
            (SourceNote::Text { item }, Locale::ZhCn) => format!("{item} 为文本，不是数值"),
            (SourceNote::Number { item }, Locale::En) => format!("{item} is a number, not a text answer"),
            (SourceNote::Number { item }, Locale::ZhCn) => format!("{item} 为数值，不是文本答案"),
        }
    }
}

fn sex_zh(s: &str) -> &'static str {
    match s {
        "unknown" => "未知",
        "other" => "其他",
        _ => "未说明",
    }
}

/// What happened to one feature (index `feature` into the manifest's features) on the way
/// into the model: a caveat of a score, or a reason not to score.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// An item exists but could not be used.
    Unusable { feature: usize, why: SourceNote },
    /// A non-finite value was treated as missing.
    NonFinite { feature: usize, value: f64 },
    /// Missing: the manifest's `impute` value was used.
    Imputed { feature: usize, value: f64 },
    /// Missing, and the manifest refuses to score without it.
    Missing { feature: usize },
    /// Outside the valid range: scored by extrapolation (`refused` false) or not scored.
    OutOfRange { feature: usize, value: f64, refused: bool },
}

/// A number as a person reads it: no trailing zeros, at most 4 decimals.
pub fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `value unit` as a person reads it: a dimensionless `1` has no unit, years (`a`) are
/// written out.
fn quantity(v: f64, unit: &str, l: Locale) -> String {
    match unit {
        "1" | "" => fmt_value(v),
        "a" => format!("{} {}", fmt_value(v), l.pick("岁", "years")),
        u => format!("{} {u}", fmt_value(v)),
    }
}

impl Note {
    /// The note in `l`, naming the feature by its manifest label.
    pub fn text(&self, m: &Manifest, l: Locale) -> String {
        let feature = |i: usize| &m.features[i];
        let label = |i: usize| feature(i).label.text(l).to_string();
        match *self {
            Note::Unusable { feature: i, ref why } => format!("{}{}{}", label(i), l.pick("：", ": "), why.text(l)),
            Note::NonFinite { feature: i, value } => match l {
                Locale::ZhCn => format!("{}：非有限数值 {value}，按缺失处理", label(i)),
                Locale::En => format!("{}: non-finite value {value} treated as missing", label(i)),
            },
            Note::Imputed { feature: i, value } => {
                let q = quantity(value, &feature(i).spec.unit, l);
                match l {
                    Locale::ZhCn => format!("{}缺失：按 {q} 插补", label(i)),
                    Locale::En => format!("{} missing: imputed {q}", label(i)),
                }
            }
            Note::Missing { feature: i } => {
                let source = feature(i).spec.source.get_ref();
                match l {
                    Locale::ZhCn => format!("缺少{}（{source}）", label(i)),
                    Locale::En => format!("{} missing ({source})", label(i)),
                }
            }
            Note::OutOfRange { feature: i, value, refused } => {
                let s = &feature(i).spec;
                let (v, lo, hi) = (quantity(value, &s.unit, l), fmt_value(s.valid_min), fmt_value(s.valid_max));
                match (l, refused) {
                    (Locale::ZhCn, true) => format!("{} {v} 超出有效范围 {lo}–{hi}", label(i)),
                    (Locale::ZhCn, false) => format!("{} {v} 超出有效范围 {lo}–{hi}：为外推评分", label(i)),
                    (Locale::En, true) => format!("{} = {v} is outside the valid range {lo}-{hi}", label(i)),
                    (Locale::En, false) => {
                        format!("{} = {v} is outside the valid range {lo}-{hi}: scored by extrapolation", label(i))
                    }
                }
            }
        }
    }
}

/// Notes joined as one message in `l`.
pub fn join(notes: &[Note], m: &Manifest, l: Locale) -> String {
    notes.iter().map(|n| n.text(m, l)).collect::<Vec<_>>().join(l.pick("；", "; "))
}

/// "not scored: <refusals>" in `l`.
pub fn refused(refusals: &[Note], m: &Manifest, l: Locale) -> String {
    format!("{}{}", l.pick("未评分：", "not scored: "), join(refusals, m, l))
}

/// The model ran but failed (`detail`: ONNX Runtime's words, technical) in `l`.
pub fn run_failed(detail: &str, l: Locale) -> String {
    match l {
        Locale::ZhCn => format!("未评分：模型运行出错（{detail}）"),
        Locale::En => format!("not scored: the model run failed ({detail})"),
    }
}

/// The model returned something that is not a probability, in `l`.
pub fn invalid_probability(p: f64, l: Locale) -> String {
    match l {
        Locale::ZhCn => format!("未评分：模型返回的概率无效（{p}）"),
        Locale::En => format!("not scored: the model returned an invalid probability ({p})"),
    }
}

/// A request named a model that is not configured, in `l`.
pub fn no_such_model(l: Locale) -> &'static str {
    l.pick("无此模型", "no such model")
}
