//! The shipped rules against fuzz-generated valid encounters.
#![no_main]

use std::{path::Path, sync::OnceLock};

use cdssd::fuzzing::RulesHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<RulesHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            RulesHarness::load(&root.join("rules"), &root.join("examples/encounters")).expect("the shipped rules load")
        })
        .run(data);
});
