//! Fuzz target bodies, shared by the cargo-fuzz crate (`fuzz/`, libFuzzer, nightly) and
//! the bounded smoke run of the test suite (`tests/it/fuzz_smoke.rs`, stable): each
//! function takes arbitrary bytes, drives one input boundary of cdssd and **panics only
//! when a documented guarantee is broken** — malformed input must come back as an error
//! value that says where (`path:line:col` or a field path), never as a panic, and
//! accepted input must satisfy the invariants listed on each function. The return value
//! tells the caller which way the input went, so a smoke run can check that its
//! mutations reach both the accepting and the rejecting paths.
//!
//! See `SECURITY.md` ("Fuzzing") for the targets, the CI bound and the longer run.

mod fhir;
mod jwt;
mod parsers;
mod rules;
mod seeds;

pub use fhir::fhir_bundle;
pub use jwt::JwtHarness;
pub use parsers::{
    config_toml, kb_passages, mapping_toml, model_manifest, prompt_template, shipped_value_sets, value_set_toml,
};
pub use rules::RulesHarness;
pub use seeds::{seeds, TARGETS};

use prost::Message;

use crate::{
    config::Settings,
    encounter::{self, Limits, Time, ValidationError},
    proto::v1 as pb,
};

/// Which way one input went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Parsed (and validated, where the target validates).
    Accepted,
    /// Refused with an error value (the documented behaviour for malformed input).
    Rejected,
}

/// The fixed evaluation time of the encounter targets (2026-12-01T00:00:00Z): inputs
/// replay the same way on every run.
pub fn fixed_now() -> Time {
    chrono::DateTime::from_timestamp(1_796_083_200, 0).expect("a valid timestamp")
}

/// The validation limits of the embedded configuration.
pub fn default_limits() -> Limits {
    Limits::from_settings(&Settings::embedded().expect("the embedded defaults are valid").encounter)
}

/// A violation list must name at least one field, each with a path and a description.
fn check_violations(e: &ValidationError) {
    assert!(!e.violations.is_empty(), "a validation error without violations");
    for v in &e.violations {
        assert!(!v.field.is_empty(), "a violation without a field path: {v:?}");
        assert!(!v.description.is_empty(), "a violation without a description: {v:?}");
    }
}

/// Validate the request's encounter (as `Pipeline::prepare` does) and check the outcome.
fn validate_request(req: &pb::EvaluateRequest, limits: &Limits) -> Verdict {
    let Some(enc) = &req.encounter else { return Verdict::Rejected };
    match encounter::from_proto(enc, limits, fixed_now()) {
        Ok(valid) => {
            assert_eq!(valid.id, enc.id, "the validated encounter keeps its id");
            Verdict::Accepted
        }
        Err(e) => {
            check_violations(&e);
            Verdict::Rejected
        }
    }
}

/// Target `proto_request`: protobuf `EvaluateRequest` decoding, then encounter validation.
/// Undecodable bytes are an error value (`prost::DecodeError`); a decoded request
/// re-encodes to bytes that decode to the same message; validation either accepts or
/// lists field violations.
pub fn evaluate_request_bytes(data: &[u8], limits: &Limits) -> Verdict {
    let Ok(req) = pb::EvaluateRequest::decode(data) else { return Verdict::Rejected };
    // Compared as bytes: a NaN field makes the messages unequal to themselves.
    let bytes = req.encode_to_vec();
    let again = pb::EvaluateRequest::decode(bytes.as_slice()).expect("a re-encoded request decodes");
    assert!(again.encode_to_vec() == bytes, "protobuf round trip changed the request");
    validate_request(&req, limits)
}

/// Target `json_request`: proto3 JSON request decoding ([`encounter::request_from_json`],
/// as `cdssd evaluate` and the HTTP listener read it), then validation. Invalid UTF-8 and
/// malformed JSON are error values with a non-empty message; a decoded request's canonical
/// JSON decodes to the same request.
pub fn request_json(data: &[u8], limits: &Limits) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else { return Verdict::Rejected };
    let req = match encounter::request_from_json(text) {
        Ok(req) => req,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a JSON error without a message");
            return Verdict::Rejected;
        }
    };
    let json = encounter::to_json(&req);
    let again = encounter::request_from_json(&json).expect("canonical JSON of a decoded request decodes");
    assert!(encounter::to_json(&again) == json, "proto3 JSON round trip changed the request");
    validate_request(&req, limits)
}

/// Positions reported by the file parsers: 1-based, or `(0, 0)` where a parser documents
/// "unknown" (model manifests only).
fn check_position(what: &str, line: u64, column: u64, zero_allowed: bool, message: &str) {
    assert!(!message.trim().is_empty(), "{what}: an error without a message");
    let unknown = line == 0 && column == 0;
    assert!(
        (line >= 1 && column >= 1) || (zero_allowed && unknown),
        "{what}: an error at line {line} column {column}: {message}"
    );
}
