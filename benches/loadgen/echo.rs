//! The transport baseline: a minimal tonic server with the same `CdsService`
//! contract, codec and message sizes as cdssd. `Evaluate` decodes the request
//! like cdssd does and answers with the decision cdssd gave for the same
//! encounter (recorded at the start of the run), so both servers move the
//! same bytes; it does no validation, rules, models, tracing or metrics.

use std::{collections::HashMap, path::Path, pin::Pin};

use anyhow::Context;
use cdssd::proto::v1::{
    self as pb,
    cds_service_server::{CdsService, CdsServiceServer},
};
use prost::Message;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Canned responses keyed by encounter id.
#[derive(Default)]
struct Echo {
    canned: HashMap<String, pb::EvaluateResponse>,
    fallback: pb::EvaluateResponse,
}

impl Echo {
    fn answer(&self, req: &pb::EvaluateRequest) -> pb::EvaluateResponse {
        let id = req.encounter.as_ref().map(|e| e.id.as_str()).unwrap_or("");
        self.canned.get(id).unwrap_or(&self.fallback).clone()
    }
}

type Updates = Pin<Box<dyn Stream<Item = Result<pb::EvaluateUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl CdsService for Echo {
    async fn evaluate(&self, request: Request<pb::EvaluateRequest>) -> Result<Response<pb::EvaluateResponse>, Status> {
        Ok(Response::new(self.answer(request.get_ref())))
    }

    type EvaluateStreamStream = Updates;

    async fn evaluate_stream(&self, request: Request<pb::EvaluateRequest>) -> Result<Response<Updates>, Status> {
        let d = self.answer(request.get_ref()).decision;
        let msg = |sequence, kind: pb::UpdateKind| {
            Ok(pb::EvaluateUpdate { sequence, kind: kind as i32, decision: d.clone(), ..Default::default() })
        };
        let items = vec![msg(0, pb::UpdateKind::Fast), msg(1, pb::UpdateKind::Final)];
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn list_rule_packs(
        &self,
        _r: Request<pb::ListRulePacksRequest>,
    ) -> Result<Response<pb::ListRulePacksResponse>, Status> {
        Ok(Response::new(Default::default()))
    }

    async fn list_models(
        &self,
        _r: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        Ok(Response::new(Default::default()))
    }
}

/// Write responses as (u32 little-endian length, encoded `EvaluateResponse`) records.
pub fn write_canned(path: &Path, responses: &[pb::EvaluateResponse]) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    for r in responses {
        let b = r.encode_to_vec();
        buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        buf.extend_from_slice(&b);
    }
    std::fs::write(path, buf).with_context(|| format!("cannot write {}", path.display()))
}

fn read_canned(path: &Path) -> anyhow::Result<Echo> {
    let buf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut echo = Echo::default();
    let mut rest = buf.as_slice();
    while rest.len() >= 4 {
        let n = u32::from_le_bytes(rest[..4].try_into()?) as usize;
        let r = pb::EvaluateResponse::decode(&rest[4..4 + n])?;
        let id = r.decision.as_ref().map(|d| d.encounter_id.clone()).unwrap_or_default();
        echo.fallback = r.clone();
        echo.canned.insert(id, r);
        rest = &rest[4 + n..];
    }
    Ok(echo)
}

/// Serve until killed (the parent kills it at the end of the run).
pub fn serve(addr: &str, canned: &Path) -> anyhow::Result<()> {
    let echo = read_canned(canned)?;
    let addr = addr.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let svc = CdsServiceServer::new(echo).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20);
        tonic::transport::Server::builder().add_service(svc).serve(addr).await
    })?;
    Ok(())
}
