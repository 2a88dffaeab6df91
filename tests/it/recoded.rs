//! Every example encounter, re-coded the way other hospitals send the same facts (SNOMED CT
//! and RxNorm; ICD-10-CM and ICD-10-PCS; the China national clinical edition's six-character
//! and extension codes; local codes through the example mapping tables), gives the same rule
//! statuses and the same risk scores (every feature value) as its ICD-10 / ATC coding: one
//! test per example and coding, generated from the cross-walk
//! `examples/recoding/crosswalk.toml` (which cites each equivalence).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cdssd::encounter::{encounter_from_json, from_proto, Encounter, Limits};
use cdssd::locale::Locale;
use cdssd::rules::api::encounter::EncounterView;
use cdssd::rules::eval::EvalOptions;
use cdssd::rules::load::{read_tree, RuleSet};
use cdssd::rules::runner::outcome_label;
use cdssd::rules::service::compiler_from;
use serde_json::Value;

use crate::support::{root, settings_with};

/// The local code systems the example mapping tables use.
pub const LOCAL_SYSTEMS: &str = "LOCAL,HIS-DRUG,LIS";

/// A re-coding: which JSON lists it re-codes, and the field holding each item's coding.
pub struct Variant {
    pub name: &'static str,
    pub lists: &'static [(&'static str, Field)],
}

#[derive(Clone, Copy)]
pub enum Field {
    /// `code` (a single Coding; `codings` is dropped).
    Code,
    /// `codes` (repeated Coding).
    Codes,
    /// `substance` of an allergy (`substanceCodings` is dropped).
    Substance,
    /// A text answer (`text`) becomes a coded answer (`coded`) where the cross-walk has
    /// `ANSWER:<observation LOINC>:<text>` (LOINC answer codes, FHIR valueCodeableConcept).
    Answer,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "snomed_rxnorm",
        lists: &[
            ("diagnoses", Field::Code),
            ("procedures", Field::Code),
            ("medicationOrders", Field::Codes),
            ("medicationAdministrations", Field::Codes),
            ("allergies", Field::Substance),
            ("assessments", Field::Answer),
        ],
    },
    Variant { name: "icd10cm", lists: &[("diagnoses", Field::Code), ("procedures", Field::Code)] },
    Variant { name: "cn_national", lists: &[("diagnoses", Field::Code)] },
    Variant {
        name: "local",
        lists: &[
            ("medicationOrders", Field::Codes),
            ("medicationAdministrations", Field::Codes),
            ("allergies", Field::Substance),
            ("labs", Field::Code),
        ],
    },
];

/// `from` (`SYSTEM:CODE`) → variant → target `SYSTEM:CODE`.
pub fn crosswalk() -> HashMap<String, HashMap<String, String>> {
    let text = std::fs::read_to_string(root().join("examples/recoding/crosswalk.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).expect("crosswalk parses");
    let mut out = HashMap::new();
    for row in doc["code"].as_array().expect("[[code]] rows") {
        let row = row.as_table().unwrap();
        let from = row["from"].as_str().unwrap().to_string();
        let targets: HashMap<String, String> = VARIANTS
            .iter()
            .filter_map(|v| row.get(v.name).map(|t| (v.name.to_string(), t.as_str().unwrap().to_string())))
            .collect();
        assert!(out.insert(from.clone(), targets).is_none(), "{from} is in the cross-walk twice");
    }
    out
}

/// The shipped rules with the example mapping tables as `mappings/*.toml` (compiled once).
pub fn rule_set() -> &'static RuleSet {
    static SET: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    SET.get_or_init(compile_rule_set)
}

fn compile_rule_set() -> RuleSet {
    let dir = root().join("rules");
    let mut files = read_tree(&dir).unwrap();
    for e in std::fs::read_dir(root().join("examples/mappings")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(format!("mappings/{name}"), std::fs::read_to_string(&p).unwrap());
        }
    }
    // A generous per-rule wall-clock budget: a busy machine must not turn a rule into `error`.
    let settings = settings_with(&[
        ("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", LOCAL_SYSTEMS),
        ("CDSSD__RULES__MAX_RULE_MS", "5000"),
    ]);
    compiler_from(&settings).compile_files(&dir, files).unwrap_or_else(|e| panic!("{e}"))
}

pub fn limits() -> Limits {
    Limits::from_settings(&settings_with(&[("CDSSD__ENCOUNTER__LOCAL_CODE_SYSTEMS", LOCAL_SYSTEMS)]).encounter)
}

fn key(c: &Value) -> String {
    format!("{}:{}", c["system"].as_str().unwrap_or(""), c["code"].as_str().unwrap_or(""))
}

fn coding(target: &str, display: &Value) -> Value {
    let (system, code) = target.split_once(':').unwrap();
    serde_json::json!({"system": system, "code": code, "display": display.clone()})
}

/// The example re-coded in `v`; `Err` lists the codes some value set matches that the
/// cross-walk lacks. Returns the number of items re-coded.
pub fn recode(
    example: &Value,
    v: &Variant,
    walk: &HashMap<String, HashMap<String, String>>,
    set: &RuleSet,
) -> Result<(Value, usize), Vec<String>> {
    let mut out = example.clone();
    let mut missing = Vec::new();
    let mut n = 0;
    for (list, field) in v.lists {
        let Some(items) = out.get_mut(*list).and_then(Value::as_array_mut) else { continue };
        for item in items {
            let obj = item.as_object_mut().unwrap();
            if let Field::Answer = field {
                let answer = format!(
                    "ANSWER:{}:{}",
                    obj["code"]["code"].as_str().unwrap_or(""),
                    obj.get("text").and_then(Value::as_str).unwrap_or("")
                );
                if let Some(target) = walk.get(&answer).and_then(|t| t.get(v.name)) {
                    obj.remove("text");
                    obj.insert(
                        "coded".into(),
                        serde_json::json!({"codings": [coding(target, &Value::String(String::new()))]}),
                    );
                    n += 1;
                }
                continue;
            }
            let (single, many) = match field {
                Field::Answer => unreachable!("handled above"),
                Field::Code => ("code", "codings"),
                Field::Codes => ("", "codes"),
                Field::Substance => ("substance", "substanceCodings"),
            };
            let current: Vec<Value> = if single.is_empty() {
                obj[many].as_array().cloned().unwrap_or_default()
            } else {
                obj.get(single).cloned().into_iter().collect()
            };
            let mut recoded = Vec::new();
            for c in &current {
                match walk.get(&key(c)).and_then(|t| t.get(v.name)) {
                    Some(target) => recoded.push(coding(target, &c["display"])),
                    None => {
                        let (sys, code) = (c["system"].as_str().unwrap_or(""), c["code"].as_str().unwrap_or(""));
                        let canonical = cdssd::encounter::codes::parse_system(sys, &[])
                            .map(|s| s.name().to_string())
                            .unwrap_or_default();
                        if set.value_sets.iter().any(|s| s.matches(&canonical, code)) {
                            missing.push(format!("{list}: {}", key(c)));
                        }
                        recoded.push(c.clone());
                    }
                }
            }
            if recoded != current {
                n += 1;
            }
            if single.is_empty() {
                obj.insert(many.into(), Value::Array(recoded));
            } else {
                obj.remove(many);
                if let Some(first) = recoded.into_iter().next() {
                    obj.insert(single.into(), first);
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        Ok((out, n))
    } else {
        Err(missing)
    }
}

/// Latest RFC 3339 time in the document plus a minute: every window the example's data
/// can close is judged, and validation accepts every time.
pub fn now_of(v: &Value) -> chrono::DateTime<chrono::Utc> {
    fn walk(v: &Value, best: &mut Option<chrono::DateTime<chrono::Utc>>) {
        match v {
            Value::String(s) => {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    let t = t.with_timezone(&chrono::Utc);
                    *best = Some(best.map_or(t, |b| b.max(t)));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, best)),
            Value::Object(m) => m.values().for_each(|x| walk(x, best)),
            _ => {}
        }
    }
    let mut best = None;
    walk(v, &mut best);
    best.expect("an example has times") + chrono::Duration::minutes(1)
}

pub fn validated(v: &Value, now: chrono::DateTime<chrono::Utc>) -> Encounter {
    let pb = encounter_from_json(&v.to_string()).unwrap_or_else(|e| panic!("{e}"));
    from_proto(&pb, &limits(), now).unwrap_or_else(|e| panic!("re-coded example is invalid: {e:?}"))
}

/// Status and declared outcome of every rule.
fn statuses(set: &RuleSet, enc: Encounter, now: chrono::DateTime<chrono::Utc>) -> BTreeMap<String, String> {
    let view = EncounterView::dynamic(Arc::new(enc), set.value_sets.clone());
    let opts = EvalOptions { now, trigger: None, packs: Vec::new(), locale: Locale::En };
    set.evaluate(&view, &opts)
        .findings
        .iter()
        .map(|f| {
            let outcome = outcome_label(f).unwrap_or_default();
            (f.rule_id.clone(), format!("{} {outcome} missing={:?}", f.status.as_str(), f.missing_data))
        })
        .collect()
}

/// The shipped risk models (compiled once).
fn models() -> &'static cdssd::risk::RiskService {
    static SVC: std::sync::OnceLock<cdssd::risk::RiskService> = std::sync::OnceLock::new();
    SVC.get_or_init(|| {
        let mut s = cdssd::config::Settings::embedded().unwrap().risk;
        s.dir = root().join("models");
        s.watch = false;
        s.sessions_per_model = 1;
        cdssd::risk::RiskService::from_risk_settings(&s).expect("run scripts/setup-onnxruntime.sh")
    })
}

/// Per shipped model: applicability, and when it applies the status, band, probability and
/// every feature value, as the pipeline computes them (with the rule set's equivalents).
fn risks(enc: &Encounter) -> BTreeMap<String, String> {
    let eq = rule_set().value_sets.mappings().equivalents().clone();
    let reg = models().registry();
    reg.models
        .iter()
        .map(|m| {
            let line = match cdssd::risk::score::not_applicable_with(&m.manifest, enc, &eq) {
                Some(_) => "not applicable".to_string(),
                None => {
                    let s = cdssd::risk::score::score_with(m, enc, &eq, false, cdssd::locale::Locale::En);
                    let features: Vec<String> = s
                        .features
                        .iter()
                        .map(|f| format!("{}={:.6}{}", f.name, f.value, if f.imputed { "*" } else { "" }))
                        .collect();
                    format!("{:?} {:?} p={:.9} [{}]", s.status(), s.band(), s.probability, features.join(" "))
                }
            };
            (m.manifest.id.clone(), line)
        })
        .collect()
}

pub fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("examples/encounters").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check(example_name: &str, variant: &str) {
    let v = VARIANTS.iter().find(|v| v.name == variant).unwrap();
    let set = rule_set();
    let walk = crosswalk();
    let original = example(example_name);
    let (recoded, n) = recode(&original, v, &walk, set)
        .unwrap_or_else(|m| panic!("the cross-walk lacks {variant} codes that value sets match: {m:#?}"));
    let lists_present =
        v.lists.iter().any(|(l, _)| original.get(*l).and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
    assert!(!lists_present || n > 0, "{example_name}: nothing re-coded in {variant}");
    let now = now_of(&original);
    let (enc_want, enc_got) = (validated(&original, now), validated(&recoded, now));
    let (risk_want, risk_got) = (risks(&enc_want), risks(&enc_got));
    assert_eq!(risk_want, risk_got, "{example_name} re-coded {variant}: the risk models see other facts");
    let want = statuses(set, enc_want, now);
    let got = statuses(set, enc_got, now);
    let diff: Vec<String> = want
        .iter()
        .filter(|(id, s)| got.get(*id) != Some(*s))
        .map(|(id, s)| format!("{id}: {s}  →  {}", got.get(id).map_or("absent", String::as_str)))
        .collect();
    assert!(diff.is_empty(), "{example_name} re-coded {variant} ({n} items) changes statuses:\n{}", diff.join("\n"));
    // The outpatient visit is outside every pack's denominator (its README row says so).
    if example_name != "outpatient_visit.json" {
        assert!(want.values().any(|s| !s.starts_with("not_applicable")), "{example_name}: no rule applies at all");
    }
    assert!(want.values().all(|s| !s.starts_with("error")), "{example_name}: a rule failed: {want:#?}");
}

macro_rules! recoded_tests {
    ($($example:ident),* $(,)?) => {
        /// The list of examples below is every file in examples/encounters/.
        #[test]
        fn every_example_is_re_coded() {
            let files = crate::support::example_files();
            let mut listed = vec![$(format!("{}.json", stringify!($example))),*];
            listed.sort();
            assert_eq!(files, listed);
        }
        $(
            mod $example {
                #[test]
                fn snomed_rxnorm() {
                    super::check(concat!(stringify!($example), ".json"), "snomed_rxnorm");
                }
                #[test]
                fn icd10cm() {
                    super::check(concat!(stringify!($example), ".json"), "icd10cm");
                }
                #[test]
                fn cn_national() {
                    super::check(concat!(stringify!($example), ".json"), "cn_national");
                }
                #[test]
                fn local() {
                    super::check(concat!(stringify!($example), ".json"), "local");
                }
            }
        )*
    };
}

recoded_tests!(
    elective_surgery,
    heart_failure,
    outpatient_visit,
    pneumonia_cap,
    septic_shock,
    stemi_in_progress,
    stemi_primary_pci,
    stroke_thrombolysis,
    vte_medical_inpatient,
);
