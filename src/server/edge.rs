//! The HTTP edge of the gRPC port, in front of every RPC (cdss, admin, health,
//! reflection) and of gRPC-Web: the `x-request-id` a response carries and the
//! content types the port answers.
//!
//! - Every response, errors and trailers-only replies included, echoes the caller's
//!   `x-request-id` (or the one made here, which the handlers then see as the caller's).
//! - A request whose content type is neither gRPC, gRPC-Web nor Connect gets HTTP 415 with
//!   `grpc-status: INVALID_ARGUMENT` and a message naming what is served where,
//!   instead of the codec's "invalid compression flag" INTERNAL.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

/// The request id of a call: a sane `x-request-id` from the caller, or a fresh UUID.
pub fn request_id_from(value: Option<&str>) -> String {
    value
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The caller as the audit records it, from `x-cdss-caller`: the verified identity the
/// authentication layer put there, or (authentication off) what the client declared,
/// or "anonymous".
pub fn caller_from(value: Option<&str>) -> String {
    value
        .filter(|s| !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("anonymous")
        .to_string()
}

/// Content types served on the gRPC port (gRPC over HTTP/2, gRPC-Web over HTTP/1.1 or h2c).
fn is_grpc(content_type: Option<&HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else { return false };
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    base == "application/grpc" || base.starts_with("application/grpc+") || base.starts_with("application/grpc-web")
}

/// The layer: [`Edge`] around the gRPC routes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EdgeLayer;

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
}

pub(super) type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<Request<B>> for Edge<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = request_id_from(req.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
        let id_value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
        req.headers_mut().insert("x-request-id", id_value.clone());
        if !is_grpc(req.headers().get(header::CONTENT_TYPE)) && !super::connect::is_connect(req.headers()) {
            let got = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(64).collect::<String>())
                .unwrap_or_else(|| "none".into());
            return Box::pin(async move { Ok(unsupported_media_type(&got, id_value)) });
        }
        let method = req.uri().path().to_string();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            super::malformed::rewrite(resp.headers_mut(), &method);
            resp.headers_mut().insert("x-request-id", id_value);
            Ok(resp)
        })
    }
}

fn unsupported_media_type(got: &str, id: HeaderValue) -> Response<tonic::body::Body> {
    let message = format!(
        "content type `{got}` is not served on the gRPC port: send application/grpc (HTTP/2), \
         application/grpc-web or application/grpc-web-text (HTTP/1.1 or h2c), Connect \
         (application/json, application/proto, application/connect+json, application/connect+proto), \
         or proto3 JSON to POST /v1/evaluate on the HTTP listener"
    );
    let encoded: String =
        message
            .bytes()
            .map(|b| {
                if b.is_ascii_graphic() && b != b'%' || b == b' ' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
    let mut resp = Response::new(tonic::body::Body::new(http_body_util::Full::new(bytes::Bytes::from(message))));
    *resp.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("grpc-status", HeaderValue::from_static("3"));
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        h.insert("grpc-message", v);
    }
    h.insert("x-request-id", id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_and_grpc_web_content_types_are_served_others_not() {
        for ct in
            ["application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web-text+proto"]
        {
            assert!(is_grpc(Some(&HeaderValue::from_static(ct))), "{ct}");
        }
        for ct in ["application/json", "application/proto", "text/plain", "application/grpcx"] {
            assert!(!is_grpc(Some(&HeaderValue::from_static(ct))), "{ct}");
        }
        assert!(!is_grpc(None));
    }

    #[test]
    fn a_sane_request_id_is_kept_and_a_bad_one_replaced() {
        assert_eq!(request_id_from(Some("abc-1")), "abc-1");
        let made = request_id_from(Some("has space"));
        assert_ne!(made, "has space");
        assert_eq!(made.len(), 36);
    }
}
