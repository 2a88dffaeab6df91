//! The common block `CM-0-*` of every disease's record, as far as the public sources in
//! `shared/reference/nhc-reporting.md` give it ("Common block"): the reporting staff and
//! department (`CM-0-1-1-1..5`), principal diagnosis ICD-10 at 4 and 6 characters
//! (`CM-0-1-3-1/2`), main procedure ICD-9-CM-3 (`CM-0-1-4-1/2`), 31-day unplanned
//! readmission (`CM-0-1-5`), birth date, sex, weight, height, BMI (`CM-0-2-1-*`), onset
//! time or "unknown" (`CM-0-2-2-*`), arrival, admission, discharge, CCU in/out, payment
//! type, admission route and transport (`CM-0-3-*`). The order of the numbered sub-items
//! within a group is our reading of those sources and must be verified against the
//! platform's interface specification (docs/NHC-WORKSHEET.md).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::item::{at, field, local, text, Item, Withheld};
use crate::{
    encounter::{ArrivalMode, DatePrecision, DiagnosisRank, Encounter, EncounterClass, LocationType, Sex},
    rules::valueset::{normalize_code, ValueSets},
};

/// Items the uploader fills: staff names and identifiers are not in the encounter contract.
pub fn withheld() -> Vec<Withheld> {
    [
        ("CM-0-1-1-1", "质控医师姓名", "QC physician's name"),
        ("CM-0-1-1-2", "质控护士姓名", "QC nurse's name"),
        ("CM-0-1-1-3", "主治医师姓名", "attending physician's name"),
        ("CM-0-1-1-4", "责任护士姓名", "responsible nurse's name"),
        ("caseId", "病案号", "medical record (case) number"),
        ("idCard", "身份证号", "national ID card number"),
    ]
    .into_iter()
    .map(|(item, zh, en)| Withheld { item: item.into(), what: text(zh, en) })
    .collect()
}

/// ICD-10 `I21.0` from `I21.0`, `I210`, `I21.000x001`: category and first subcategory character.
fn icd10_four(code: &str) -> String {
    let n = normalize_code("ICD-10", code);
    match n.len() {
        0..=3 => n.to_string(),
        _ => format!("{}.{}", &n[..3], &n[3..4]),
    }
}

fn first_in<'a, T>(
    items: &'a [T],
    sets: &ValueSets,
    set: &str,
    codes: impl Fn(&T) -> &[crate::encounter::Code],
) -> Option<&'a T> {
    let vs = sets.get(set)?;
    items.iter().find(|i| super::super::source::any_code(codes(i), vs))
}

/// The `CM-0-*` items.
pub fn items(enc: &Encounter, tz: chrono_tz::Tz, sets: &ValueSets, procedure_sets: &[&str]) -> BTreeMap<String, Item> {
    let mut m = BTreeMap::new();
    let mut put = |id: &str, item: Item| {
        m.insert(id.to_string(), item);
    };
    put("CM-0-1-1-5", Item::derived(enc.department.clone(), [field("department")]));

    // Principal diagnosis.
    let principal = enc.diagnoses.iter().find(|d| d.rank == DiagnosisRank::Principal);
    match principal.and_then(|d| d.icd10().next().map(|c| (d, c))) {
        Some((d, c)) => {
            let src = at("diagnoses", &d.id, "code");
            put("CM-0-1-3-1", Item::derived(icd10_four(&c.code), [src.clone()]));
            if normalize_code("ICD-10", &c.code).len() >= 6 {
                put("CM-0-1-3-2", Item::derived(c.code.clone(), [src]));
            } else {
                put(
                    "CM-0-1-3-2",
                    Item::confirm(
                        Value::Null,
                        [src],
                        text(
                            "编码只有亚目，没有国家临床版 6 位扩展码：请按病案首页填写",
                            "the code has no 6-character national extension: take it from the front sheet",
                        ),
                    ),
                );
            }
        }
        None => {
            let note = text("没有主要诊断的 ICD-10 编码", "no ICD-10 principal diagnosis in the encounter");
            put("CM-0-1-3-1", Item::confirm(Value::Null, [], note.clone()));
            put("CM-0-1-3-2", Item::confirm(Value::Null, [], note));
        }
    }

    // Main procedure: the contract does not rank procedures; a candidate from the disease's sets.
    let candidate = procedure_sets.iter().find_map(|s| first_in(&enc.procedures, sets, s, |p| &p.codings));
    let note = text(
        "接口不区分主要手术：请按病案首页确认（候选为本病种的再灌注/介入操作）",
        "the contract does not mark the main procedure: confirm from the front sheet (the candidate is the disease's intervention)",
    );
    match candidate.and_then(|p| p.codings.iter().find(|c| c.system.name() == "ICD-9-CM-3").map(|c| (p, c))) {
        Some((p, c)) => {
            let src = at("procedures", &p.id, "code");
            put("CM-0-1-4-1", Item::confirm(c.code.clone(), [src.clone()], note.clone()));
            put("CM-0-1-4-2", Item::confirm(Value::Null, [src], note));
        }
        None => {
            put("CM-0-1-4-1", Item::confirm(Value::Null, [], note.clone()));
            put("CM-0-1-4-2", Item::confirm(Value::Null, [], note));
        }
    }

    // 31-day readmission: a candidate from the prior encounters; "unplanned" is not in the contract.
    let within = enc.prior_encounters.iter().find(|p| {
        p.class == EncounterClass::Inpatient
            && p.discharge.is_some_and(|d| d <= enc.arrival && enc.arrival - d <= chrono::Duration::days(31))
    });
    let note = text(
        "是否为非计划再入院需人工判断（候选值来自既往住院记录）",
        "whether a readmission was unplanned is a judgement (the candidate comes from the prior encounters sent)",
    );
    put(
        "CM-0-1-5",
        match within {
            Some(p) => Item::confirm(true, [at("prior_encounters", &p.id, "discharge_time")], note),
            None if enc.prior_encounters.is_empty() => Item::confirm(Value::Null, [], note),
            None => Item::confirm(false, [field("prior_encounters")], note),
        },
    );

    // Patient.
    let p = &enc.patient;
    put(
        "CM-0-2-1-1",
        match p.birth_date {
            Some(b) if p.birth_date_precision == DatePrecision::Day => {
                Item::derived(b.format("%Y-%m-%d").to_string(), ["patient.birth_date".to_string()])
            }
            _ => Item::confirm(Value::Null, [], text("接口未提供完整出生日期", "no full birth date in the encounter")),
        },
    );
    // GB/T 2261.1-2003 sex codes: 0 unknown, 1 male, 2 female, 9 unspecified.
    let sex = match p.sex {
        Sex::Male => Some("1"),
        Sex::Female => Some("2"),
        Sex::Unknown => Some("0"),
        Sex::Other => None,
    };
    put(
        "CM-0-2-1-2",
        match sex {
            Some(s) => Item::derived(s, ["patient.sex".to_string()]),
            None => Item::confirm("9", ["patient.sex".to_string()], text("性别为“其他”", "sex is \"other\"")),
        },
    );
    let weight = first_in(&enc.vitals, sets, "body_weight", |o| &o.codings).and_then(|o| o.number().map(|v| (o, v)));
    let height = first_in(&enc.vitals, sets, "body_height", |o| &o.codings).and_then(|o| o.number().map(|v| (o, v)));
    let none = || Item::confirm(Value::Null, [], text("接口中没有该测量值", "no such measurement in the encounter"));
    put("CM-0-2-1-3", weight.map_or_else(none, |(o, v)| Item::derived(v, [at("vitals", &o.id, "quantity")])));
    put("CM-0-2-1-4", height.map_or_else(none, |(o, v)| Item::derived(v, [at("vitals", &o.id, "quantity")])));
    put(
        "CM-0-2-1-5",
        match (weight, height) {
            (Some((w, kg)), Some((h, cm))) if cm > 0.0 => {
                let bmi = (kg / (cm / 100.0).powi(2) * 10.0).round() / 10.0;
                Item::derived(bmi, [at("vitals", &w.id, "quantity"), at("vitals", &h.id, "quantity")])
            }
            _ => none(),
        },
    );

    // Onset.
    match enc.onset {
        Some(t) => {
            put("CM-0-2-2-1", Item::derived(local(t, tz), [field("symptom_onset_time")]));
            put("CM-0-2-2-2", Item::derived(false, [field("symptom_onset_time")]));
        }
        None => {
            let note = text(
                "接口未提供发病时间：填写发病时间，或确认“发病时间不详”",
                "no onset time in the encounter: give it, or confirm that it is unknown",
            );
            let lkw: Vec<String> = enc.last_known_well.map(|_| field("last_known_well_time")).into_iter().collect();
            put("CM-0-2-2-1", Item::confirm(enc.last_known_well.map(|t| local(t, tz)), lkw, note.clone()));
            put("CM-0-2-2-2", Item::confirm(Value::Null, [], note));
        }
    }

    // Course.
    put("CM-0-3-1", Item::derived(local(enc.arrival, tz), [field("arrival_time")]));
    put("CM-0-3-2", enc.admission.map_or_else(none, |t| Item::derived(local(t, tz), [field("admission_time")])));
    put("CM-0-3-3", enc.discharge.map_or_else(none, |t| Item::derived(local(t, tz), [field("discharge_time")])));
    let ccu = enc.locations.iter().find(|l| l.kind == LocationType::Ccu);
    let no_ccu = || {
        Item::confirm(
            Value::Null,
            [],
            text("接口中没有 CCU 住院记录（如未入 CCU 则留空）", "no CCU stay in the encounter (leave empty if none)"),
        )
    };
    match ccu {
        Some(l) => {
            put("CM-0-3-4", Item::derived(local(l.start, tz), [at("locations", &l.id, "start_time")]));
            put(
                "CM-0-3-5",
                l.end.map_or_else(no_ccu, |e| Item::derived(local(e, tz), [at("locations", &l.id, "end_time")])),
            );
        }
        None => {
            put("CM-0-3-4", no_ccu());
            put("CM-0-3-5", no_ccu());
        }
    }
    put(
        "CM-0-3-6",
        Item::confirm(
            Value::Null,
            [],
            text(
                "医疗付费方式不在接口中：请按病案首页填写",
                "payment type is not in the contract: take it from the front sheet",
            ),
        ),
    );
    // Admission route, front-sheet codes: 1 emergency, 2 outpatient, 3 transfer from another institution, 9 other.
    let er = enc.locations.first().filter(|l| l.kind == LocationType::Emergency);
    put(
        "CM-0-3-7",
        if enc.transferred_in {
            Item::derived("3", [field("transferred_in")])
        } else if let Some(l) = er {
            Item::derived("1", [at("locations", &l.id, "type")])
        } else {
            Item::confirm(
                Value::Null,
                [],
                text("无法从接口判断入院途径", "the admission route cannot be told from the encounter"),
            )
        },
    );
    let transport = match enc.arrival_mode {
        Some(ArrivalMode::Ems) => Some("ems"),
        Some(ArrivalMode::WalkIn) => Some("self"),
        Some(ArrivalMode::Transfer) => Some("inter_hospital_transfer"),
        Some(ArrivalMode::Other) => Some("other"),
        None => None,
    };
    put(
        "CM-0-3-8",
        match transport {
            Some(t) => Item::derived(json!([t]), [field("arrival_mode")]),
            None => Item::confirm(json!([]), [], text("接口未提供到院方式", "no arrival mode in the encounter")),
        },
    );
    m
}
