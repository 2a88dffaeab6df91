//! One item of a worksheet: its value, whether it was derived from the encounter (with
//! pointers to the data) or needs confirmation (with why), and the checks' named errors.

use serde_json::Value;

use crate::encounter::Time;

/// How the value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Read from the encounter data named in `source`, by a fixed rule.
    Derived,
    /// The contract does not carry it (or not unambiguously): a person confirms or fills it.
    NeedsConfirmation,
}

/// A text a person reads, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Text {
    #[serde(rename = "zh-CN")]
    pub zh: String,
    pub en: String,
}

pub fn text(zh: &str, en: &str) -> Text {
    Text { zh: zh.into(), en: en.into() }
}

/// One worksheet item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Item {
    /// String, number, boolean, array of option codes (multi-choice) or null (no value yet).
    pub value: Value,
    pub status: Status,
    /// Where a derived value (or a candidate) came from: `list[item_id].field` or `encounter.field`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    /// Why it needs confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

impl Item {
    pub fn derived(value: impl Into<Value>, source: impl IntoIterator<Item = String>) -> Self {
        Self { value: value.into(), status: Status::Derived, source: source.into_iter().collect(), note: None }
    }

    /// A candidate value (or null) that a person must confirm, with the reason.
    pub fn confirm(value: impl Into<Value>, source: impl IntoIterator<Item = String>, note: Text) -> Self {
        Self {
            value: value.into(),
            status: Status::NeedsConfirmation,
            source: source.into_iter().collect(),
            note: Some(note),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::String(s) => s.is_empty(),
            _ => false,
        }
    }
}

/// An item the hospital's uploader fills: identifiers the encounter contract does not carry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Withheld {
    pub item: String,
    pub what: Text,
}

/// A failed check: which item, what kind, what is wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckError {
    pub item: String,
    /// `required_missing`, `required_when`, `exclusive`, `not_before`, `invalid_option`.
    pub code: String,
    pub message: Text,
}

/// A local time in the worksheet's form, `yyyy-MM-dd HH:mm` in the hospital time zone.
pub fn local(t: Time, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `list[item_id].field`.
pub fn at(list: &str, id: &str, field: &str) -> String {
    format!("{list}[{id}].{field}")
}

/// `encounter.field`.
pub fn field(name: &str) -> String {
    format!("encounter.{name}")
}
