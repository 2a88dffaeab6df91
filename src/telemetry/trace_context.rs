//! W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/)
//! taken from the caller's gRPC metadata, so that cdssd's request spans and
//! log lines carry the EMR's trace id and can be joined with its traces.
//! A malformed header is ignored (the spec says: start a new trace), never an error.

use tonic::metadata::MetadataMap;

/// The parsed `traceparent` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span: 16 lowercase hex digits, not all zero.
    pub parent_id: String,
    /// Trace flags; bit 0 = sampled.
    pub flags: u8,
}

impl TraceParent {
    /// Parse a `traceparent` value: `version-traceid-parentid-flags`. Version
    /// `00` must be exactly that; a later version may append fields after a
    /// dash, which are ignored; version `ff` is invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        if v.len() < 55 || !v.is_ascii() {
            return None;
        }
        let version = &v[0..2];
        if !is_lower_hex(version) || version == "ff" || (version == "00" && v.len() != 55) {
            return None;
        }
        if v.len() > 55 && v.as_bytes()[55] != b'-' {
            return None;
        }
        let b = v.as_bytes();
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let (trace_id, parent_id, flags) = (&v[3..35], &v[36..52], &v[53..55]);
        if !is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags) {
            return None;
        }
        if trace_id.bytes().all(|c| c == b'0') || parent_id.bytes().all(|c| c == b'0') {
            return None;
        }
        Some(Self {
            trace_id: trace_id.to_string(),
            parent_id: parent_id.to_string(),
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }

    /// The `traceparent` of a gRPC request, if present and valid.
    pub fn from_metadata(md: &MetadataMap) -> Option<Self> {
        md.get("traceparent").and_then(|v| v.to_str().ok()).and_then(Self::parse)
    }

    /// Whether the caller sampled this trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// Make `span` a child of the caller's span: record `trace_id` and
    /// `parent_span_id` (which `span` must declare) for the logs, and set its
    /// OpenTelemetry parent for export (a no-op when export is off).
    pub fn record(&self, span: &tracing::Span) {
        use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.record("trace_id", self.trace_id.as_str());
        span.record("parent_span_id", self.parent_id.as_str());
        if let (Ok(trace_id), Ok(span_id)) = (TraceId::from_hex(&self.trace_id), SpanId::from_hex(&self.parent_id)) {
            let remote = SpanContext::new(trace_id, span_id, TraceFlags::new(self.flags), true, TraceState::default());
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}
