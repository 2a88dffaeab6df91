//! OTLP span export end to end: the real daemon exports to a real OTLP/gRPC
//! trace service (a stand-in collector on loopback); the request span
//! continues the caller's W3C trace and has the rules, risk and model spans
//! as children.

use std::sync::{Arc, Mutex};

use cdssd::proto::v1 as pb;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};

use crate::daemon::{request, Daemon};

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    /// Export calls received: fewer than spans when the daemon batches.
    exports: Arc<Mutex<usize>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        *self.exports.lock().unwrap() += 1;
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_are_exported_as_children_of_the_callers_trace() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let endpoint = format!("http://{addr}");
    let daemon = Daemon::start(&[("CDSSD__LOG__OTLP_ENDPOINT", &endpoint)]);
    let mut client = daemon.client().await;
    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut req = tonic::Request::new(request("stemi_primary_pci.json", pb::Trigger::Admission));
    req.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent_id}-01").parse().unwrap());
    client.evaluate(req).await.expect("valid request");
    // Without a traceparent the request starts a trace of its own.
    client.evaluate(request("outpatient_visit.json", pb::Trigger::PatientView)).await.expect("valid request");
    drop(client);
    // SIGTERM: the daemon flushes the buffered spans before it exits (the
    // collector keeps running on the other runtime thread meanwhile).
    let (status, logs) = tokio::task::spawn_blocking(move || daemon.stop_with_logs()).await.unwrap();
    assert!(status.success(), "{}", logs.join("\n"));
    server.abort();

    let spans = collector.spans.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    // Batched, not sent one by one: several spans per export call. (This used to assert that
    // nothing had arrived before the 5 s batch delay, which a loaded machine can outrun.)
    let exports = *collector.exports.lock().unwrap();
    assert!(exports >= 1 && exports < spans.len(), "{exports} export calls for {} spans: {names:?}", spans.len());
    let rpcs: Vec<&Span> = spans.iter().filter(|s| s.name == "rpc").collect();
    assert_eq!(rpcs.len(), 2, "one rpc span per call: {names:?}\n{}", logs.join("\n"));
    let rpc = rpcs.iter().find(|s| hex::encode(&s.trace_id) == trace_id).expect("the caller's trace continues");
    assert_eq!(hex::encode(&rpc.parent_span_id), parent_id, "the rpc span is a child of the caller's span");
    assert_eq!(attr(rpc, "method").as_deref(), Some("Evaluate"));
    let other = rpcs.iter().find(|s| hex::encode(&s.trace_id) != trace_id).expect("second call");
    assert!(other.parent_span_id.is_empty(), "a call without traceparent is a root span");

    let child = |name: &str, parent: &Span| {
        spans
            .iter()
            .find(|s| s.name == name && s.parent_span_id == parent.span_id)
            .unwrap_or_else(|| panic!("no {name} span under {}: {names:?}", parent.name))
            .clone()
    };
    let rules = child("rules", rpc);
    let risk = child("risk", rpc);
    let model = child("model", &risk);
    assert_eq!(rules.trace_id, rpc.trace_id);
    assert_eq!(attr(&model, "model_id").as_deref(), Some("ami-1y-mortality"));
    assert_eq!(attr(&model, "device").as_deref(), Some("cpu"));
    // Spans carry no encounter data: the request span's attributes are the method, ids and trigger.
    for a in &rpc.attributes {
        assert!(
            ["method", "request_id", "trigger", "trace_id", "parent_span_id"].contains(&a.key.as_str())
                || a.key.starts_with("code.")
                || a.key.starts_with("thread.")
                || a.key.starts_with("busy_ns")
                || a.key.starts_with("idle_ns")
                || a.key == "target",
            "unexpected rpc span attribute {}",
            a.key
        );
    }
}
