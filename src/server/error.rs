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
                let fields: Vec<String> = v.violations.iter().take(5).map(|f| truncated(&f.field, 120)).collect();
                let more = v.violations.len().saturating_sub(fields.len());
                let message = format!(
                    "invalid request: {}{}; see the BadRequest field violations",
                    fields.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                );
                let details = ErrorDetails::with_bad_request(bounded_violations(
                    v.violations.into_iter().map(|f| (f.field, f.description)),
                ));
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            EvaluateError::DeadlineExceeded => {
                Status::deadline_exceeded("rules and risk did not finish within the request budget")
            }
            EvaluateError::AuditUnavailable(msg) => {
                tracing::warn!(error = %msg, "Decision not recorded; refusing the call.");
                Status::unavailable(
                    "the decision could not be recorded (audit store unavailable); nothing was answered",
                )
            }
            EvaluateError::Overloaded { limit } => Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "server busy: {limit} evaluations are in flight (server.max_in_flight_evaluations); nothing was evaluated, retry shortly"
                ),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER_SHED)),
            ),
            EvaluateError::Internal(msg) => {
                tracing::error!(error = %msg, "Evaluation failed internally.");
                Status::internal("internal error; see the server log for this request id")
            }
        }
    }
}

/// When a shed call may retry (`google.rpc.RetryInfo`; HTTP `Retry-After`, rounded up to 1 s).
pub(crate) const RETRY_AFTER_SHED: std::time::Duration = std::time::Duration::from_millis(200);

/// Error details stay small enough for any client's header limits (grpc-status-details-bin
/// is a trailer; stock clients refuse trailers over 8-16 KiB): each text at most
/// [`MAX_TEXT`] characters, at most [`MAX_VIOLATIONS`] violations and [`DETAILS_BUDGET`]
/// bytes of them, then one last violation saying how many more there were.
pub(crate) const MAX_VIOLATIONS: usize = 40;
pub(crate) const MAX_TEXT: usize = 160;
pub(crate) const DETAILS_BUDGET: usize = 4096;

/// `s` cut to `max` characters, with "…" when cut (echoed values are never long).
pub(crate) fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

pub(crate) fn bounded_violations(
    all: impl ExactSizeIterator<Item = (String, String)>,
) -> Vec<tonic_types::FieldViolation> {
    let total = all.len();
    let mut out = Vec::new();
    let mut bytes = 0;
    for (field, description) in all {
        let (field, description) = (truncated(&field, MAX_TEXT), truncated(&description, MAX_TEXT));
        if out.len() == MAX_VIOLATIONS || bytes + field.len() + description.len() > DETAILS_BUDGET {
            break;
        }
        bytes += field.len() + description.len();
        out.push(tonic_types::FieldViolation::new(field, description));
    }
    if out.len() < total {
        let more = total - out.len();
        out.push(tonic_types::FieldViolation::new(
            "encounter",
            format!("+{more} more violations not listed (fix these and send again)"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_capped_and_cut() {
        let many = (0..5000).map(|i| (format!("encounter.labs[{i}].quantity.unit"), "x".repeat(10_000)));
        let v = bounded_violations(many.collect::<Vec<_>>().into_iter());
        assert!(v.len() <= MAX_VIOLATIONS + 1, "{}", v.len());
        let last = v.last().unwrap();
        assert!(last.description.starts_with('+') && last.description.contains("more"), "{}", last.description);
        let bytes: usize = v.iter().map(|f| f.field.len() + f.description.len()).sum();
        assert!(bytes < 8 * 1024, "{bytes}");
        assert!(v[0].description.chars().count() <= MAX_TEXT + 1);
        let few = bounded_violations(vec![("a".to_string(), "b".to_string())].into_iter());
        assert_eq!(few.len(), 1, "no '+N more' when all fit");
    }
}
