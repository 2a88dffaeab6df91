//! Decoding proto3 JSON requests with the path of what is wrong: one field
//! violation per error, at the lowerCamelCase path serde reached (`encounter.arrivalTime`),
//! the text said once, and a timestamp without an offset told so. Used by every JSON
//! transport: the HTTP listener's `POST /v1/evaluate` and Connect on the gRPC port.

use crate::{encounter::FieldViolation, proto::v1 as pb};

/// Decode an `EvaluateRequest` from proto3 JSON.
pub fn evaluate_request(body: &[u8]) -> Result<pb::EvaluateRequest, FieldViolation> {
    decode(body)
}

/// Decode any request message of the contract from proto3 JSON.
pub fn decode<M: serde::de::DeserializeOwned>(body: &[u8]) -> Result<M, FieldViolation> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        violation(if path == "." { String::new() } else { path }, &inner)
    })
}

fn violation(path: String, e: &serde_json::Error) -> FieldViolation {
    let text = dedupe(&e.to_string());
    let description = if text.contains("premature end of input") && path.to_ascii_lowercase().ends_with("time") {
        "is not an RFC 3339 time with an offset: an offset is required (`Z` or `+08:00`, e.g. 2026-05-01T08:00:00+08:00)"
            .to_string()
    } else if e.is_syntax() || e.is_eof() {
        format!("the body is not valid JSON ({text})")
    } else {
        text
    };
    FieldViolation { field: if path.is_empty() { "body".into() } else { path }, description }
}

/// "x: x" (the same text twice, as some decoders nest it) becomes "x"; the position suffix is kept.
fn dedupe(s: &str) -> String {
    let (text, at) = match s.rfind(" at line ") {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    format!("{}{at}", parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_without_offset_names_its_field_and_asks_for_an_offset() {
        let body = br#"{"trigger":"TRIGGER_ADMISSION","encounter":{"id":"e","arrivalTime":"2026-05-01T08:00:00"}}"#;
        let v = evaluate_request(body).unwrap_err();
        assert_eq!(v.field, "encounter.arrivalTime");
        assert!(v.description.contains("offset is required"), "{}", v.description);
    }

    #[test]
    fn texts_are_said_once_and_unknown_enum_numbers_are_at_their_field() {
        assert_eq!(
            dedupe("premature end of input: premature end of input at line 1 column 9"),
            "premature end of input at line 1 column 9"
        );
        let v = evaluate_request(br#"{"trigger":99}"#).unwrap_err();
        assert_eq!(v.field, "trigger");
        let v = evaluate_request(br#"{"options":{"llm":"LLM_MODE_SOMETIMES"}}"#).unwrap_err();
        assert_eq!(v.field, "options.llm");
        let v = evaluate_request(b"{not json").unwrap_err();
        assert!(v.description.contains("not valid JSON"), "{v:?}");
    }
}
