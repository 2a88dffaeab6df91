//! The HTTP listener (`[http]`): the gRPC contract as proto3 JSON for stacks
//! without gRPC (`POST /v1/evaluate`). A transport only adapts: decode →
//! [`Pipeline`] → encode. Errors are `google.rpc.Status` JSON with the same
//! codes and field violations as on the gRPC port (mapped once, in
//! `server/error.rs`); every response echoes `x-request-id`. The CDS Hooks 2.0 service
//! (`hooks/`, `http.cds_hooks`) shares the listener, its authentication and its CORS policy
//! (`cors.rs`, `http.cors_allowed_origins`).

mod cors;
pub mod hooks;

pub use crate::server::json::evaluate_request;

use std::{future::Future, sync::Arc};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use tonic_types::StatusExt;
use tracing::Instrument;

use crate::{
    pipeline::{Budget, Call, Pipeline},
    proto::v1 as pb,
};

/// The router of the HTTP listener.
pub fn router(pipeline: Arc<Pipeline>) -> Router {
    let max = pipeline.settings().server.max_request_bytes;
    let mut r = Router::new().route("/v1/evaluate", post(evaluate));
    if pipeline.settings().http.cds_hooks {
        r = r.merge(hooks::routes());
    }
    r.layer(DefaultBodyLimit::max(max)).with_state(pipeline)
}

/// Serve `router` on `listener` until `shutdown` resolves, with the TLS, tokens and
/// connection limits of `security` (the same as the gRPC port's).
pub async fn run(
    listener: tokio::net::TcpListener,
    pipeline: Arc<Pipeline>,
    security: Arc<crate::listen::Security>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, tls = security.tls().is_some(), authenticated = security.authenticates(), "Serving HTTP (JSON).");
    }
    let accepted = crate::listen::accept(
        listener,
        security.tls().map(|t| (t.clone(), crate::listen::Alpn::Http1)),
        security.limits(),
        crate::listen::ListenerName::Http,
    )?;
    let limits = security.limits();
    let cors = cors::layer(&pipeline.settings().http.cors_allowed_origins);
    // CORS outside authentication: a browser's preflight (OPTIONS, no token) is answered by
    // the CORS layer and reaches no route; every real call still needs its token.
    let app = router(pipeline).layer(axum::middleware::from_fn_with_state(security, authenticate)).layer(cors);
    crate::listen::serve_http1(accepted, app, limits, crate::listen::ListenerName::Http, shutdown).await
}

/// Every route needs a bearer token when `[auth]` asks for one (the same check, scopes
/// and refusal texts as the gRPC port); the verified identity replaces `x-cdss-caller`.
async fn authenticate(
    State(security): State<Arc<crate::listen::Security>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if security.authenticates() {
        let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match security.check(header, crate::auth::Access::Evaluate) {
            Ok(caller) => {
                req.headers_mut().remove("x-cdss-caller");
                if let Some(v) = caller.and_then(|c| HeaderValue::from_str(&c.identity()).ok()) {
                    req.headers_mut().insert("x-cdss-caller", v);
                }
            }
            Err(r) => {
                let id = request_id(req.headers());
                let mut resp = error_response(&crate::server::auth::refusal_status(r), &id);
                if let Some(challenge) = crate::server::auth::refusal_challenge(r) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                }
                return resp;
            }
        }
    }
    next.run(req).await
}

fn request_id(headers: &HeaderMap) -> String {
    crate::server::request_id_from(headers.get("x-request-id").and_then(|v| v.to_str().ok()))
}

/// HTTP status of a gRPC code (as the gRPC-HTTP mapping of google.rpc.Code).
fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code::*;
    match code {
        Ok => StatusCode::OK,
        InvalidArgument | FailedPrecondition | OutOfRange => StatusCode::BAD_REQUEST,
        DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        NotFound => StatusCode::NOT_FOUND,
        ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        PermissionDenied => StatusCode::FORBIDDEN,
        Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A body the HTTP listener could not take, as the answer every route sends for it.
#[derive(Debug)]
pub struct BodyRefused {
    status: tonic::Status,
    http: StatusCode,
}

impl BodyRefused {
    /// The JSON error answer, with `id` as `x-request-id`.
    pub fn response(&self, id: &str) -> Response {
        let mut r = error_response(&self.status, id);
        *r.status_mut() = self.http;
        r
    }
}

/// Whether the body failed because it did not arrive within `server.request_read_timeout_ms`
/// ([`crate::listen::BodyTimedOut`] somewhere in the error's source chain).
fn timed_out(e: &axum::extract::rejection::BytesRejection) -> bool {
    crate::listen::BodyTimedOut::caused(e)
}

/// The answer to a body the listener could not take, the same on every route (`route` for
/// the log and the count): over `server.max_request_bytes` → RESOURCE_EXHAUSTED (HTTP 413)
/// with a QuotaFailure naming the setting, logged (route and reason only) and counted;
/// not arrived within `server.request_read_timeout_ms` → DEADLINE_EXCEEDED (HTTP 408),
/// counted where the listener cut it off (`cdssd_connections_refused_total`); unreadable
/// otherwise → INVALID_ARGUMENT (HTTP 400), logged and counted.
pub(crate) fn body_refused(
    max: usize,
    e: &axum::extract::rejection::BytesRejection,
    route: crate::metrics::HttpRoute,
) -> BodyRefused {
    use crate::metrics::HttpRefusal;
    if timed_out(e) {
        let status = tonic::Status::deadline_exceeded(e.body_text());
        return BodyRefused { status, http: StatusCode::REQUEST_TIMEOUT };
    }
    let too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let reason = if too_large { HttpRefusal::TooLarge } else { HttpRefusal::Unreadable };
    tracing::warn!(?route, ?reason, "Request refused by the HTTP listener.");
    crate::metrics::http_request_refused(route, reason);
    if too_large {
        let text = format!(
            "the request body is over the server's limit of {max} bytes (server.max_request_bytes); send fewer or shorter items"
        );
        let details = tonic_types::ErrorDetails::with_quota_failure_violation("server.max_request_bytes", text.clone());
        let status = tonic::Status::with_error_details(tonic::Code::ResourceExhausted, text, details);
        BodyRefused { status, http: StatusCode::PAYLOAD_TOO_LARGE }
    } else {
        let status = tonic::Status::invalid_argument(format!("the request body could not be read: {}", e.body_text()));
        BodyRefused { status, http: StatusCode::BAD_REQUEST }
    }
}

/// A status as `google.rpc.Status` JSON: `{code, message, details: [{"@type": ...BadRequest, fieldViolations}]}`.
pub fn status_json(s: &tonic::Status) -> serde_json::Value {
    let mut details = Vec::new();
    if let Some(b) = s.get_details_bad_request() {
        let fv: Vec<serde_json::Value> = b
            .field_violations
            .iter()
            .map(|v| serde_json::json!({"field": v.field, "description": v.description}))
            .collect();
        details.push(serde_json::json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": fv}));
    }
    if let Some(q) = s.get_details_quota_failure() {
        let v: Vec<serde_json::Value> = q
            .violations
            .iter()
            .map(|v| serde_json::json!({"subject": v.subject, "description": v.description}))
            .collect();
        details.push(serde_json::json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": v}));
    }
    serde_json::json!({
        "code": crate::metrics::code_name(s.code()),
        "message": s.message(),
        "details": details,
    })
}

fn json_response(status: StatusCode, body: String, id: &str) -> Response {
    let mut resp =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// An error answer of this listener.
pub fn error_response(s: &tonic::Status, id: &str) -> Response {
    // A shed call (RESOURCE_EXHAUSTED with RetryInfo) is the server's overload, not the
    // caller's oversize body: 503 with Retry-After (whole seconds, at least 1).
    if let Some(retry) = s.get_details_retry_info().and_then(|r| r.retry_delay) {
        let mut r = json_response(StatusCode::SERVICE_UNAVAILABLE, status_json(s).to_string(), id);
        let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
        return r;
    }
    json_response(http_status(s.code()), status_json(s).to_string(), id)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /v1/evaluate`: proto3 JSON `EvaluateRequest` in, proto3 JSON `EvaluateResponse` out.
async fn evaluate(
    State(pipeline): State<Arc<Pipeline>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let id = request_id(&headers);
    if !is_json(&headers) {
        let mut r = error_response(
            &tonic::Status::invalid_argument(
                "send the EvaluateRequest as proto3 JSON with content-type application/json",
            ),
            &id,
        );
        *r.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return r;
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let max = pipeline.settings().server.max_request_bytes;
            return body_refused(max, &e, crate::metrics::HttpRoute::Evaluate).response(&id);
        }
    };
    let req = match evaluate_request(&body) {
        Ok(r) => r,
        Err(v) => {
            crate::metrics::validation_failed();
            let e = crate::pipeline::EvaluateError::Invalid(crate::encounter::ValidationError { violations: vec![v] });
            return error_response(&tonic::Status::from(e), &id);
        }
    };
    let span = tracing::info_span!("http", method = "Evaluate", request_id = %id);
    let result = async {
        let call = Call {
            request_id: id.clone(),
            deadline: None,
            budget: Budget::Decision,
            caller: crate::server::caller_from(headers.get("x-cdss-caller").and_then(|v| v.to_str().ok())),
        };
        let prepared = pipeline.prepare(&req, call)?;
        pipeline.evaluate(&prepared).await
    }
    .instrument(span)
    .await;
    match result {
        Ok(decision) => {
            let body = serde_json::to_string(&pb::EvaluateResponse { decision: Some(decision) })
                .expect("generated messages always serialise");
            json_response(StatusCode::OK, body, &id)
        }
        Err(e) => error_response(&tonic::Status::from(e), &id),
    }
}
