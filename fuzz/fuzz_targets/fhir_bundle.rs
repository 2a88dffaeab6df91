//! FHIR R4 bundle mapping (`fhir::map_bundle`) and validation of the mapped encounter.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static LIMITS: OnceLock<cdssd::encounter::Limits> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    cdssd::fuzzing::fhir_bundle(data, LIMITS.get_or_init(cdssd::fuzzing::default_limits));
});
