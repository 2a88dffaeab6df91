//! The Connect protocol (connectrpc.com/docs/protocol) on the gRPC port, for EMRs whose
//! stacks speak Connect (connect-web/connect-es in a browser, connect-kotlin, connect-swift,
//! connect-go, `buf curl`'s default) rather than gRPC:
//!
//! - unary RPCs as plain HTTP POSTs: `application/json` (proto3 JSON) or `application/proto`,
//!   the message unframed, errors as the Connect error JSON with the HTTP status of their
//!   code, gzip request bodies (`content-encoding: gzip`), `connect-timeout-ms`;
//! - the server stream `EvaluateStream` as `application/connect+json` / `+proto`: one
//!   enveloped request, then an envelope per update as it comes and the end-stream message.
//!
//! The layer only adapts: it re-frames the call as a gRPC call to the same route
//! (authentication, limits, metrics, audit and errors are those of gRPC) and re-frames the
//! answer. Reflection and health stay gRPC / gRPC-Web only: Connect clients work from
//! generated code or the schema (`buf curl --schema .`).

mod frames;
mod methods;
mod status;
mod stream;

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method as HttpMethod, Request, Response, StatusCode, Version};
use http_body_util::BodyExt as _;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::edge::BoxFuture;
use crate::metrics::{self, MalformedReason};
use methods::Shape;

/// The payload encoding of a Connect call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    Proto,
}

/// What a request's content type makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Unary(Codec),
    Stream(Codec),
}

fn classify(headers: &HeaderMap) -> Option<Call> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    match ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "application/json" => Some(Call::Unary(Codec::Json)),
        "application/proto" => Some(Call::Unary(Codec::Proto)),
        "application/connect+json" => Some(Call::Stream(Codec::Json)),
        "application/connect+proto" => Some(Call::Stream(Codec::Proto)),
        _ => None,
    }
}

/// Whether a content type is one Connect serves (the edge lets these through).
pub fn is_connect(headers: &HeaderMap) -> bool {
    classify(headers).is_some()
}

/// Request headers that belong to the Connect or HTTP framing, not to the call's metadata.
const FRAMING: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "te",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
];

/// Metadata of a gRPC header or trailer map as Connect sends it: every entry but the
/// gRPC framing ones (`grpc-*`, content type and length).
fn metadata(h: &HeaderMap) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in h {
        let name = k.as_str();
        if name.starts_with("grpc-") || name == "content-type" || name == "content-length" {
            continue;
        }
        let Ok(v) = v.to_str() else { continue };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, vs)) => vs.push(v.to_string()),
            None => out.push((name.to_string(), vec![v.to_string()])),
        }
    }
    out
}

/// The layer: [`Connect`] around the gRPC-Web and gRPC routes.
#[derive(Debug, Clone, Copy)]
pub struct ConnectLayer {
    /// `server.max_request_bytes`: the bound on a request body, as read and as decompressed.
    pub max_request_bytes: usize,
}

impl<S> Layer<S> for ConnectLayer {
    type Service = Connect<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Connect { inner, max: self.max_request_bytes }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Connect<S> {
    inner: S,
    max: usize,
}

type Body = tonic::body::Body;

impl<S> Service<Request<Body>> for Connect<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let Some(call) = classify(req.headers()) else { return Box::pin(self.inner.call(req)) };
        // The ready service answers this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.max;
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let stream = matches!(call, Call::Stream(_));
            let grpc = match to_grpc(req, call, max).await {
                Ok(r) => r,
                Err(refused) => return Ok(refused.into_response(call)),
            };
            let (codec, to_json) = grpc.1;
            let resp = inner.call(grpc.0).await?;
            Ok(from_grpc(resp, &path, stream, codec, to_json).await)
        })
    }
}

/// A call refused before it reached the route: the status and the HTTP status to send it with.
struct Refused {
    status: tonic::Status,
    http: Option<StatusCode>,
}

impl Refused {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self { status: tonic::Status::new(code, message), http: None }
    }

    fn into_response(self, call: Call) -> Response<Body> {
        if let (Call::Stream(codec), None) = (call, self.http) {
            let mut t = HeaderMap::new();
            let h = self.status.into_http::<Body>();
            for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
                if let Some(v) = h.headers().get(name) {
                    t.insert(name, v.clone());
                }
            }
            return stream_response(
                HeaderMap::new(),
                codec,
                Body::new(http_body_util::Full::new(stream::end_stream(&t))),
            );
        }
        error_response(&self.status, self.http, HeaderMap::new())
    }
}

type ToJson = fn(&[u8]) -> Result<Vec<u8>, String>;

/// The Connect request as a gRPC request to the same route, with what re-framing the
/// answer needs.
async fn to_grpc(req: Request<Body>, call: Call, max: usize) -> Result<(Request<Body>, (Codec, ToJson)), Refused> {
    let path = req.uri().path();
    let Some(method) = methods::find(path) else {
        let listed = methods::METHODS.iter().map(|m| m.path).collect::<Vec<_>>().join(", ");
        return Err(Refused::new(
            Code::Unimplemented,
            format!("Connect is served for the cdss.v1 methods only ({listed}); health and reflection are gRPC"),
        ));
    };
    let (codec, wanted) = match (call, method.shape) {
        (Call::Unary(c), Shape::Unary) => (c, None),
        (Call::Stream(c), Shape::ServerStream) => (c, None),
        (Call::Unary(_), Shape::ServerStream) => {
            (Codec::Json, Some("application/connect+json or application/connect+proto"))
        }
        (Call::Stream(_), Shape::Unary) => (Codec::Json, Some("application/json or application/proto")),
    };
    if let Some(wanted) = wanted {
        let mut r = Refused::new(Code::InvalidArgument, format!("{} takes the content type {wanted}", method.path));
        r.http = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        return Err(r);
    }
    if req.method() != HttpMethod::POST {
        let mut r = Refused::new(Code::Unimplemented, "Connect calls are POSTs here (GET is not served)");
        r.http = Some(StatusCode::METHOD_NOT_ALLOWED);
        return Err(r);
    }
    let headers = req.headers();
    if let Some(v) = headers.get("connect-protocol-version") {
        if v != "1" {
            return Err(Refused::new(Code::InvalidArgument, "connect-protocol-version must be 1"));
        }
    }
    let timeout = match headers.get("connect-timeout-ms").map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(ms) if !ms.is_empty() && ms.len() <= 10 && ms.bytes().all(|b| b.is_ascii_digit()) => Some(ms.to_string()),
        Some(_) => return Err(Refused::new(Code::InvalidArgument, "connect-timeout-ms must be 1 to 10 digits")),
    };
    let encoding_header = if matches!(call, Call::Unary(_)) { "content-encoding" } else { "connect-content-encoding" };
    let gzip = match headers.get(encoding_header).map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase()) {
        None => false,
        Some(e) if e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(_) => {
            return Err(Refused::new(
                Code::Unimplemented,
                format!("{encoding_header}: only gzip and identity are accepted"),
            ))
        }
    };

    let (parts, body) = req.into_parts();
    let raw = read_body(body, max).await?;
    let message = match call {
        Call::Unary(_) => {
            if gzip {
                gunzip(&raw, max)?
            } else {
                raw
            }
        }
        Call::Stream(_) => {
            let (flags, payload) = frames::single(&raw).map_err(|e| Refused::new(Code::InvalidArgument, e))?;
            if flags & frames::END_STREAM != 0 {
                return Err(Refused::new(Code::InvalidArgument, "a request envelope cannot be an end-stream message"));
            }
            match (flags & frames::COMPRESSED != 0, gzip) {
                (false, _) => payload,
                (true, true) => gunzip(&payload, max)?,
                (true, false) => {
                    return Err(Refused::new(
                        Code::InvalidArgument,
                        "a compressed envelope needs connect-content-encoding: gzip",
                    ))
                }
            }
        }
    };
    let proto: Bytes = match codec {
        Codec::Proto => message,
        Codec::Json => match (method.request_from_json)(&message) {
            Ok(p) => p.into(),
            Err(v) => {
                tracing::warn!(
                    method = method.path,
                    reason = MalformedReason::Undecodable.label(),
                    "Connect request refused."
                );
                metrics::grpc_malformed_request(MalformedReason::Undecodable);
                let text = format!("{}: {}", v.field, v.description);
                let details = ErrorDetails::with_bad_request_violation(v.field, v.description);
                return Err(Refused {
                    status: tonic::Status::with_error_details(Code::InvalidArgument, text, details),
                    http: None,
                });
            }
        },
    };

    let mut out = Request::new(Body::new(http_body_util::Full::new(frames::frame(0, &proto))));
    *out.method_mut() = HttpMethod::POST;
    *out.uri_mut() = parts.uri;
    *out.version_mut() = Version::HTTP_2;
    *out.extensions_mut() = parts.extensions;
    let h = out.headers_mut();
    for (k, v) in &parts.headers {
        if !FRAMING.contains(&k.as_str()) {
            h.append(k.clone(), v.clone());
        }
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Some(ms) = timeout.and_then(|ms| HeaderValue::from_str(&format!("{ms}m")).ok()) {
        h.insert("grpc-timeout", ms);
    }
    Ok((out, (codec, method.response_to_json)))
}

/// The body, at most `max` bytes, within the read deadline of the port.
async fn read_body(body: Body, max: usize) -> Result<Bytes, Refused> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(max)),
        Err(e) if crate::listen::BodyTimedOut::caused(e.as_ref()) => Err(Refused {
            status: tonic::Status::deadline_exceeded(e.to_string()),
            http: Some(StatusCode::REQUEST_TIMEOUT),
        }),
        Err(_) => Err(Refused::new(Code::InvalidArgument, "the request body could not be read")),
    }
}

fn too_large(max: usize) -> Refused {
    metrics::grpc_malformed_request(MalformedReason::TooLarge);
    let text = format!(
        "the request is over the server's limit of {max} bytes (server.max_request_bytes); send fewer or shorter items"
    );
    let details = ErrorDetails::with_quota_failure_violation("server.max_request_bytes", text.clone());
    Refused { status: tonic::Status::with_error_details(Code::ResourceExhausted, text, details), http: None }
}

fn gunzip(data: &[u8], max: usize) -> Result<Bytes, Refused> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(data).take(max as u64 + 1).read_to_end(&mut out);
    match read {
        Ok(n) if n > max => Err(too_large(max)),
        Ok(_) => Ok(out.into()),
        Err(_) => Err(Refused::new(Code::InvalidArgument, "the body is not valid gzip")),
    }
}

/// The gRPC answer of the route as the Connect answer.
async fn from_grpc(resp: Response<Body>, path: &str, stream: bool, codec: Codec, to_json: ToJson) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if parts.headers.contains_key("grpc-status") {
        // Trailers-only: refused by the transport, authentication or the handler.
        super::malformed::rewrite(&mut parts.headers, path);
        let status = tonic::Status::from_header_map(&parts.headers).unwrap_or_else(|| tonic::Status::internal(""));
        if stream {
            let end = stream::end_stream(&parts.headers);
            return stream_response(HeaderMap::new(), codec, Body::new(http_body_util::Full::new(end)));
        }
        return error_response(&status, None, HeaderMap::new());
    }
    if stream {
        return stream_response(parts.headers, codec, Body::new(stream::ConnectStream::new(body, codec, to_json)));
    }
    let collected = match body.collect().await {
        Ok(c) => c,
        Err(s) => return error_response(&s, None, parts.headers),
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();
    match tonic::Status::from_header_map(&trailers) {
        Some(s) if s.code() == Code::Ok => {}
        Some(s) => return error_response(&s, None, with_trailers(parts.headers, &trailers)),
        None => {
            return error_response(&tonic::Status::internal("the call ended without a status"), None, parts.headers)
        }
    }
    let message = match frames::single(&data) {
        Ok((0, m)) => m,
        Ok(_) => {
            return error_response(&tonic::Status::internal("unexpected compressed response"), None, parts.headers)
        }
        Err(e) => return error_response(&tonic::Status::internal(e), None, parts.headers),
    };
    let (body, ct) = match codec {
        Codec::Proto => (message, "application/proto"),
        Codec::Json => match to_json(&message) {
            Ok(j) => (Bytes::from(j), "application/json"),
            Err(e) => return error_response(&tonic::Status::internal(e), None, parts.headers),
        },
    };
    let mut out = Response::new(Body::new(http_body_util::Full::new(body)));
    *out.headers_mut() = with_trailers(keep_metadata(parts.headers), &trailers);
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    out
}

/// Response headers without the gRPC framing ones.
fn keep_metadata(mut h: HeaderMap) -> HeaderMap {
    h.remove(header::CONTENT_TYPE);
    h.remove(header::CONTENT_LENGTH);
    let grpc: Vec<_> = h.keys().filter(|k| k.as_str().starts_with("grpc-")).cloned().collect();
    for k in grpc {
        h.remove(k);
    }
    h
}

/// Unary trailers travel as `trailer-<name>` headers.
fn with_trailers(mut h: HeaderMap, trailers: &HeaderMap) -> HeaderMap {
    for (name, values) in metadata(trailers) {
        let Ok(n) = header::HeaderName::from_bytes(format!("trailer-{name}").as_bytes()) else { continue };
        for v in values {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(n.clone(), v);
            }
        }
    }
    h
}

fn error_response(status: &tonic::Status, http: Option<StatusCode>, headers: HeaderMap) -> Response<Body> {
    let body = status::error_json(status).to_string();
    let mut out = Response::new(Body::new(http_body_util::Full::new(Bytes::from(body))));
    *out.status_mut() = http.unwrap_or_else(|| status::http_status(status.code()));
    *out.headers_mut() = keep_metadata(headers);
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out
}

fn stream_response(headers: HeaderMap, codec: Codec, body: Body) -> Response<Body> {
    let mut out = Response::new(body);
    *out.headers_mut() = keep_metadata(headers);
    let ct = match codec {
        Codec::Json => "application/connect+json",
        Codec::Proto => "application/connect+proto",
    };
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_decide_unary_or_stream_and_the_codec() {
        let h = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        assert_eq!(classify(&h("application/json")), Some(Call::Unary(Codec::Json)));
        assert_eq!(classify(&h("application/json; charset=utf-8")), Some(Call::Unary(Codec::Json)));
        assert_eq!(classify(&h("application/proto")), Some(Call::Unary(Codec::Proto)));
        assert_eq!(classify(&h("application/connect+json")), Some(Call::Stream(Codec::Json)));
        assert_eq!(classify(&h("Application/Connect+Proto")), Some(Call::Stream(Codec::Proto)));
        for ct in ["application/grpc", "application/grpc-web+proto", "text/plain", "application/jsonx"] {
            assert_eq!(classify(&h(ct)), None, "{ct}");
        }
        assert_eq!(classify(&HeaderMap::new()), None);
    }

    #[test]
    fn metadata_leaves_out_grpc_framing_and_trailers_get_their_prefix() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("0"));
        t.append("x-cdss-note", HeaderValue::from_static("a"));
        t.append("x-cdss-note", HeaderValue::from_static("b"));
        assert_eq!(metadata(&t), vec![("x-cdss-note".to_string(), vec!["a".to_string(), "b".to_string()])]);
        let h = with_trailers(HeaderMap::new(), &t);
        assert_eq!(h.get_all("trailer-x-cdss-note").iter().count(), 2);
        assert!(!h.contains_key("grpc-status") && !h.contains_key("trailer-grpc-status"));
    }

    #[test]
    fn gzip_bodies_are_bounded_after_decompression() {
        use std::io::Write as _;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&vec![b'a'; 10_000]).unwrap();
        let small = z.finish().unwrap();
        assert!(small.len() < 1_000);
        assert_eq!(gunzip(&small, 10_000).ok().map(|b| b.len()), Some(10_000));
        let refused = gunzip(&small, 9_999).err().unwrap();
        assert_eq!(refused.status.code(), Code::ResourceExhausted);
        assert_eq!(gunzip(b"not gzip", 100).err().unwrap().status.code(), Code::InvalidArgument);
    }
}
