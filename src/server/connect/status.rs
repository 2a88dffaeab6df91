//! A gRPC status as the Connect protocol says it: the error JSON
//! `{"code": "invalid_argument", "message": ..., "details": [{"type", "value", "debug"}]}`
//! and, for unary calls, the HTTP status of its code (connectrpc.com/docs/protocol,
//! "Error Codes", with the amended mapping of its RFC 003: canceled 499,
//! deadline_exceeded 504, failed_precondition 400, unimplemented 501).

use base64::Engine as _;
use http::StatusCode;
use prost::Message as _;
use tonic::Code;

/// The Connect name of a code (`canceled` has one `l` in Connect).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "canceled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status of a unary error with this code.
pub fn http_status(code: Code) -> StatusCode {
    let n = match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unauthenticated => 401,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    };
    StatusCode::from_u16(n).expect("valid HTTP status codes")
}

/// The error JSON of `status`. Each detail of its `google.rpc.Status` keeps its type
/// (without the `type.googleapis.com/` prefix) and bytes (base64, unpadded); the
/// field violations, quota violations and retry delay are also shown as `debug`.
pub fn error_json(status: &tonic::Status) -> serde_json::Value {
    let mut details = Vec::new();
    if let Ok(rpc) = tonic_types::pb::Status::decode(status.details()) {
        for any in rpc.details {
            let kind = any.type_url.rsplit('/').next().unwrap_or_default().to_string();
            let mut d = serde_json::json!({
                "type": kind,
                "value": base64::engine::general_purpose::STANDARD_NO_PAD.encode(&any.value),
            });
            if let Some(debug) = debug_of(&kind, &any.value) {
                d["debug"] = debug;
            }
            details.push(d);
        }
    }
    let mut out = serde_json::json!({"code": code_name(status.code())});
    if !status.message().is_empty() {
        out["message"] = status.message().into();
    }
    if !details.is_empty() {
        out["details"] = details.into();
    }
    out
}

fn debug_of(kind: &str, value: &[u8]) -> Option<serde_json::Value> {
    use tonic_types::pb;
    match kind {
        "google.rpc.BadRequest" => pb::BadRequest::decode(value).ok().map(|b| {
            let v: Vec<_> = b
                .field_violations
                .iter()
                .map(|v| serde_json::json!({"field": v.field, "description": v.description}))
                .collect();
            serde_json::json!({"fieldViolations": v})
        }),
        "google.rpc.QuotaFailure" => pb::QuotaFailure::decode(value).ok().map(|q| {
            let v: Vec<_> = q
                .violations
                .iter()
                .map(|v| serde_json::json!({"subject": v.subject, "description": v.description}))
                .collect();
            serde_json::json!({"violations": v})
        }),
        "google.rpc.RetryInfo" => pb::RetryInfo::decode(value).ok().and_then(|r| r.retry_delay).map(|d| {
            let secs = d.seconds as f64 + f64::from(d.nanos) / 1e9;
            serde_json::json!({"retryDelay": format!("{secs}s")})
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn codes_have_connect_names_and_http_statuses() {
        let all = [
            (Code::Cancelled, "canceled", 499),
            (Code::Unknown, "unknown", 500),
            (Code::InvalidArgument, "invalid_argument", 400),
            (Code::DeadlineExceeded, "deadline_exceeded", 504),
            (Code::NotFound, "not_found", 404),
            (Code::AlreadyExists, "already_exists", 409),
            (Code::PermissionDenied, "permission_denied", 403),
            (Code::ResourceExhausted, "resource_exhausted", 429),
            (Code::FailedPrecondition, "failed_precondition", 400),
            (Code::Aborted, "aborted", 409),
            (Code::OutOfRange, "out_of_range", 400),
            (Code::Unimplemented, "unimplemented", 501),
            (Code::Internal, "internal", 500),
            (Code::Unavailable, "unavailable", 503),
            (Code::DataLoss, "data_loss", 500),
            (Code::Unauthenticated, "unauthenticated", 401),
        ];
        for (code, name, http) in all {
            assert_eq!(code_name(code), name);
            assert_eq!(http_status(code).as_u16(), http, "{name}");
        }
    }

    #[test]
    fn details_keep_their_type_and_bytes_and_show_a_debug_form() {
        let s = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "encounter.arrivalTime: an offset is required",
            ErrorDetails::with_bad_request_violation("encounter.arrivalTime", "an offset is required"),
        );
        let j = error_json(&s);
        assert_eq!(j["code"], "invalid_argument");
        assert_eq!(j["message"], "encounter.arrivalTime: an offset is required");
        let d = &j["details"][0];
        assert_eq!(d["type"], "google.rpc.BadRequest");
        assert_eq!(d["debug"]["fieldViolations"][0]["field"], "encounter.arrivalTime");
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(d["value"].as_str().unwrap()).unwrap();
        let b = tonic_types::pb::BadRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(b.field_violations[0].description, "an offset is required");
        let plain = error_json(&tonic::Status::internal(""));
        assert_eq!(plain, serde_json::json!({"code": "internal"}));
    }
}
