//! The transport boundary: every pipeline error maps to exactly one gRPC status.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::pipeline::EvaluateError;

impl From<EvaluateError> for Status {
    fn from(e: EvaluateError) -> Self {
        match e {
            EvaluateError::MissingEncounter => Status::with_error_details(
                Code::InvalidArgument,
                "the request has no encounter",
                ErrorDetails::with_bad_request_violation("encounter", "is required"),
            ),
            EvaluateError::Invalid(v) => {
                // The text names the fields only (never their values: they may be patient data).
                let fields: Vec<&str> = v.violations.iter().take(5).map(|f| f.field.as_str()).collect();
                let more = v.violations.len().saturating_sub(fields.len());
                let message = format!(
                    "invalid request: {}{}; see the BadRequest field violations",
                    fields.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                );
                let details = ErrorDetails::with_bad_request(
                    v.violations
                        .into_iter()
                        .map(|f| tonic_types::FieldViolation::new(f.field, f.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            EvaluateError::DeadlineExceeded => {
                Status::deadline_exceeded("rules and risk did not finish within the request budget")
            }
            EvaluateError::Internal(msg) => {
                tracing::error!(error = %msg, "Evaluation failed internally.");
                Status::internal("internal error; see the server log for this request id")
            }
        }
    }
}
