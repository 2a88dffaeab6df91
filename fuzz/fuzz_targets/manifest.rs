//! `cdssd::fuzzing::model_manifest`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::model_manifest(data);
});
