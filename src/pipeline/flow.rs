//! The two flows over a [`Prepared`] request: unary (one decision) and streaming (a
//! stream of domain [`Update`]s). Both compute the fast part the same way
//! ([`Pipeline::fast`]) and ask the LLM through [`Pipeline::draft_within_budget`];
//! transports only encode what they get.

use std::{sync::Arc, time::Instant};

use tokio::sync::mpsc;
use tracing::Instrument;

use super::{decode::header, EvaluateError, Pipeline, Prepared};
use crate::{
    decision::{self, FastPart},
    evaluation::Evaluation,
    proto::v1 as pb,
};

/// One update of a streamed evaluation, in this order: [`Update::Fast`], any number of
/// [`Update::DraftDelta`], then [`Update::Suggestion`] (only when a draft was wanted)
/// and [`Update::Final`].
#[derive(Debug, Clone)]
pub enum Update {
    /// The decision with rules and risk, the suggestion `pending` (or `disabled`).
    Fast(pb::Decision),
    /// A piece of the LLM's raw text as it arrives (not yet validated).
    DraftDelta(String),
    /// The validated draft (or why there is none).
    Suggestion(pb::DraftSuggestion),
    /// The complete decision.
    Final(pb::Decision),
    /// The final decision could not be recorded (audit `fail_closed`): the stream ends
    /// with this error instead of [`Update::Final`].
    Unrecorded(String),
}

impl Pipeline {
    /// Timings of a decision so far.
    pub fn timings(ev: &Evaluation, llm_us: u64) -> pb::Timings {
        pb::Timings {
            validation_us: ev.validation_us,
            llm_us,
            total_us: ev.started.elapsed().as_micros() as u64,
            ..Default::default()
        }
    }

    /// The draft, bounded by the request's remaining budget (never an error), with the
    /// templates, knowledge base and value sets of the request's snapshot.
    pub async fn draft_within_budget(
        &self,
        p: &Prepared,
        fast: &FastPart,
        deltas: Option<mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        let ev = &p.evaluation;
        if !ev.wants_draft {
            return decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "LLM not requested");
        }
        let remaining = ev.remaining();
        let (assets, value_sets) = (p.snapshot.llm.clone(), Some(p.snapshot.rules.value_sets.clone()));
        let draft = self.llm.draft(ev, assets, value_sets, fast, deltas).instrument(tracing::debug_span!("llm"));
        match tokio::time::timeout(remaining, draft).await {
            Ok(s) => s,
            Err(_) => decision::suggestion_with_status(
                pb::SuggestionStatus::Timeout,
                format!("no draft within the request budget ({} ms)", remaining.as_millis()),
            ),
        }
    }

    /// The unary flow: fast part, then the draft within the budget, one decision.
    pub async fn evaluate(&self, p: &Prepared) -> Result<pb::Decision, EvaluateError> {
        let ev = &p.evaluation;
        let fast = self.fast(p).await?;
        let t = Instant::now();
        let suggestion = self.draft_within_budget(p, &fast, None).await;
        let llm_us = if ev.wants_draft { t.elapsed().as_micros() as u64 } else { 0 };
        let mut decision = decision::assemble(&header(ev), &fast, suggestion, Self::timings(ev, llm_us));
        self.record(p, &mut decision).await?;
        Ok(decision)
    }

    /// The streaming flow: the fast part is computed before this returns (its errors are
    /// the call's), then a task (in the caller's span) forwards the draft's deltas, the
    /// suggestion and the final decision. The task stops as soon as the receiver is
    /// dropped (the client went away).
    pub async fn stream(self: Arc<Self>, p: Prepared) -> Result<mpsc::Receiver<Update>, EvaluateError> {
        let fast = self.fast(&p).await?;
        let ev = p.evaluation.clone();
        let header = header(&ev);
        let pending = if ev.wants_draft {
            decision::suggestion_with_status(pb::SuggestionStatus::Pending, "draft in progress")
        } else {
            decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "LLM not requested")
        };
        let mut first = decision::assemble(&header, &fast, pending, Self::timings(&ev, 0));
        // FAST is an answer: recorded before it is sent (and FINAL again, with the draft).
        self.record(&p, &mut first).await?;
        let (tx, rx) = mpsc::channel::<Update>(32);
        // The receiver is held: a fresh channel has room for the first update.
        let _ = tx.try_send(Update::Fast(first.clone()));
        let task = async move {
            if !ev.wants_draft {
                let _ = tx.send(Update::Final(first)).await;
                return;
            }
            let t = Instant::now();
            let (delta_tx, mut delta_rx) = mpsc::channel::<String>(64);
            let draft = self.draft_within_budget(&p, &fast, Some(delta_tx));
            tokio::pin!(draft);
            let suggestion = loop {
                tokio::select! {
                    s = &mut draft => break s,
                    Some(text) = delta_rx.recv() => {
                        if tx.send(Update::DraftDelta(text)).await.is_err() {
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
            if tx.send(Update::Suggestion(suggestion.clone())).await.is_err() {
                return;
            }
            let mut last = decision::assemble(&header, &fast, suggestion, Self::timings(&ev, llm_us));
            let update = match self.record(&p, &mut last).await {
                Ok(()) => Update::Final(last),
                Err(e) => Update::Unrecorded(e.to_string()),
            };
            let _ = tx.send(update).await;
        };
        tokio::spawn(task.instrument(tracing::Span::current()));
        Ok(rx)
    }
}
