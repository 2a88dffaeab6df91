//! Unit tests of the risk module that need no ONNX Runtime (manifests, sources,
//! policies, bands, applicability). Real-session tests live in tests/it/risk.rs.

use super::manifest::{self, MissingPolicy, RangePolicy};
use super::score::{apply_policies, band, not_applicable, prepare};
use super::source::{icd_key, icd_matches, Extracted, FeatureSource, ObsList, UnitRule, Which};
use crate::config::Settings;
use crate::encounter::{self, Encounter};
use crate::proto::v1 as pb;

const AMI: &str = include_str!("../../models/ami-1y-mortality/manifest.toml");
const PCE: &str = include_str!("../../models/ascvd-pce-10y/manifest.toml");

fn example(name: &str) -> Encounter {
    let text =
        std::fs::read_to_string(format!("{}/examples/encounters/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let pb_enc = encounter::encounter_from_json(&text).unwrap();
    let settings = Settings::embedded().unwrap();
    let limits = encounter::Limits::from_settings(&settings.encounter);
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
    encounter::from_proto(&pb_enc, &limits, now).unwrap()
}

#[test]
fn shipped_manifests_parse() {
    let ami = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    assert_eq!(ami.features.len(), 13);
    assert_eq!(ami.output.column, 1);
    let pce = manifest::parse(PCE, "ascvd-pce-10y").unwrap();
    assert_eq!(pce.feature_names()[..4], ["age", "total_cholesterol", "hdl_cholesterol", "systolic_bp"]);
    assert_eq!(
        pce.features[1].source,
        FeatureSource::Observation {
            list: ObsList::Labs,
            which: Which::Last,
            code: "2093-3".into(),
            unit: UnitRule::Known { factor: 1.0, offset: 0.0 },
        }
    );
}

#[test]
fn manifest_id_must_match_directory() {
    let e = manifest::parse(AMI, "other").unwrap_err();
    assert!(e[0].message.contains("differs from the directory name"), "{e:?}");
}

#[test]
fn manifest_syntax_error_has_line_and_column() {
    let text = AMI.replacen("version = \"1.0.0\"", "version = 1.0.0.0", 1);
    let e = manifest::parse(&text, "ami-1y-mortality").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].path.as_str(), e[0].line), ("manifest.toml", 3), "{e:?}");
    assert!(e[0].column > 0);
}

#[test]
fn bad_source_is_reported_at_its_line_with_every_other_problem() {
    let text = AMI.replacen("source = \"first_vital:8867-4\"", "source = \"first_vitals:8867-4\"", 1).replacen(
        "high = 0.4",
        "high = 0.1",
        1,
    );
    let e = manifest::parse(&text, "ami-1y-mortality").unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().any(|p| p.message.contains("bands")));
    let src = e.iter().find(|p| p.message.contains("unknown source")).unwrap();
    let line = AMI.lines().position(|l| l.contains("first_vital:8867-4")).unwrap() as u32 + 1;
    assert_eq!(src.line, line);
    assert!(src.message.contains("heart_rate"), "{src:?}");
}

#[test]
fn impute_and_reference_must_lie_in_the_valid_range() {
    let text = AMI.replacen("impute = 85.0", "impute = 500.0", 1);
    let e = manifest::parse(&text, "ami-1y-mortality").unwrap_err();
    assert!(e[0].message.contains("impute value 500 is outside the valid range"), "{e:?}");
}

#[test]
fn unknown_field_and_wrong_unit_are_rejected() {
    let e =
        manifest::parse(&AMI.replacen("horizon =", "horizn = \"x\"\nhorizon =", 1), "ami-1y-mortality").unwrap_err();
    assert!(e[0].message.contains("unknown field"), "{e:?}");
    let e = manifest::parse(&PCE.replacen("unit = \"mg/dL\"", "unit = \"g/L\"", 1), "ascvd-pce-10y").unwrap_err();
    assert!(e[0].message.contains("not a unit of cholesterol"), "{e:?}");
}

#[test]
fn sources_parse_and_reject() {
    assert_eq!(FeatureSource::parse("age", &[], "a").unwrap(), FeatureSource::Age);
    assert!(FeatureSource::parse("age", &[], "1").is_err());
    assert_eq!(
        FeatureSource::parse("has_diagnosis:I21, I22", &[], "1").unwrap(),
        FeatureSource::HasDiagnosis(vec!["I21".into(), "I22".into()])
    );
    assert!(FeatureSource::parse("has_diagnosis:", &[], "1").is_err());
    assert!(FeatureSource::parse("has_active_med:NOPE:C07", &[], "1").unwrap_err().contains("unknown code system"));
    assert!(FeatureSource::parse("assessment_text:72166-2", &[], "1").unwrap_err().contains("match"));
    assert!(FeatureSource::parse("age", &["x".into()], "a").is_err());
    // mmol/L cholesterol is accepted: converted from the canonical mg/dL.
    assert_eq!(
        FeatureSource::parse("last_lab:2093-3", &[], "mmol/L").unwrap(),
        FeatureSource::Observation {
            list: ObsList::Labs,
            which: Which::Last,
            code: "2093-3".into(),
            unit: UnitRule::Known { factor: 38.67, offset: 0.0 }
        }
    );
}

#[test]
fn icd_prefixes_ignore_dots_and_case() {
    let keys = |ps: &[&str]| ps.iter().map(|p| icd_key(p)).collect::<Vec<_>>();
    assert!(icd_matches("I21.0", &keys(&["I21"])));
    assert!(icd_matches("i210", &keys(&["I21.0"])));
    assert!(icd_matches("Z95.1", &keys(&["Z95.1"])));
    assert!(!icd_matches("I20.0", &keys(&["I21"])));
    assert!(!icd_matches("I2", &keys(&["I21"])));
    assert!(!icd_matches("Z95.5", &keys(&["Z95.1", "I21"])));
}

fn pce() -> manifest::Manifest {
    manifest::parse(PCE, "ascvd-pce-10y").unwrap()
}

/// Notes as a person reads them in `l`.
fn texts(notes: &[crate::risk::text::Note], m: &manifest::Manifest, l: crate::locale::Locale) -> Vec<String> {
    notes.iter().map(|n| n.text(m, l)).collect()
}

fn en(notes: &[crate::risk::text::Note], m: &manifest::Manifest) -> Vec<String> {
    texts(notes, m, crate::locale::Locale::En)
}

fn values(v: &[Option<f64>]) -> Vec<Extracted> {
    v.iter().map(|x| Extracted { value: *x, ..Default::default() }).collect()
}

#[test]
fn policies_missing_nan_inf_and_range() {
    let m = pce();
    assert_eq!(m.features[5].spec.missing, MissingPolicy::Impute);
    assert_eq!(m.features[1].spec.out_of_range, RangePolicy::Refuse);
    // Complete and in range.
    let ok = apply_policies(
        &m,
        values(&[
            Some(55.0),
            Some(213.0),
            Some(50.0),
            Some(120.0),
            Some(0.0),
            Some(0.0),
            Some(0.0),
            Some(1.0),
            Some(0.0),
        ]),
    );
    assert!(ok.refusals.is_empty() && ok.notes.is_empty(), "{ok:?}");
    assert_eq!(ok.row, vec![55.0, 213.0, 50.0, 120.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    // NaN smoker status is imputed (flagged); infinite cholesterol is missing and refused.
    let p = apply_policies(
        &m,
        values(&[
            Some(55.0),
            Some(f64::INFINITY),
            Some(50.0),
            Some(120.0),
            Some(0.0),
            Some(f64::NAN),
            Some(0.0),
            Some(1.0),
            None,
        ]),
    );
    assert!(en(&p.refusals, &m).iter().any(|r| r.contains("Total cholesterol missing")), "{p:?}");
    let smoker = p.features.iter().find(|f| f.name == "smoker").unwrap();
    assert!(smoker.imputed && smoker.value == 0.0);
    let race = p.features.iter().find(|f| f.name == "race_black").unwrap();
    assert!(race.imputed);
    assert!(en(&p.notes, &m).iter().any(|n| n.contains("non-finite")), "{p:?}");
    // Out of range: refused with the value and range in the reason, feature flagged.
    let p = apply_policies(
        &m,
        values(&[
            Some(55.0),
            Some(350.0),
            Some(50.0),
            Some(120.0),
            Some(0.0),
            Some(0.0),
            Some(0.0),
            Some(1.0),
            Some(0.0),
        ]),
    );
    assert_eq!(en(&p.refusals, &m), ["Total cholesterol = 350 mg/dL is outside the valid range 130-320"]);
    assert_eq!(texts(&p.refusals, &m, crate::locale::Locale::ZhCn), ["总胆固醇 350 mg/dL 超出有效范围 130–320"]);
    assert!(p.features[1].out_of_range);
}

#[test]
fn flagged_out_of_range_is_scored_with_a_note() {
    let m = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    let mut v: Vec<Option<f64>> = vec![Some(70.0), Some(0.0), Some(200.0), Some(120.0), Some(80.0), Some(26.0)];
    v.extend(std::iter::repeat_n(Some(0.0), 7));
    let p = apply_policies(&m, values(&v));
    assert!(p.refusals.is_empty(), "{p:?}");
    assert!(p.features[2].out_of_range);
    assert!(
        en(&p.notes, &m)[0]
            .contains("Initial heart rate = 200 /min is outside the valid range 35-186: scored by extrapolation"),
        "{p:?}"
    );
}

#[test]
fn bands_are_half_open() {
    let m = pce();
    assert_eq!(band(&m, 0.0), pb::RiskBand::Low);
    assert_eq!(band(&m, 0.0749), pb::RiskBand::Low);
    assert_eq!(band(&m, 0.075), pb::RiskBand::Moderate);
    assert_eq!(band(&m, 0.2), pb::RiskBand::High);
}

#[test]
fn applicability_by_class_diagnosis_and_age() {
    let ami = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    let pce = pce();
    let stemi = example("stemi_primary_pci");
    let opd = example("outpatient_visit");
    assert_eq!(not_applicable(&ami, &stemi), None);
    assert!(not_applicable(&ami, &opd).unwrap().to_string().contains("encounter class outpatient"));
    assert_eq!(not_applicable(&pce, &opd), None);
    assert!(not_applicable(&pce, &stemi).is_some());
    let mut old = opd.clone();
    old.patient.age_years = 80.5;
    assert!(not_applicable(&pce, &old).unwrap().to_string().contains("age outside 40-79"));
    let mut known_ascvd = opd;
    known_ascvd.diagnoses[0].codings[0].code = "I25.10".into();
    assert!(not_applicable(&pce, &known_ascvd).unwrap().to_string().contains("I25.10 excludes"));
}

#[test]
fn features_of_the_outpatient_example() {
    let p = prepare(&pce(), &example("outpatient_visit"));
    assert!(p.refusals.is_empty(), "{p:?}");
    // 55-year-old white woman, TC 213, HDL 50, latest SBP 138 on amlodipine, current smoker.
    assert_eq!(p.row, vec![55.0, 213.0, 50.0, 138.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
    let sbp = p.features[3].source.as_ref().unwrap();
    assert_eq!((sbp.item_type.as_str(), sbp.item_id.as_str()), ("vitals", "vs-sbp-2"));
    assert_eq!(p.features[4].source.as_ref().unwrap().item_id, "mo-amlo-1");
}

#[test]
fn features_of_the_stemi_example() {
    let m = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    let p = prepare(&m, &example("stemi_primary_pci"));
    assert!(p.refusals.is_empty() && p.notes.is_empty(), "{p:?}");
    // 62-year-old man, first HR 96, BP 142/88, BMI from 78 kg / 1.72 m, anterior STEMI (I21.0).
    assert_eq!(&p.row[..5], &[62.0, 0.0, 96.0, 142.0, 88.0]);
    assert!((p.row[5] - 78.0 / (1.72f64 * 1.72)).abs() < 1e-9);
    assert_eq!(&p.row[6..], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn missing_observations_are_imputed_or_refused_by_policy() {
    let mut enc = example("stemi_primary_pci");
    enc.vitals.clear();
    enc.patient.sex = encounter::Sex::Unknown;
    let ami = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    let p = prepare(&ami, &enc);
    assert!(p.refusals.is_empty());
    let imputed: Vec<&str> = p.features.iter().filter(|f| f.imputed).map(|f| f.name.as_str()).collect();
    assert_eq!(imputed, ["sex_female", "heart_rate", "systolic_bp", "diastolic_bp", "bmi"]);
    let mut opd = example("outpatient_visit");
    opd.labs.clear();
    opd.vitals.clear();
    let p = prepare(&pce(), &opd);
    assert_eq!(p.refusals.len(), 3, "{p:?}");
    assert!(en(&p.refusals, &pce())[0].starts_with("Total cholesterol missing (last_lab:2093-3)"));
    assert_eq!(texts(&p.refusals, &pce(), crate::locale::Locale::ZhCn)[0], "缺少总胆固醇（last_lab:2093-3）");
}

/// The shipped manifests' `[validity]` (SAFETY.md): both locales, Chinese in zh-CN; a
/// manifest without it, or with an empty text, does not load and says what to add.
#[test]
fn validity_is_required_in_both_locales() {
    use crate::locale::{has_chinese, Locale};
    for (text, id) in [(AMI, "ami-1y-mortality"), (PCE, "ascvd-pce-10y")] {
        let m = manifest::parse(text, id).unwrap();
        assert!(has_chinese(m.validity.text(Locale::ZhCn)), "{id}");
        assert!(m.validity.text(Locale::En).contains("not validated in Chinese patients"), "{id}");
    }
    let start = PCE.find("[validity]").unwrap();
    let end = PCE.find("[applicability]").unwrap();
    let without = format!("{}{}", &PCE[..start], &PCE[end..]);
    let e = manifest::parse(&without, "ascvd-pce-10y").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().starts_with("manifest.toml:1:1: no [validity] table"), "{}", e[0]);
    assert!(e[0].message.contains("`zh-CN` and `en`"), "{}", e[0]);

    let line = PCE.lines().position(|l| l.starts_with("en = ")).unwrap() + 1;
    let en = PCE.lines().nth(line - 1).unwrap();
    let e = manifest::parse(&PCE.replacen(en, "en = \"  \"", 1), "ascvd-pce-10y").unwrap_err();
    assert_eq!(e[0].to_string(), format!("manifest.toml:{line}:6: validity.en is empty"), "{e:?}");
    let e = manifest::parse(&PCE.replacen(en, "", 1), "ascvd-pce-10y").unwrap_err();
    assert!(e[0].message.contains("missing field `en`"), "{e:?}");
    let zh = PCE.lines().find(|l| l.starts_with("zh-CN = ")).unwrap();
    let e = manifest::parse(&PCE.replacen(zh, "zh-CN = \"not validated\"", 1), "ascvd-pce-10y").unwrap_err();
    assert!(e[0].message.contains("validity.zh-CN has no Chinese text"), "{e:?}");
}

/// Outcome, horizon and every feature label are texts in both locales (issue 14): a plain
/// string, a missing locale, an unknown one or a zh-CN text without Chinese is a load error
/// at the value's `path:line:col`.
#[test]
fn outcome_horizon_and_labels_are_required_in_both_locales() {
    use crate::locale::Locale;
    let m = manifest::parse(AMI, "ami-1y-mortality").unwrap();
    assert_eq!(m.outcome.text(Locale::ZhCn), "入院后 1 年内全因死亡");
    assert_eq!(m.outcome.text(Locale::En), "death from any cause within 1 year of admission");
    assert_eq!((m.horizon.text(Locale::ZhCn), m.horizon.text(Locale::En)), ("1 年", "1 year"));
    assert_eq!((m.label("age", Locale::ZhCn), m.label("age", Locale::En)), ("入院时年龄", "Age at admission"));
    for text in [AMI, PCE] {
        let id = if text == AMI { "ami-1y-mortality" } else { "ascvd-pce-10y" };
        for f in &manifest::parse(text, id).unwrap().features {
            assert!(crate::locale::has_chinese(&f.label.zh_cn) && !f.label.en.is_empty(), "{id} {}", f.spec.name);
        }
    }
    let line_of = |text: &str, start: &str| text.lines().position(|l| l.starts_with(start)).unwrap() + 1;
    let outcome = AMI.lines().find(|l| l.starts_with("outcome = ")).unwrap();
    let line = line_of(AMI, "outcome = ");
    let e = manifest::parse(&AMI.replacen(outcome, "outcome = \"death\"", 1), "ami-1y-mortality").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().starts_with(&format!("manifest.toml:{line}:11: outcome must give the text")), "{}", e[0]);
    let e = manifest::parse(&AMI.replacen(outcome, "outcome = { en = \"death\" }", 1), "ami-1y-mortality").unwrap_err();
    assert!(e[0].to_string().contains("outcome.zh-CN is missing or empty"), "{e:?}");
    let horizon = AMI.lines().find(|l| l.starts_with("horizon = ")).unwrap();
    let bad = "horizon = { zh-CN = \"1 year\", en = \"1 year\", fr = \"1 an\" }";
    let e = manifest::parse(&AMI.replacen(horizon, bad, 1), "ami-1y-mortality").unwrap_err();
    let got: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(got.iter().any(|m| m.contains("unknown locale `fr`")), "{got:?}");
    assert!(got.iter().any(|m| m.contains("horizon.zh-CN has no Chinese text")), "{got:?}");
    let label = "label = { zh-CN = \"入院时年龄\", en = \"Age at admission\" }";
    let line = line_of(AMI, label);
    let e = manifest::parse(&AMI.replacen(label, "label = \"Age at admission\"", 1), "ami-1y-mortality").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].to_string().starts_with(&format!("manifest.toml:{line}:9: feature \"age\": label must give the text")),
        "{}",
        e[0]
    );
}
