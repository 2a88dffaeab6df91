//! The STEMI disease block, as far as `shared/reference/nhc-reporting.md` ("Disease
//! block") gives it: pre-hospital ECG and thrombolysis in the ambulance (`STEMI-0-4-*`),
//! first ECG time and Killip class (`STEMI-1-1-*`), P2Y12 contraindication, loading
//! dose and drug time (`STEMI-1-2-*`), cardiac markers (`STEMI-1-3-*`). Sub-item numbers
//! within each group are our reading; verify them against the interface specification.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::item::{at, field, local, text, Item};
use crate::{
    encounter::{Encounter, ObsValue, Time},
    rules::valueset::{normalize_code, ValueSets},
};

/// Cardiac markers (option code, LOINC 2.77 codes): troponin I (10839-9, 89579-7 hs,
/// 49563-0), troponin T (6598-7, 67151-1 hs), CK-MB mass (13969-1).
pub const MARKERS: &[(&str, &[&str])] =
    &[("cTnI", &["10839-9", "89579-7", "49563-0"]), ("cTnT", &["6598-7", "67151-1"]), ("CK-MB", &["13969-1"])];

/// Killip classes (options).
pub const KILLIP: &[&str] = &["I", "II", "III", "IV"];

fn matches(sets: &ValueSets, set: &str, codes: &[crate::encounter::Code]) -> bool {
    sets.get(set).is_some_and(|vs| super::super::source::any_code(codes, vs))
}

/// The `STEMI-*` items.
pub fn items(enc: &Encounter, tz: chrono_tz::Tz, sets: &ValueSets) -> BTreeMap<String, Item> {
    let mut m = BTreeMap::new();
    let mut put = |id: &str, item: Item| {
        m.insert(id.to_string(), item);
    };
    let not_in_contract = |zh: &str, en: &str| Item::confirm(Value::Null, [], text(zh, en));

    // Pre-hospital.
    put(
        "STEMI-0-4-1",
        match enc.prehospital_ecg {
            Some(t) => Item::derived(local(t, tz), [field("prehospital_ecg_time")]),
            None => not_in_contract("接口未提供院前心电图时间", "no pre-hospital ECG time in the encounter"),
        },
    );
    put(
        "STEMI-0-4-2",
        not_in_contract(
            "首次医疗接触时间不在接口中：请确认院前心电图是否在首次医疗接触后 10 分钟内完成",
            "the first medical contact time is not in the contract: confirm whether the pre-hospital ECG was within 10 min of it",
        ),
    );
    put(
        "STEMI-0-4-3",
        not_in_contract("救护车上溶栓不在接口中", "thrombolysis in the ambulance is not in the contract"),
    );

    // First ECG after arrival: procedures and assessments of the value set `ecg`.
    let mut ecgs: Vec<(Time, String)> = Vec::new();
    for p in enc.procedures.iter().filter(|p| matches(sets, "ecg", &p.codings)) {
        ecgs.push((p.time, at("procedures", &p.id, "start_time")));
    }
    for o in enc.assessments.iter().filter(|o| matches(sets, "ecg", &o.codings)) {
        ecgs.push((o.time, at("assessments", &o.id, "effective_time")));
    }
    ecgs.retain(|(t, _)| *t >= enc.arrival);
    ecgs.sort();
    put(
        "STEMI-1-1-1",
        match ecgs.first() {
            Some((t, src)) => Item::derived(local(*t, tz), [src.clone()]),
            None => not_in_contract("接口中没有到院后的心电图", "no ECG after arrival in the encounter"),
        },
    );
    let killip = enc.assessments.iter().find(|o| matches(sets, "killip_class", &o.codings));
    put(
        "STEMI-1-1-2",
        match killip {
            Some(o) => {
                let v = match &o.value {
                    ObsValue::Text(t) => t.trim().to_ascii_uppercase(),
                    ObsValue::Quantity { value, .. } => {
                        KILLIP.get((*value as usize).wrapping_sub(1)).unwrap_or(&"").to_string()
                    }
                };
                Item::derived(v, [at("assessments", &o.id, "value")])
            }
            None => not_in_contract("接口中没有 Killip 分级", "no Killip class in the encounter"),
        },
    );

    // P2Y12 inhibitor: the first one given.
    let p2y12 = enc
        .administrations
        .iter()
        .filter(|a| a.was_given() && matches(sets, "p2y12_inhibitor", &a.codes))
        .min_by_key(|a| a.time);
    match p2y12 {
        Some(a) => {
            let src = at("medication_administrations", &a.id, "start_time");
            put(
                "STEMI-1-2-1",
                Item::confirm(
                    false,
                    [src.clone()],
                    text(
                        "已给予 P2Y12 抑制剂，候选值为“无禁忌”，请确认",
                        "a P2Y12 inhibitor was given, so the candidate is \"no contraindication\": confirm",
                    ),
                ),
            );
            put(
                "STEMI-1-2-2",
                match a.dose.as_ref().filter(|d| d.unit.eq_ignore_ascii_case("mg")) {
                    Some(d) => Item::derived(d.value, [at("medication_administrations", &a.id, "dose")]),
                    None => not_in_contract("剂量单位不是 mg", "the dose is not in mg"),
                },
            );
            put("STEMI-1-2-3", Item::derived(local(a.time, tz), [src]));
        }
        None => {
            let note = text(
                "接口中没有 P2Y12 抑制剂给药：请确认禁忌证",
                "no P2Y12 inhibitor given in the encounter: confirm the contraindication",
            );
            put("STEMI-1-2-1", Item::confirm(Value::Null, [], note.clone()));
            put("STEMI-1-2-2", Item::confirm(Value::Null, [], note.clone()));
            put("STEMI-1-2-3", Item::confirm(Value::Null, [], note));
        }
    }

    // Cardiac markers: which were measured (multi-choice) and the first sample time.
    let mut tested: Vec<(&str, &crate::encounter::Observation)> = Vec::new();
    for (option, loinc) in MARKERS {
        let first = enc
            .labs
            .iter()
            .filter(|o| {
                o.codings
                    .iter()
                    .any(|c| c.system.name() == "LOINC" && loinc.contains(&normalize_code("LOINC", &c.code).as_ref()))
            })
            .min_by_key(|o| o.time);
        if let Some(o) = first {
            tested.push((option, o));
        }
    }
    if tested.is_empty() {
        put(
            "STEMI-1-3-1",
            Item::confirm(
                json!([]),
                [],
                text("接口中没有心肌损伤标志物检验", "no cardiac marker test in the encounter"),
            ),
        );
        put(
            "STEMI-1-3-2",
            Item::confirm(
                Value::Null,
                [],
                text("接口中没有心肌损伤标志物检验", "no cardiac marker test in the encounter"),
            ),
        );
    } else {
        let options: Vec<&str> = tested.iter().map(|(o, _)| *o).collect();
        let sources: Vec<String> = tested.iter().map(|(_, o)| at("labs", &o.id, "code")).collect();
        put("STEMI-1-3-1", Item::derived(json!(options), sources));
        let (_, first) = tested.iter().min_by_key(|(_, o)| o.time).expect("not empty");
        put("STEMI-1-3-2", Item::derived(local(first.time, tz), [at("labs", &first.id, "effective_time")]));
    }
    m
}
