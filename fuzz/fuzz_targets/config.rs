//! `cdssd::fuzzing::config_toml`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::config_toml(data);
});
