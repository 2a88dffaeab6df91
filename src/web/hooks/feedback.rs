//! CDS Hooks 2.0 feedback (`POST /cds-services/{id}/feedback`, "Feedback"): `{"feedback":
//! [{card, outcome, acceptedSuggestions, overrideReason {reason: Coding, userComment},
//! outcomeTimestamp}]}` read into the audit's [`Feedback`], every problem collected.

use serde_json::Value;

use super::cards::{OVERRIDE_REASONS, OVERRIDE_SYSTEM};
use crate::{
    audit::{Feedback, Outcome},
    encounter::FieldViolation,
};

/// At most this many items per call.
pub const MAX_ITEMS: usize = 100;

fn violation(field: String, description: impl Into<String>) -> FieldViolation {
    FieldViolation { field, description: description.into() }
}

/// Every item of a feedback body, validated (all or nothing).
pub fn parse(body: &[u8]) -> Result<Vec<Feedback>, Vec<FieldViolation>> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| vec![violation("body".into(), format!("the body is not valid JSON ({e})"))])?;
    let items = match body.get("feedback") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_ITEMS => a,
        Some(Value::Array(a)) if a.is_empty() => return Err(vec![violation("feedback".into(), "is empty")]),
        Some(Value::Array(_)) => {
            return Err(vec![violation("feedback".into(), format!("has more than {MAX_ITEMS} items"))])
        }
        _ => return Err(vec![violation("feedback".into(), "is required: an array of feedback items")]),
    };
    let mut bad = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |name: &str| format!("feedback[{i}].{name}");
        let card = match item.get("card").and_then(Value::as_str) {
            Some(c) if uuid::Uuid::parse_str(c).is_ok() => c.to_string(),
            Some(_) => {
                bad.push(violation(at("card"), "must be the uuid of a card this service returned"));
                String::new()
            }
            None => {
                bad.push(violation(at("card"), "is required"));
                String::new()
            }
        };
        let outcome = match item.get("outcome").and_then(Value::as_str) {
            Some("accepted") => Some(Outcome::Accepted),
            Some("overridden") => Some(Outcome::Overridden),
            _ => {
                bad.push(violation(at("outcome"), "must be \"accepted\" or \"overridden\""));
                None
            }
        };
        if item.get("acceptedSuggestions").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            bad.push(violation(at("acceptedSuggestions"), "must be empty: this service offers no suggestions"));
        }
        let time_us = match item.get("outcomeTimestamp").and_then(Value::as_str) {
            Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                Ok(t) => t.timestamp_micros(),
                Err(_) => {
                    bad.push(violation(at("outcomeTimestamp"), "is not an ISO 8601 instant with an offset"));
                    0
                }
            },
            None => {
                bad.push(violation(at("outcomeTimestamp"), "is required"));
                0
            }
        };
        let (reason_code, comment) = override_reason(item.get("overrideReason"), outcome, &at, &mut bad);
        if let Some(outcome) = outcome {
            out.push(Feedback {
                decision_id: String::new(),
                card_id: card,
                outcome,
                reason_code,
                comment,
                user_role: String::new(),
                time_us,
            });
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// (reason code, user comment) of an override; the reason must be one cdssd offered.
fn override_reason(
    v: Option<&Value>,
    outcome: Option<Outcome>,
    at: &dyn Fn(&str) -> String,
    bad: &mut Vec<FieldViolation>,
) -> (String, String) {
    let known = || OVERRIDE_REASONS.iter().map(|r| r.0).collect::<Vec<_>>().join(", ");
    let Some(r) = v.filter(|v| !v.is_null()) else {
        if outcome == Some(Outcome::Overridden) {
            bad.push(violation(
                at("overrideReason"),
                format!("is required when the card is overridden ({OVERRIDE_SYSTEM}: {})", known()),
            ));
        }
        return (String::new(), String::new());
    };
    if outcome == Some(Outcome::Accepted) {
        bad.push(violation(at("overrideReason"), "must not be sent when the card is accepted"));
    }
    let comment = match r.get("userComment") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.len() <= 4096 => s.clone(),
        Some(_) => {
            bad.push(violation(at("overrideReason.userComment"), "must be a string of at most 4096 bytes"));
            String::new()
        }
    };
    let reason = r.get("reason");
    let system = reason.and_then(|c| c.get("system")).and_then(Value::as_str);
    let code = reason.and_then(|c| c.get("code")).and_then(Value::as_str);
    match (system, code) {
        (Some(OVERRIDE_SYSTEM), Some(c)) if OVERRIDE_REASONS.iter().any(|r| r.0 == c) => (c.to_string(), comment),
        _ => {
            bad.push(violation(
                at("overrideReason.reason"),
                format!("must be one of the card's overrideReasons: system {OVERRIDE_SYSTEM}, code one of {}", known()),
            ));
            (String::new(), comment)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "5b1f3c2e-8e0a-5d8b-9a41-0c2f6f1e9d70";

    #[test]
    fn accepted_and_overridden_items_are_read() {
        let body = serde_json::json!({"feedback": [
            {"card": CARD, "outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": "2026-05-01T08:00:00+08:00"},
            {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-05-01T00:00:00Z",
             "overrideReason": {"reason": {"system": OVERRIDE_SYSTEM, "code": "contraindicated"}, "userComment": "GI bleed"}},
        ]});
        let got = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].outcome, Outcome::Accepted);
        assert_eq!(got[0].time_us, got[1].time_us);
        assert_eq!((got[1].reason_code.as_str(), got[1].comment.as_str()), ("contraindicated", "GI bleed"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = serde_json::json!({"feedback": [
            {"card": "nope", "outcome": "ignored"},
            {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-05-01T08:00:00",
             "acceptedSuggestions": [{"id": "x"}]},
            {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-05-01T08:00:00Z",
             "overrideReason": {"reason": {"system": "http://other", "code": "contraindicated"}}},
        ]});
        let fields: Vec<String> =
            parse(body.to_string().as_bytes()).unwrap_err().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "feedback[0].card",
                "feedback[0].outcome",
                "feedback[0].outcomeTimestamp",
                "feedback[1].acceptedSuggestions",
                "feedback[1].outcomeTimestamp",
                "feedback[1].overrideReason",
                "feedback[2].overrideReason.reason",
            ]
        );
        assert_eq!(parse(b"{}").unwrap_err()[0].field, "feedback");
        assert_eq!(parse(b"[").unwrap_err()[0].field, "body");
    }
}
