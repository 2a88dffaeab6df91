//! Required-item and dependency checks of a worksheet, each failure a named error (item
//! id, code, what is wrong in both languages). Which items are required and how they
//! depend on each other is our reading of the public sources (items that exist only
//! when another has a given answer); verify against the interface specification.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    item::{text, CheckError, Item},
    stemi, Disease,
};

type Items = BTreeMap<String, Item>;

/// Items required in every record of the common block, and of the STEMI block.
const COMMON: &[&str] = &[
    "CM-0-1-1-5",
    "CM-0-1-3-1",
    "CM-0-1-3-2",
    "CM-0-1-5",
    "CM-0-2-1-1",
    "CM-0-2-1-2",
    "CM-0-2-1-3",
    "CM-0-3-1",
    "CM-0-3-2",
    "CM-0-3-3",
    "CM-0-3-6",
    "CM-0-3-7",
    "CM-0-3-8",
];
const STEMI: &[&str] = &["STEMI-1-1-1", "STEMI-1-1-2", "STEMI-1-2-1", "STEMI-1-3-1"];

/// Items required in every record of the disease.
pub fn required(disease: Disease) -> Vec<&'static str> {
    let extra: &[&str] = match disease {
        Disease::Stemi => STEMI,
        Disease::Stroke => &[],
    };
    COMMON.iter().chain(extra).copied().collect()
}

fn value<'a>(items: &'a Items, id: &str) -> &'a Value {
    items.get(id).map_or(&Value::Null, |i| &i.value)
}

fn given(items: &Items, id: &str) -> bool {
    items.get(id).is_some_and(|i| !i.is_empty())
}

fn err(item: &str, code: &str, zh: String, en: String) -> CheckError {
    CheckError { item: item.into(), code: code.into(), message: text(&zh, &en) }
}

/// `item` is required when `cond` holds (described by `why`).
fn required_when(out: &mut Vec<CheckError>, items: &Items, item: &str, cond: bool, why: (&str, &str)) {
    if cond && !given(items, item) {
        out.push(err(item, "required_when", format!("{} 时必填", why.0), format!("required when {}", why.1)));
    }
}

/// Local times `yyyy-MM-dd HH:mm` compare as text.
fn not_before(out: &mut Vec<CheckError>, items: &Items, later: &str, earlier: &str) {
    if let (Value::String(a), Value::String(b)) = (value(items, later), value(items, earlier)) {
        if a < b {
            out.push(err(
                later,
                "not_before",
                format!("{later}（{a}）早于 {earlier}（{b}）"),
                format!("{later} ({a}) is before {earlier} ({b})"),
            ));
        }
    }
}

fn option(out: &mut Vec<CheckError>, items: &Items, item: &str, options: &[&str]) {
    let bad: Vec<String> = match value(items, item) {
        Value::String(s) if !s.is_empty() && !options.contains(&s.as_str()) => vec![s.clone()],
        Value::Array(a) => {
            a.iter().filter(|v| !v.as_str().is_some_and(|s| options.contains(&s))).map(|v| v.to_string()).collect()
        }
        _ => Vec::new(),
    };
    for b in bad {
        out.push(err(
            item,
            "invalid_option",
            format!("{b} 不是有效选项（{}）", options.join("/")),
            format!("{b} is not an option ({})", options.join("/")),
        ));
    }
}

/// Every failed check, in item order.
pub fn check(disease: Disease, items: &Items) -> Vec<CheckError> {
    let mut out = Vec::new();
    for id in required(disease) {
        if !given(items, id) {
            out.push(err(id, "required_missing", "必填项没有值".into(), "required item has no value".into()));
        }
    }
    // Onset: a time, or "unknown" — exactly one.
    let unknown = value(items, "CM-0-2-2-2") == &Value::Bool(true);
    required_when(
        &mut out,
        items,
        "CM-0-2-2-1",
        !unknown,
        ("CM-0-2-2-2（发病时间不详）不为“是”", "CM-0-2-2-2 (onset unknown) is not true"),
    );
    if unknown && given(items, "CM-0-2-2-1") {
        out.push(err(
            "CM-0-2-2-1",
            "exclusive",
            "已填写发病时间，但 CM-0-2-2-2 为“发病时间不详”".into(),
            "an onset time is given but CM-0-2-2-2 says the onset is unknown".into(),
        ));
    }
    let bmi_inputs = given(items, "CM-0-2-1-3") && given(items, "CM-0-2-1-4");
    required_when(&mut out, items, "CM-0-2-1-5", bmi_inputs, ("已有体重和身高", "weight and height are given"));
    required_when(
        &mut out,
        items,
        "CM-0-3-5",
        given(items, "CM-0-3-4"),
        ("已填写 CM-0-3-4（入 CCU 时间）", "CM-0-3-4 (CCU in) is given"),
    );
    not_before(&mut out, items, "CM-0-3-2", "CM-0-3-1");
    not_before(&mut out, items, "CM-0-3-3", "CM-0-3-2");
    not_before(&mut out, items, "CM-0-3-5", "CM-0-3-4");
    option(&mut out, items, "CM-0-2-1-2", &["0", "1", "2", "9"]);
    option(&mut out, items, "CM-0-3-7", &["1", "2", "3", "9"]);
    option(&mut out, items, "CM-0-3-8", &["ems", "self", "inter_hospital_transfer", "other"]);
    if disease == Disease::Stemi {
        let ems = value(items, "CM-0-3-8").as_array().is_some_and(|a| a.iter().any(|v| v == "ems"));
        for id in ["STEMI-0-4-2", "STEMI-0-4-3"] {
            required_when(&mut out, items, id, ems, ("CM-0-3-8（到院方式）为 120 急救", "CM-0-3-8 (transport) is ems"));
        }
        let no_contra = value(items, "STEMI-1-2-1") == &Value::Bool(false);
        for id in ["STEMI-1-2-2", "STEMI-1-2-3"] {
            required_when(
                &mut out,
                items,
                id,
                no_contra,
                ("STEMI-1-2-1（P2Y12 禁忌）为“否”", "STEMI-1-2-1 (P2Y12 contraindication) is false"),
            );
        }
        required_when(
            &mut out,
            items,
            "STEMI-1-3-2",
            given(items, "STEMI-1-3-1"),
            ("已填写 STEMI-1-3-1", "STEMI-1-3-1 is given"),
        );
        not_before(&mut out, items, "STEMI-1-1-1", "CM-0-3-1");
        option(&mut out, items, "STEMI-1-1-2", stemi::KILLIP);
        let markers: Vec<&str> = stemi::MARKERS.iter().map(|(o, _)| *o).collect();
        option(&mut out, items, "STEMI-1-3-1", &markers);
    }
    out
}
