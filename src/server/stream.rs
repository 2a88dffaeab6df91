//! `EvaluateStream`: FAST (rules + risk) at once, then the LLM's text deltas,
//! the validated SUGGESTION, and FINAL. The LLM runs in a task that stops when
//! the client goes away.

use std::{pin::Pin, sync::Arc, time::Duration, time::Instant};

use tokio::sync::mpsc;
use tokio_stream::{wrappers::ReceiverStream, Stream};
use tonic::Status;
use tracing::Instrument;

use crate::{
    decision,
    pipeline::Pipeline,
    proto::v1::{self as pb},
};

type UpdateStream = Pin<Box<dyn Stream<Item = Result<pb::EvaluateUpdate, Status>> + Send>>;

pub(super) async fn start(
    pipeline: Arc<Pipeline>,
    req: pb::EvaluateRequest,
    request_id: String,
    transport_deadline: Option<Duration>,
    span: tracing::Span,
) -> Result<UpdateStream, Status> {
    let mut ctx = pipeline.prepare(&req, request_id, transport_deadline)?;
    crate::metrics::evaluation(ctx.trigger);
    let fast = pipeline.fast(&ctx).await?;
    let wants_llm = pipeline.wants_llm(&ctx);
    // A stream exists to wait for the draft: its budget is the LLM's total
    // timeout unless the request or the transport set a shorter one.
    if ctx.options.budget_ms == 0 {
        let mut budget = Duration::from_millis(pipeline.settings.llm.total_timeout_ms);
        if let Some(d) = transport_deadline {
            budget = budget.min(d);
        }
        ctx.deadline = ctx.started + budget;
    }
    let header = ctx.header();
    let pending = if wants_llm {
        decision::suggestion_with_status(pb::SuggestionStatus::Pending, "draft in progress")
    } else {
        decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "LLM not requested")
    };
    let mut first = decision::assemble(&header, &fast, pending, Pipeline::timings(&ctx, 0));
    // FAST is an answer: recorded before it is sent (and FINAL again, with the draft).
    pipeline.record(&req, &mut first).await?;

    let (tx, rx) = mpsc::channel::<Result<pb::EvaluateUpdate, Status>>(32);
    let update =
        |sequence: u32, kind: pb::UpdateKind| pb::EvaluateUpdate { sequence, kind: kind as i32, ..Default::default() };
    tx.send(Ok(pb::EvaluateUpdate { decision: Some(first.clone()), ..update(0, pb::UpdateKind::Fast) }))
        .await
        .map_err(|_| Status::cancelled("client went away"))?;

    tokio::spawn(
        async move {
            if !wants_llm {
                let _ =
                    tx.send(Ok(pb::EvaluateUpdate { decision: Some(first), ..update(1, pb::UpdateKind::Final) })).await;
                return;
            }
            let t = Instant::now();
            let (delta_tx, mut delta_rx) = mpsc::channel::<String>(64);
            let draft = pipeline.draft_within_budget(&ctx, &fast, Some(delta_tx));
            tokio::pin!(draft);
            let mut seq = 1;
            let suggestion = loop {
                tokio::select! {
                    s = &mut draft => break s,
                    Some(text) = delta_rx.recv() => {
                        let msg = pb::EvaluateUpdate { text_delta: text, ..update(seq, pb::UpdateKind::DraftDelta) };
                        seq += 1;
                        if tx.send(Ok(msg)).await.is_err() {
                            tracing::debug!("Client went away; dropping the draft.");
                            return;
                        }
                    }
                    _ = tx.closed() => {
                        tracing::debug!("Client went away; dropping the draft.");
                        return;
                    }
                }
            };
            let llm_us = t.elapsed().as_micros() as u64;
            let msg =
                pb::EvaluateUpdate { suggestion: Some(suggestion.clone()), ..update(seq, pb::UpdateKind::Suggestion) };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
            let mut last = decision::assemble(&header, &fast, suggestion, Pipeline::timings(&ctx, llm_us));
            let msg = match pipeline.record(&req, &mut last).await {
                Ok(()) => Ok(pb::EvaluateUpdate { decision: Some(last), ..update(seq + 1, pb::UpdateKind::Final) }),
                Err(e) => Err(Status::from(e)),
            };
            let _ = tx.send(msg).await;
        }
        .instrument(span),
    );
    Ok(Box::pin(ReceiverStream::new(rx)))
}
