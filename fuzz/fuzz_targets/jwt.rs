//! Bearer-token parsing and verification (`auth::Verifier::check`).
#![no_main]

use std::sync::OnceLock;

use cdssd::fuzzing::JwtHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<JwtHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS.get_or_init(JwtHarness::new).check(data);
});
