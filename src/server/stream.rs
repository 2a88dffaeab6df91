//! `EvaluateStream`: encodes the pipeline's [`Update`]s as `EvaluateUpdate` messages
//! numbered from 0 (FAST, DRAFT_DELTA…, SUGGESTION, FINAL). No evaluation logic here:
//! the flow is [`Pipeline::stream`]; dropping this stream stops it.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{wrappers::ReceiverStream, Stream, StreamExt};
use tonic::Status;

use crate::{
    pipeline::{Call, Pipeline, Update},
    proto::v1 as pb,
};

pub(super) type UpdateStream = Pin<Box<dyn Stream<Item = Result<pb::EvaluateUpdate, Status>> + Send>>;

/// The message of update number `sequence`.
fn encode(sequence: u32, update: Update) -> pb::EvaluateUpdate {
    let msg = |kind: pb::UpdateKind| pb::EvaluateUpdate { sequence, kind: kind as i32, ..Default::default() };
    match update {
        Update::Fast(d) => pb::EvaluateUpdate { decision: Some(d), ..msg(pb::UpdateKind::Fast) },
        Update::DraftDelta(text) => pb::EvaluateUpdate { text_delta: text, ..msg(pb::UpdateKind::DraftDelta) },
        Update::Suggestion(s) => pb::EvaluateUpdate { suggestion: Some(s), ..msg(pb::UpdateKind::Suggestion) },
        Update::Final(d) => pb::EvaluateUpdate { decision: Some(d), ..msg(pb::UpdateKind::Final) },
    }
}

/// Decode → [`Pipeline::stream`] → encode.
pub(super) async fn start(
    pipeline: Arc<Pipeline>,
    req: pb::EvaluateRequest,
    call: Call,
) -> Result<UpdateStream, Status> {
    let prepared = pipeline.prepare(&req, call)?;
    let updates = pipeline.stream(prepared).await?;
    let mut sequence = 0;
    Ok(Box::pin(ReceiverStream::new(updates).map(move |u| {
        sequence += 1;
        Ok(encode(sequence - 1, u))
    })))
}
