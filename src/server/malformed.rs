//! Requests that never reach a handler because the transport could not read them. tonic
//! answers an undecodable protobuf body with `INTERNAL` ("failed to decode Protobuf
//! message") and an oversize one with `OUT_OF_RANGE`; both are the caller's fault, so the
//! edge ([`super::edge`]) rewrites those trailers-only replies to the documented codes:
//! `INVALID_ARGUMENT` with a clear message, and `RESOURCE_EXHAUSTED` with the size, the
//! limit and a `google.rpc.QuotaFailure`. Each is logged (method and reason, never the
//! payload) and counted in `cdssd_grpc_malformed_requests_total{reason}`.

use http::HeaderMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::metrics;

/// Message prefixes of the two tonic replies (tonic 0.14, `tonic-prost` codec and
/// `codec::decode`); `tests/it/malformed.rs` fails if they change.
const DECODE_ERROR: &str = "failed to decode Protobuf message";
const TOO_LARGE: &str = "decoded message length too large";

/// What was wrong with the request: the body is not the RPC's message in protobuf
/// encoding, or the message is larger than `server.max_request_bytes`.
use metrics::MalformedReason as Malformed;

/// grpc-message is percent-encoded (gRPC over HTTP/2 spec); decode it for matching.
fn message_of(headers: &HeaderMap) -> String {
    let raw = headers.get("grpc-message").map(|v| v.as_bytes()).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Numbers in tonic's "found N bytes, the limit is: M bytes".
fn sizes(message: &str) -> (Option<u64>, Option<u64>) {
    let number_after = |key: &str| {
        message.split(key).nth(1).and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse().ok())
    };
    (number_after("found "), number_after("limit is: "))
}

/// The status that replaces a transport reply, if `headers` (a trailers-only reply) is one.
pub fn replacement(headers: &HeaderMap) -> Option<(Malformed, Status)> {
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok())?;
    if code != Code::Internal as i32 && code != Code::OutOfRange as i32 {
        return None;
    }
    let message = message_of(headers);
    if code == Code::Internal as i32 && message.starts_with(DECODE_ERROR) {
        // prost's text names message and field types and the wire problem, never values.
        let detail: String = message.chars().take(300).collect();
        let status = Status::invalid_argument(format!(
            "the request body is not a valid protobuf encoding of this RPC's request message ({detail})"
        ));
        return Some((Malformed::Undecodable, status));
    }
    if code == Code::OutOfRange as i32 && message.contains(TOO_LARGE) {
        let (found, limit) = sizes(&message);
        let (found, limit) = (found.map_or("?".into(), |n| n.to_string()), limit.map_or("?".into(), |n| n.to_string()));
        let text = format!(
            "the request message is {found} bytes, over the server's limit of {limit} bytes \
             (server.max_request_bytes); send fewer or shorter items"
        );
        let details = ErrorDetails::with_quota_failure_violation("server.max_request_bytes", text.clone());
        return Some((Malformed::TooLarge, Status::with_error_details(Code::ResourceExhausted, text, details)));
    }
    None
}

/// Rewrites a transport reply in place (see the module documentation); `method` is the
/// request path, for the log.
pub fn rewrite(headers: &mut HeaderMap, method: &str) {
    let Some((kind, status)) = replacement(headers) else { return };
    let method: String = method.chars().take(100).collect();
    tracing::warn!(%method, reason = kind.label(), code = ?status.code(), "Request refused by the transport.");
    metrics::grpc_malformed_request(kind);
    let http = status.into_http::<tonic::body::Body>();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
        if let Some(v) = http.headers().get(name) {
            headers.insert(name, v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn reply(code: &str, message: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_str(code).unwrap());
        h.insert("grpc-message", HeaderValue::from_str(message).unwrap());
        h
    }

    #[test]
    fn decode_errors_become_invalid_argument_and_oversize_resource_exhausted() {
        let mut h = reply("13", "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type");
        rewrite(&mut h, "/cdss.v1.CdsService/Evaluate");
        assert_eq!(h["grpc-status"], "3");
        let m = message_of(&h);
        assert!(m.contains("not a valid protobuf encoding") && m.contains("(failed to decode"), "{m}");

        let mut h = reply(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%205000000%20bytes,%20the%20limit%20is:%204194304%20bytes",
        );
        rewrite(&mut h, "/cdss.v1.CdsService/Evaluate");
        assert_eq!(h["grpc-status"], "8");
        let m = message_of(&h);
        assert!(m.contains("5000000 bytes, over the server's limit of 4194304 bytes"), "{m}");
        assert!(h.contains_key("grpc-status-details-bin"));
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for (code, msg) in [("13", "internal error; see the server log"), ("11", "out of range"), ("3", "bad")] {
            let mut h = reply(code, msg);
            rewrite(&mut h, "/x");
            assert_eq!(h["grpc-status"], code);
        }
    }
}
