//! Mapping tables, against the shipped value sets.
#![no_main]

use std::{path::Path, sync::OnceLock};

use cdssd::rules::valueset::ValueSets;
use libfuzzer_sys::fuzz_target;

static SETS: OnceLock<ValueSets> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let sets = SETS
        .get_or_init(|| cdssd::fuzzing::shipped_value_sets(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")));
    cdssd::fuzzing::mapping_toml(data, sets);
});
