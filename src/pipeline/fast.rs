//! The fast part: rules then risk, on the request's snapshot.
//!
//! Where it runs: for an encounter of at most `server.inline_max_events` events the rules
//! run on the async worker itself (a few hundred µs of CPU: handing it to another thread
//! costs more than it saves); ONNX sessions run only on the blocking pool, so when the
//! snapshot's registry says a model will run, risk goes there — and it is that same
//! registry that scores. Larger encounters go to the blocking pool whole, bounded by the
//! deadline.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use tokio::sync::Semaphore;

use super::{EvaluateError, Pipeline, Prepared, Snapshot};
use crate::{decision::FastPart, evaluation::Evaluation, metrics, proto::v1 as pb};

/// Fast parts (rules + risk) computed at once, process-wide: one per core. More only
/// adds blocking threads, memory and context switches (benches/README.md); requests
/// beyond it wait for a slot asynchronously, within their deadline.
fn fast_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(Semaphore::new(cores.max(2)))
        })
        .clone()
}

type RulesPart = (Vec<pb::Finding>, String, u64);
type RiskPart = (Vec<pb::RiskScore>, Vec<pb::ModelVersion>, u64);

/// The rules of the snapshot, on this thread: findings, rule-set version, µs.
fn rules_now(s: &Snapshot, ev: &Evaluation) -> RulesPart {
    let t = Instant::now();
    let (findings, version) = tracing::debug_span!("rules").in_scope(|| crate::rules::service::run(&s.rules, ev));
    (findings, version, t.elapsed().as_micros() as u64)
}

/// The risk models of the snapshot, on this thread: scores, model versions, µs.
fn risk_now(s: &Snapshot, ev: &Evaluation) -> RiskPart {
    let t = Instant::now();
    let (risks, models) = tracing::debug_span!("risk").in_scope(|| s.models.evaluate(ev));
    (risks, models, t.elapsed().as_micros() as u64)
}

fn fast_part((findings, rule_set_version, rules_us): RulesPart, (risks, models, risk_us): RiskPart) -> FastPart {
    FastPart { findings, risks, rule_set_version, models, rules_us, risk_us, data_quality: Vec::new() }
}

/// Load shedding: a count of evaluations in flight with a hard limit, never a queue.
#[derive(Debug, Clone)]
pub(super) struct Admission {
    slots: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    pub(super) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self { slots: Arc::new(Semaphore::new(limit)), limit }
    }

    /// A slot for one evaluation, or `Overloaded` at once (counted).
    fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, EvaluateError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            metrics::evaluation_shed();
            EvaluateError::Overloaded { limit: self.limit }
        })
    }
}

impl Pipeline {
    /// Rules and risk of a prepared request (see the module doc for where they run), or
    /// `DEADLINE_EXCEEDED` when they did not finish within the request's budget (a late
    /// result is never returned as if it were in time). Counts the evaluation: the one
    /// place it is counted, whichever the flow. With an admission limit, an evaluation
    /// beyond it is refused at once (`Overloaded`), before any work.
    pub async fn fast(&self, p: &Prepared) -> Result<FastPart, EvaluateError> {
        let _admitted = self.admission.as_ref().map(Admission::admit).transpose()?;
        metrics::evaluation(p.evaluation.trigger);
        let mut fast = self.fast_unchecked(p).await?;
        if p.evaluation.past_deadline() {
            return Err(EvaluateError::DeadlineExceeded);
        }
        let enc = &p.evaluation.encounter;
        fast.data_quality = crate::rules::quality::unmatched_codes(enc, &p.snapshot.rules.value_sets);
        fast.data_quality.extend(crate::rules::quality::implausible_values(enc, &fast.findings));
        Ok(fast)
    }

    async fn fast_unchecked(&self, p: &Prepared) -> Result<FastPart, EvaluateError> {
        let ev = &p.evaluation;
        if ev.encounter.event_count() > self.settings.server.inline_max_events {
            return on_blocking_pool(p, |s, ev| fast_part(rules_now(s, ev), risk_now(s, ev))).await;
        }
        let rules = rules_now(&p.snapshot, ev);
        let risk = if p.snapshot.models.will_run_a_model(ev) {
            on_blocking_pool(p, risk_now).await?
        } else {
            risk_now(&p.snapshot, ev)
        };
        Ok(fast_part(rules, risk))
    }
}

/// `f` on the blocking pool, at most `max(2, cores)` at a time, within the deadline.
async fn on_blocking_pool<T: Send + 'static>(
    p: &Prepared,
    f: impl FnOnce(&Snapshot, &Evaluation) -> T + Send + 'static,
) -> Result<T, EvaluateError> {
    let (snapshot, ev) = (p.snapshot.clone(), p.evaluation.clone());
    // The request span follows the work onto the blocking pool (child spans for export).
    let span = tracing::Span::current();
    let work = async move {
        let permit = fast_slots().acquire_owned().await;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let _request = span.enter();
            f(&snapshot, &ev)
        })
        .await
    };
    match tokio::time::timeout(p.evaluation.remaining(), work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(join)) => Err(EvaluateError::Internal(format!("evaluation task failed: {join}"))),
        Err(_) => Err(EvaluateError::DeadlineExceeded),
    }
}
