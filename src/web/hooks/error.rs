//! Why a CDS Hooks call failed, and its answer: the HTTP listener's error contract
//! (`google.rpc.Status` JSON with `x-request-id`) with the status codes CDS Hooks clients
//! expect — 400 for a malformed call (every field violation), 412 naming the missing prefetch
//! keys, 404 for an unknown service or card. Texts name fields, keys and codes, never values.

use axum::{http::StatusCode, response::Response};
use serde_json::json;

use super::request::Missing;
use crate::{audit::AuditError, encounter::FieldViolation, pipeline::EvaluateError};

/// The one error type of the CDS Hooks boundary.
#[derive(Debug)]
pub enum HooksError {
    /// No service with this id.
    UnknownService(String),
    /// Not `application/json`.
    NotJson,
    /// The body was refused before decoding (`web::body_refused`: too large, late or unreadable).
    Body(super::super::BodyRefused),
    /// A malformed call or feedback: every violation.
    Invalid(Vec<FieldViolation>),
    /// Prefetch keys the service needs were not sent.
    MissingPrefetch(Vec<Missing>),
    /// The prefetch is not FHIR R4 the mapper can read.
    Fhir(crate::fhir::FhirError),
    /// The pipeline refused or failed the evaluation.
    Evaluate(EvaluateError),
    /// Feedback cannot be stored: the audit is off.
    NoAudit,
    /// Storing feedback failed after `stored` items were stored.
    Feedback { stored: usize, error: AuditError },
}

fn bad_request(violations: &[FieldViolation]) -> serde_json::Value {
    let fv: Vec<serde_json::Value> =
        violations.iter().map(|v| json!({"field": v.field, "description": v.description})).collect();
    json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": fv})
}

impl HooksError {
    /// The HTTP answer, with `id` as `x-request-id`.
    pub fn response(self, id: &str) -> Response {
        let (status, body) = match self {
            HooksError::UnknownService(s) => (
                StatusCode::NOT_FOUND,
                json!({"code": "NOT_FOUND", "message": format!(
                    "no CDS service `{}` (GET /cds-services lists them)", crate::locale::truncate_chars(&s, 64)
                ), "details": []}),
            ),
            HooksError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"code": "INVALID_ARGUMENT", "message": "send the CDS Hooks request as JSON with content-type application/json", "details": []}),
            ),
            HooksError::Body(b) => return b.response(id),
            HooksError::Invalid(v) => {
                crate::metrics::validation_failed();
                let fields: Vec<&str> = v.iter().take(5).map(|f| f.field.as_str()).collect();
                let more = v.len().saturating_sub(fields.len());
                let more = if more > 0 { format!(" (+{more} more)") } else { String::new() };
                (
                    StatusCode::BAD_REQUEST,
                    json!({"code": "INVALID_ARGUMENT",
                           "message": format!("invalid CDS Hooks request: {}{more}; see the field violations", fields.join(", ")),
                           "details": [bad_request(&v)]}),
                )
            }
            HooksError::MissingPrefetch(m) => {
                let keys: Vec<&str> = m.iter().map(|m| m.key).collect();
                let violations: Vec<serde_json::Value> = m
                    .iter()
                    .map(|m| {
                        json!({"type": "PREFETCH", "subject": m.key,
                               "description": format!("{} ({}): the CDS Client must send `{}`", m.why, m.key, m.template)})
                    })
                    .collect();
                (
                    StatusCode::PRECONDITION_FAILED,
                    json!({"code": "FAILED_PRECONDITION",
                           "message": format!(
                               "prefetch incomplete, missing: {}. cdssd needs every prefetch key of its discovery \
                                document; fetching missing data from fhirServer is not implemented yet",
                               keys.join(", ")),
                           "missingPrefetch": keys,
                           "details": [{"@type": "type.googleapis.com/google.rpc.PreconditionFailure", "violations": violations}]}),
                )
            }
            HooksError::Fhir(e) => {
                crate::metrics::validation_failed();
                (
                    StatusCode::BAD_REQUEST,
                    json!({"code": "INVALID_ARGUMENT",
                           "message": "the prefetch could not be mapped from FHIR R4; see operationOutcome (locations start at the prefetch key)",
                           "operationOutcome": e.to_operation_outcome(), "details": []}),
                )
            }
            HooksError::Evaluate(e) => return super::super::error_response(&tonic::Status::from(e), id),
            HooksError::NoAudit => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"code": "UNAVAILABLE", "message": "feedback cannot be stored: the audit is off (audit.backend = \"off\")", "details": []}),
            ),
            HooksError::Feedback { stored, error } => {
                let (status, code) = match &error {
                    AuditError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
                    AuditError::Invalid(_) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
                };
                let message = match &error {
                    AuditError::NotFound(what) => format!("no recorded {what}"),
                    AuditError::Invalid(m) => m.clone(),
                    _ => "the feedback could not be stored".to_string(),
                };
                if !matches!(error, AuditError::NotFound(_) | AuditError::Invalid(_)) {
                    tracing::warn!(error = %error, stored, "CDS Hooks feedback not stored.");
                }
                (
                    status,
                    json!({"code": code, "message": format!("feedback item {stored}: {message} (items before it were stored)"),
                           "stored": stored, "details": []}),
                )
            }
        };
        super::super::json_response(status, body.to_string(), id)
    }
}
