//! Caller authentication on the gRPC port: every call but health checks presents a
//! bearer JWT (`[auth]`); the route's [`Access`] decides the scope it needs. A refused
//! call gets a trailers-only `UNAUTHENTICATED` / `PERMISSION_DENIED` that says nothing
//! more; an accepted one carries the verified identity in `x-cdss-caller` (any value
//! the client sent there is replaced), which the audit records.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

use super::edge::BoxFuture;
use crate::{
    auth::{Access, Refusal},
    listen::Security,
};

/// The layer: [`Authenticate`] around the gRPC routes.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    pub security: Arc<Security>,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authenticate { inner, security: self.security.clone() }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    security: Arc<Security>,
}

impl<S, B> Service<Request<B>> for Authenticate<S>
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
        if self.security.authenticates() {
            let access = Access::for_grpc_path(req.uri().path());
            let header = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            match self.security.check(header, access) {
                Ok(caller) => {
                    req.headers_mut().remove("x-cdss-caller");
                    if let Some(v) = caller.and_then(|c| HeaderValue::from_str(&c.identity()).ok()) {
                        req.headers_mut().insert("x-cdss-caller", v);
                    }
                }
                Err(r) => return Box::pin(async move { Ok(refused(r)) }),
            }
        }
        Box::pin(self.inner.call(req))
    }
}

/// The status every transport answers a refusal with (the one mapping, used by the gRPC
/// layer here and the HTTP middleware in `web`): PERMISSION_DENIED or UNAUTHENTICATED
/// with [`Refusal::public_message`], nothing more.
pub(crate) fn refusal_status(r: Refusal) -> tonic::Status {
    if r.is_forbidden() {
        tonic::Status::permission_denied(r.public_message())
    } else {
        tonic::Status::unauthenticated(r.public_message())
    }
}

/// The `WWW-Authenticate` challenge sent with a refusal (RFC 6750: on UNAUTHENTICATED only).
pub(crate) fn refusal_challenge(r: Refusal) -> Option<&'static str> {
    (!r.is_forbidden()).then_some("Bearer")
}

fn refused(r: Refusal) -> Response<tonic::body::Body> {
    let mut resp = refusal_status(r).into_http::<tonic::body::Body>();
    if let Some(challenge) = refusal_challenge(r) {
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    resp
}
