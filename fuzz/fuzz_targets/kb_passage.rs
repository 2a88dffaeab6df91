//! `cdssd::fuzzing::kb_passages`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::kb_passages(data);
});
