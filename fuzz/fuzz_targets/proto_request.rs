//! Protobuf `EvaluateRequest` decoding and encounter validation.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static LIMITS: OnceLock<cdssd::encounter::Limits> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::evaluate_request_bytes(data, LIMITS.get_or_init(cdssd::fuzzing::default_limits));
});
