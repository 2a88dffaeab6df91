//! `cdssd::fuzzing::prompt_template`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::prompt_template(data);
});
