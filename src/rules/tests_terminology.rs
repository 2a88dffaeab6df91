//! Terminology in value-set matching (several codings per item, ICD-10 editions and
//! China national extension codes, ATC class/member for allergies) and the script API
//! of the fields added in issue 12, on encounters converted from the proto.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{CallFnOptions, Dynamic, Scope};

use super::api::encounter::EncounterView;
use super::api::time::CallState;
use super::engine::{build_engine, Budget, RuleLimits};
use super::valueset::{parse_value_set, ValueSets};
use crate::encounter::{from_proto, Encounter, Limits};
use crate::proto::v1 as pb;

const SETS: &[(&str, &str)] = &[
    ("sepsis", "[[include]]\nsystem = \"ICD-10\"\ncodes = [\"R65.0\", \"R65.1\", \"A41.9\"]\n[[include]]\nsystem = \"ICD-10-CM\"\ncodes = [\"R65.20\", \"R65.21\"]\n"),
    ("stemi", "[[include]]\nsystem = \"ICD-10\"\nprefixes = [\"I21.0\"]\n[[include]]\nsystem = \"SNOMED-CT\"\ncodes = [\"401303003\"]\n"),
    ("acei", "[[include]]\nsystem = \"ATC\"\nprefixes = [\"C09A\"]\n"),
    ("aspirin", "[[include]]\nsystem = \"ATC\"\ncodes = [\"B01AC06\"]\n[[include]]\nsystem = \"RXNORM\"\ncodes = [\"1191\"]\n"),
    ("vte", "[[include]]\nsystem = \"ICD-10\"\nprefixes = [\"I26\", \"I80.2\"]\n"),
    ("smoker", "[[include]]\nsystem = \"LOINC\"\ncodes = [\"LA18976-3\"]\n"),
    ("htn", "[[include]]\nsystem = \"ICD-10\"\ncodes = [\"I10\"]\n"),
    ("tobacco", "[[include]]\nsystem = \"LOINC\"\ncodes = [\"72166-2\"]\n"),
    ("troponin", "[[include]]\nsystem = \"LOINC\"\ncodes = [\"89579-7\"]\n"),
];

fn sets() -> Arc<ValueSets> {
    let mut out = ValueSets::default();
    for (name, body) in SETS {
        let src = format!("name = \"{name}\"\n{body}");
        out.insert(parse_value_set(&format!("valuesets/{name}.toml"), &src, &[]).unwrap()).unwrap();
    }
    Arc::new(out)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn ts(rfc: &str) -> Option<pbjson_types::Timestamp> {
    let t = DateTime::parse_from_rfc3339(rfc).unwrap();
    Some(pbjson_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

fn c(system: &str, code: &str) -> pb::Coding {
    pb::Coding { system: system.into(), code: code.into(), display: String::new() }
}

fn dx(id: &str, codings: Vec<pb::Coding>) -> pb::Diagnosis {
    pb::Diagnosis { id: id.into(), codings, ..Default::default() }
}

fn encounter(e: pb::Encounter) -> Arc<Encounter> {
    let limits = Limits {
        max_items_per_list: 100,
        max_text_bytes: 1000,
        max_note_bytes: 1000,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: vec![],
    };
    Arc::new(from_proto(&e, &limits, now()).expect("valid"))
}

fn base() -> pb::Encounter {
    pb::Encounter {
        id: "e".into(),
        patient: Some(pb::Patient { id: "p".into(), age_years: Some(70), ..Default::default() }),
        encounter_class: pb::EncounterClass::Inpatient as i32,
        arrival_time: ts("2026-03-02T08:00:00Z"),
        ..Default::default()
    }
}

/// Run `evaluate(enc)` of `src` on `enc`.
fn run(enc: Arc<Encounter>, src: &str) -> Dynamic {
    let limits = RuleLimits { time_budget_ms: 30_000, ..RuleLimits::default() };
    let engine = build_engine(&limits, chrono_tz::Asia::Shanghai);
    let ast = engine.compile(src).unwrap();
    let _b = Budget::start(limits.time_budget());
    engine
        .call_fn_with_options::<Dynamic>(
            CallFnOptions::new().eval_ast(false).with_tag(CallState::new(now())),
            &mut Scope::new(),
            &ast,
            "evaluate",
            (EncounterView::dynamic(enc, sets()),),
        )
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn has(enc: &Arc<Encounter>, vs: &str) -> bool {
    run(enc.clone(), &format!("fn evaluate(enc) {{ enc.has_diagnosis(\"{vs}\") }}")).as_bool().unwrap()
}

#[test]
fn any_coding_of_an_item_matches() {
    let mut e = base();
    e.diagnoses = vec![dx("d", vec![c("http://snomed.info/sct", "401303003")])];
    assert!(has(&encounter(e.clone()), "stemi"), "SNOMED CT only");
    e.diagnoses = vec![dx("d", vec![c("LOINC", "2524-7"), c("ICD-10", "I21.0")])];
    assert!(has(&encounter(e), "stemi"), "second coding");
}

#[test]
fn national_extension_codes_match_their_parent() {
    let mut e = base();
    e.diagnoses = vec![dx("d", vec![c("ICD-10-CN", "A41.900x001")])];
    assert!(has(&encounter(e.clone()), "sepsis"), "A41.900x001 is A41.9");
    e.diagnoses = vec![dx("d", vec![c("ICD-10", "I21.000x002")])];
    assert!(has(&encounter(e.clone()), "stemi"), "I21.000x002 is I21.0");
    e.diagnoses = vec![dx("d", vec![c("ICD-10", "A41.800x001")])];
    assert!(!has(&encounter(e.clone()), "sepsis"), "A41.8 is not A41.9");
    // Six-character codes of the national edition (GB/T 14396): zero padding, `x` placeholder.
    for (code, set, want) in [
        ("A41.900", "sepsis", true),
        ("I10.x00", "htn", true),
        ("I10.x00x002", "htn", true),
        ("I10.x01", "htn", true),
        ("A41.901", "sepsis", true),
        ("A41.800", "sepsis", false),
        ("I11.x00", "htn", false),
    ] {
        e.diagnoses = vec![dx("d", vec![c("ICD-10-CN", code)])];
        assert_eq!(has(&encounter(e.clone()), set), want, "{code}");
    }
    // In ICD-10-CM a trailing zero is a code of its own: no padding is removed.
    e.diagnoses = vec![dx("d", vec![c("ICD-10-CM", "A41.90")])];
    assert!(!has(&encounter(e), "sepsis"));
}

#[test]
fn r65_follows_the_edition_of_the_coding() {
    let cases = [
        ("ICD-10", "R65.1", true),     // WHO: SIRS of infectious origin with organ failure
        ("ICD-10-CN", "R65.1", true),  // China edition follows WHO
        ("ICD-10-CM", "R65.1", false), // CM: non-infectious SIRS (category)
        ("ICD-10", "R65.11", false),   // CM form (fifth character), non-infectious
        ("ICD-10", "R65.2", false),    // WHO: non-infectious SIRS
        ("ICD-10-CM", "R65.21", true), // CM: severe sepsis with septic shock
        ("ICD-10", "R65.21", true),    // CM code sent as "ICD-10": the fifth character says CM
    ];
    for (system, code, want) in cases {
        let mut e = base();
        e.diagnoses = vec![dx("d", vec![c(system, code)])];
        assert_eq!(has(&encounter(e), "sepsis"), want, "{system} {code}");
    }
}

#[test]
fn allergy_class_records_match_members_and_the_reverse() {
    let allergy = |codings: Vec<pb::Coding>| {
        let mut e = base();
        e.allergies = vec![pb::Allergy {
            id: "a".into(),
            substance_codings: codings,
            r#type: pb::AllergyType::Allergy as i32,
            ..Default::default()
        }];
        encounter(e)
    };
    let n = |enc: Arc<Encounter>, vs: &str| {
        run(enc, &format!("fn evaluate(enc) {{ enc.allergies(\"{vs}\").len() }}")).as_int().unwrap()
    };
    assert_eq!(n(allergy(vec![c("ATC", "C09")]), "acei"), 1, "class record, member set");
    assert_eq!(n(allergy(vec![c("ATC", "C09AA05")]), "acei"), 1, "member record");
    assert_eq!(n(allergy(vec![c("ATC", "C07")]), "acei"), 0, "other class");
    assert_eq!(n(allergy(vec![c("RxNorm", "1191")]), "aspirin"), 1, "RxNorm aspirin");
    assert_eq!(n(allergy(vec![c("SNOMED-CT", "293586001"), c("ATC", "B01AC06")]), "aspirin"), 1);
}

#[test]
fn new_fields_reach_scripts() {
    let mut e = base();
    e.arrival_mode = pb::ArrivalMode::Ems as i32;
    e.prehospital_ecg_time = ts("2026-03-02T07:40:00Z");
    e.first_admission = Some(false);
    e.locations = vec![pb::LocationStay {
        id: "icu".into(),
        r#type: pb::LocationType::Ccu as i32,
        start_time: ts("2026-03-02T09:00:00Z"),
        ..Default::default()
    }];
    e.care_documentation = vec![pb::CareDocumentation {
        id: "cmo".into(),
        kind: pb::CareDocumentationKind::ComfortMeasuresOnly as i32,
        time: ts("2026-03-02T10:00:00Z"),
        ..Default::default()
    }];
    e.prior_conditions = vec![dx("old-pe", vec![c("ICD-10", "I26.9")])];
    e.labs = vec![pb::Observation {
        id: "trop".into(),
        code: Some(c("LOINC", "89579-7")),
        value: Some(pb::observation::Value::Quantity(pb::Quantity {
            value: 3.0,
            unit: "ng/L".into(),
            comparator: pb::QuantityComparator::LessThan as i32,
        })),
        effective_time: ts("2026-03-02T08:30:00Z"),
        ..Default::default()
    }];
    e.assessments = vec![pb::Observation {
        id: "smk".into(),
        code: Some(c("LOINC", "72166-2")),
        value: Some(pb::observation::Value::Coded(pb::CodeableConcept {
            codings: vec![c("LOINC", "LA18976-3")],
            text: String::new(),
        })),
        effective_time: ts("2026-03-02T08:30:00Z"),
        ..Default::default()
    }];
    let enc = encounter(e);
    let src = r#"fn evaluate(enc) {
        let t = enc.labs("troponin")[0];
        let s = enc.assessments("tobacco")[0];
        let l = enc.locations[0];
        [enc.arrival_mode, enc.prehospital_ecg != (), enc.first_admission, enc.comfort_measures_time != (),
         enc.clinical_trial_time == (), enc.first_icu != (), l.kind, l.intensive_care, l.end == (),
         enc.has_prior_diagnosis("vte"), enc.prior_encounter_count, t.value == (), t.bound, t.comparator,
         enc.answer_in(s, "smoker"), s.answer_code]
    }"#;
    let got: Vec<String> = run(enc, src).into_array().unwrap().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        got,
        [
            "ems",
            "true",
            "false",
            "true",
            "true",
            "true",
            "ccu",
            "true",
            "true",
            "true",
            "0",
            "true",
            "3.0",
            "<",
            "true",
            "LA18976-3"
        ]
    );
}

#[test]
fn an_unmatchable_coding_gives_a_notice_and_a_qc_card() {
    let limits = Limits {
        max_items_per_list: 100,
        max_text_bytes: 1000,
        max_note_bytes: 1000,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: vec!["HOSP-DX".into()],
    };
    let mut e = base();
    e.diagnoses = vec![
        dx("local", vec![c("HOSP-DX", "XB-0091")]),
        dx("both", vec![c("HOSP-DX", "XB-0092"), c("ICD-10", "I10")]),
        dx("cm", vec![c("ICD-10-CM", "I50.22")]),
    ];
    e.labs = vec![pb::Observation {
        id: "cpt-lab".into(),
        code: Some(c("CPT", "80053")),
        value: Some(pb::observation::Value::Text("done".into())),
        effective_time: ts("2026-03-02T08:30:00Z"),
        ..Default::default()
    }];
    let enc = from_proto(&e, &limits, now()).unwrap();
    let notices = super::quality::unmatched_codes(&enc, &sets());
    let got: Vec<(String, String, String)> =
        notices.iter().map(|n| (n.list.clone(), n.item_id.clone(), n.code_system.clone())).collect();
    assert_eq!(
        got,
        [("diagnoses".into(), "local".into(), "HOSP-DX".into()), ("labs".into(), "cpt-lab".into(), "CPT".into())]
    );
    assert!(notices.iter().all(|n| n.kind == pb::DataQualityKind::UnmatchedCode as i32));
    assert!(notices[0].text_zh.contains("规则无法识别") && notices[0].text_en.contains("no rule can read it"));
    // The notice names the coding (system and code); codes of the other item are not in it.
    assert!(notices[0].text_en.contains("coded only in HOSP-DX (code XB-0091)"), "{}", notices[0].text_en);
    assert!(notices[0].text_zh.contains("仅以 HOSP-DX 编码（编码 XB-0091）"), "{}", notices[0].text_zh);
    assert!(!notices[0].text_en.contains("XB-0092") && notices[1].text_en.contains("(code 80053)"));
    use crate::locale::Locale;
    let card = crate::decision::card_for_data_quality(&notices, Locale::En).expect("a diagnosis is a denominator list");
    assert_eq!(card.source.unwrap().kind, pb::SourceKind::DataQuality as i32);
    assert!(card.summary.contains("1 item(s)"), "{}", card.summary);
    let zh = crate::decision::card_for_data_quality(&notices, Locale::ZhCn).expect("the same card in Chinese");
    assert!(zh.summary.contains("数据质量") && !zh.summary.contains("item(s)"), "{}", zh.summary);
    assert!(card.detail.contains("diagnoses/local (HOSP-DX)"));
    // A lab alone changes no denominator: a notice, no card.
    assert!(crate::decision::card_for_data_quality(&notices[1..], Locale::En).is_none());
}
