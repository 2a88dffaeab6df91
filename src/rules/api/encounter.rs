//! PLACEHOLDER until the encounter model lands.
use chrono_tz::Tz;
use rhai::{Dynamic, Engine};

use crate::rules::finding::Evidence;

pub const ENCOUNTER_PROPERTIES: &[&str] = &["id", "age"];
pub const VALUE_SET_METHODS: &[&str] = &["diagnoses", "given"];

pub fn evidence_of(_d: &Dynamic, _tz: Tz) -> Option<Evidence> {
    None
}

pub fn register(_engine: &mut Engine, _tz: Tz) {}
