//! The `cdss.v1` service implementations: thin adapters from gRPC to the pipeline.

use std::{sync::Arc, time::Duration, time::Instant};

use tonic::{metadata::MetadataMap, Request, Response, Status};
use tracing::Instrument;

use crate::{
    metrics,
    pipeline::{Budget, Call, Pipeline},
    proto::v1::{self as pb, admin_service_server::AdminService, cds_service_server::CdsService},
    reload::{Cause, Reload},
    telemetry::TraceParent,
};

/// The request id: the one the edge put in (the caller's, or one it made).
pub(super) fn request_id(md: &MetadataMap) -> String {
    super::edge::request_id_from(md.get("x-request-id").and_then(|v| v.to_str().ok()))
}

/// The caller's deadline from the `grpc-timeout` header (e.g. "250m", "5S").
pub(super) fn grpc_timeout(md: &MetadataMap) -> Option<Duration> {
    let v = md.get("grpc-timeout")?.to_str().ok()?;
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Count and time a finished call (the one place RPC outcomes are recorded).
pub(super) fn observe<T>(method: &'static str, start: Instant, result: &Result<T, Status>) {
    let code = match result {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    };
    metrics::grpc_request(method, code, start.elapsed());
    match result {
        Ok(_) => tracing::debug!(code = metrics::code_name(code), "Request finished."),
        Err(s) => tracing::info!(code = metrics::code_name(code), error = %s.message(), "Request refused."),
    }
}

/// `cdss.v1.CdsService`.
#[derive(Debug, Clone)]
pub struct CdsApi {
    pub(super) pipeline: Arc<Pipeline>,
}

impl CdsApi {
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline }
    }
}

use super::stream::UpdateStream;

/// What the transport knows about a call: its request id and deadline.
fn call(md: &MetadataMap, budget: Budget) -> Call {
    Call {
        request_id: request_id(md),
        deadline: grpc_timeout(md),
        budget,
        caller: super::edge::caller_from(md.get("x-cdss-caller").and_then(|v| v.to_str().ok())),
    }
}

#[tonic::async_trait]
impl CdsService for CdsApi {
    async fn evaluate(&self, request: Request<pb::EvaluateRequest>) -> Result<Response<pb::EvaluateResponse>, Status> {
        let start = Instant::now();
        let call = call(request.metadata(), Budget::Decision);
        let id = call.request_id.clone();
        let span = tracing::info_span!("rpc", method = "Evaluate", request_id = %id, trigger = tracing::field::Empty,
            trace_id = tracing::field::Empty, parent_span_id = tracing::field::Empty);
        if let Some(tp) = TraceParent::from_metadata(request.metadata()) {
            tp.record(&span);
        }
        let pipeline = self.pipeline.clone();
        let result = async move {
            let req = request.into_inner();
            tracing::Span::current().record("trigger", req.trigger().as_str_name());
            let prepared = pipeline.prepare(&req, call)?;
            let decision = pipeline.evaluate(&prepared).await?;
            Ok(Response::new(pb::EvaluateResponse { decision: Some(decision) }))
        }
        .instrument(span.clone())
        .await;
        span.in_scope(|| observe("Evaluate", start, &result));
        result
    }

    type EvaluateStreamStream = UpdateStream;

    async fn evaluate_stream(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> Result<Response<Self::EvaluateStreamStream>, Status> {
        let start = Instant::now();
        let call = call(request.metadata(), Budget::Draft);
        let id = call.request_id.clone();
        let span = tracing::info_span!("rpc", method = "EvaluateStream", request_id = %id,
            trace_id = tracing::field::Empty, parent_span_id = tracing::field::Empty);
        if let Some(tp) = TraceParent::from_metadata(request.metadata()) {
            tp.record(&span);
        }
        let result = super::stream::start(self.pipeline.clone(), request.into_inner(), call)
            .instrument(span.clone())
            .await
            .map(Response::new);
        span.in_scope(|| observe("EvaluateStream", start, &result));
        result
    }

    async fn list_rule_packs(
        &self,
        _request: Request<pb::ListRulePacksRequest>,
    ) -> Result<Response<pb::ListRulePacksResponse>, Status> {
        let start = Instant::now();
        let result = Ok(Response::new(self.pipeline.rules().list()));
        observe("ListRulePacks", start, &result);
        result
    }

    async fn list_models(
        &self,
        _request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let start = Instant::now();
        let result = Ok(Response::new(self.pipeline.risk().list()));
        observe("ListModels", start, &result);
        result
    }
}

/// `cdss.v1.AdminService`.
#[derive(Debug, Clone)]
pub struct AdminApi {
    pipeline: Arc<Pipeline>,
}

impl AdminApi {
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn reload_rules(
        &self,
        _request: Request<pb::ReloadRulesRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let start = Instant::now();
        let rules: Arc<dyn Reload> = self.pipeline.rules().store().clone();
        let result = Ok(Response::new(crate::reload::run(rules, Cause::Admin).await.to_proto()));
        observe("ReloadRules", start, &result);
        result
    }

    async fn reload_models(
        &self,
        _request: Request<pb::ReloadModelsRequest>,
    ) -> Result<Response<pb::ReloadResponse>, Status> {
        let start = Instant::now();
        // Loading sessions blocks: `reload::run` loads on the blocking pool.
        let risk: Arc<dyn Reload> = self.pipeline.risk().clone();
        let result = Ok(Response::new(crate::reload::run(risk, Cause::Admin).await.to_proto()));
        observe("ReloadModels", start, &result);
        result
    }

    async fn list_unmapped_codes(
        &self,
        _request: Request<pb::ListUnmappedCodesRequest>,
    ) -> Result<Response<pb::ListUnmappedCodesResponse>, Status> {
        let start = Instant::now();
        let result = Ok(Response::new(self.pipeline.rules().unmapped_codes()));
        observe("ListUnmappedCodes", start, &result);
        result
    }
}
