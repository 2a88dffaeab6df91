//! `cdssd::fuzzing::value_set_toml`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::value_set_toml(data);
});
