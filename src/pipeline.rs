//! One evaluation, end to end: validate the request into an [`EvalContext`],
//! run the fast part (rules + risk, off the async threads), optionally ask the
//! LLM within the remaining budget, and assemble the decision.
//!
//! Invariants: the fast part never waits for the LLM; the LLM never fails the
//! call (its status is reported in the decision); every decision names the
//! rule-set and model versions it was computed with.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::Instrument;

use crate::{
    config::Settings,
    decision::{self, FastPart, Header},
    encounter::{self, Encounter, Limits, Time, ValidationError},
    llm::LlmService,
    metrics,
    proto::v1 as pb,
    risk::RiskService,
    rules::RuleService,
};

/// A validated evaluation request.
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub request_id: String,
    pub encounter: Arc<Encounter>,
    pub trigger: pb::Trigger,
    pub options: pb::EvaluateOptions,
    /// The "now" of the evaluation (request's `evaluation_time` or the server clock).
    pub now: Time,
    /// Hospital time zone for calendar-day measures.
    pub tz: chrono_tz::Tz,
    /// When the call must be answered.
    pub deadline: Instant,
    /// When validation started.
    pub started: Instant,
    pub validation_us: u64,
}

impl EvalContext {
    /// The decision header for this evaluation.
    pub fn header(&self) -> Header {
        Header {
            request_id: self.request_id.clone(),
            encounter_id: self.encounter.id.clone(),
            trigger: self.trigger,
            evaluation_time: self.now,
            include_not_applicable: self.options.include_not_applicable,
        }
    }
}

/// Why an evaluation was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("`encounter` is required")]
    MissingEncounter,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the fast part did not finish within the deadline")]
    DeadlineExceeded,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Fast parts (rules + risk) computed at once, process-wide: one per core. More only
/// adds blocking threads, memory and context switches (benches/README.md); requests
/// beyond it wait for a slot asynchronously, within their deadline.
fn fast_slots() -> Arc<tokio::sync::Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Arc::new(tokio::sync::Semaphore::new(cores.max(2)))
        })
        .clone()
}

/// The evaluation pipeline: shared, immutable per process (components swap their own state on reload).
#[derive(Debug)]
pub struct Pipeline {
    pub settings: Arc<Settings>,
    pub limits: Limits,
    pub rules: Arc<RuleService>,
    pub risk: Arc<RiskService>,
    pub llm: Arc<LlmService>,
}

impl Pipeline {
    /// Build every component from the settings.
    pub fn new(settings: Arc<Settings>) -> Result<Self, String> {
        Ok(Self {
            limits: Limits::from_settings(&settings.encounter),
            rules: Arc::new(RuleService::load(&settings)?),
            risk: Arc::new(RiskService::load(&settings)?),
            llm: Arc::new(LlmService::new(&settings)?),
            settings,
        })
    }

    /// Validate a request. `transport_deadline` is the caller's gRPC deadline, if any.
    pub fn prepare(
        &self,
        req: &pb::EvaluateRequest,
        request_id: String,
        transport_deadline: Option<Duration>,
    ) -> Result<EvalContext, EvaluateError> {
        let started = Instant::now();
        let pb_enc = req.encounter.as_ref().ok_or(EvaluateError::MissingEncounter)?;
        let now = match &req.evaluation_time {
            Some(t) => {
                chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).ok_or_else(|| ValidationError {
                    violations: vec![encounter::FieldViolation {
                        field: "evaluation_time".into(),
                        description: "is not a valid timestamp".into(),
                    }],
                })?
            }
            None => encounter::now(),
        };
        let enc = encounter::from_proto(pb_enc, &self.limits, now).inspect_err(|_| metrics::validation_failed())?;
        let options = req.options.clone().unwrap_or_default();
        let unknown = self.unknown_names(req, &options);
        if !unknown.is_empty() {
            return Err(ValidationError { violations: unknown }.into());
        }
        let mut budget = Duration::from_millis(match options.budget_ms {
            0 => self.settings.server.default_budget_ms,
            ms => u64::from(ms),
        });
        if let Some(d) = transport_deadline {
            budget = budget.min(d);
        }
        Ok(EvalContext {
            request_id,
            encounter: Arc::new(enc),
            trigger: req.trigger(),
            options,
            now,
            tz: self.settings.timezone(),
            deadline: started + budget,
            started,
            validation_us: started.elapsed().as_micros() as u64,
        })
    }

    /// The request's trigger and options checked against what is in force: the trigger
    /// must be a known, specified value; the LLM mode a known value; every named rule pack
    /// and model must exist (a model that failed to load is known: it scores as ERROR).
    fn unknown_names(
        &self,
        req: &pb::EvaluateRequest,
        options: &pb::EvaluateOptions,
    ) -> Vec<encounter::FieldViolation> {
        let violation = |field: String, description: String| encounter::FieldViolation { field, description };
        let mut out = Vec::new();
        match pb::Trigger::try_from(req.trigger) {
            Ok(pb::Trigger::Unspecified) => out.push(violation(
                "trigger".into(),
                "is required: TRIGGER_UNSPECIFIED is not a trigger (e.g. TRIGGER_PATIENT_VIEW, TRIGGER_DISCHARGE)"
                    .into(),
            )),
            Ok(_) => {}
            Err(_) => out.push(violation("trigger".into(), format!("unknown trigger number {}", req.trigger))),
        }
        if pb::LlmMode::try_from(options.llm).is_err() {
            out.push(violation("options.llm".into(), format!("unknown LLM mode number {}", options.llm)));
        }
        let rule_set = self.rules.current();
        for (i, p) in options.rule_packs.iter().enumerate() {
            if !rule_set.packs.iter().any(|k| &k.id == p) {
                let known = rule_set.packs.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ");
                out.push(violation(
                    format!("options.rule_packs[{i}]"),
                    format!("unknown rule pack `{p}` (in force: {known})"),
                ));
            }
        }
        let registry = self.risk.registry();
        for (i, m) in options.models.iter().enumerate() {
            if registry.get(m).is_none() && !registry.failed.iter().any(|f| &f.id == m) {
                let known = registry.models.iter().map(|k| k.manifest.id.as_str()).collect::<Vec<_>>().join(", ");
                out.push(violation(format!("options.models[{i}]"), format!("unknown model `{m}` (in force: {known})")));
            }
        }
        out
    }

    /// The rules, on this thread: findings, rule-set version, µs.
    fn rules_now(rules: &RuleService, c: &EvalContext) -> (Vec<pb::Finding>, String, u64) {
        let t = Instant::now();
        let (findings, version) = tracing::debug_span!("rules").in_scope(|| rules.evaluate(c));
        (findings, version, t.elapsed().as_micros() as u64)
    }

    /// The risk models, on this thread: scores, model versions, µs.
    fn risk_now(risk: &RiskService, c: &EvalContext) -> (Vec<pb::RiskScore>, Vec<pb::ModelVersion>, u64) {
        let t = Instant::now();
        let (risks, models) = tracing::debug_span!("risk").in_scope(|| risk.evaluate(c));
        (risks, models, t.elapsed().as_micros() as u64)
    }

    /// Rules and risk, or `DEADLINE_EXCEEDED` when they did not finish within the request's budget
    /// (a late result is never returned as if it were in time).
    pub async fn fast(&self, ctx: &EvalContext) -> Result<FastPart, EvaluateError> {
        let fast = self.fast_unchecked(ctx).await?;
        if Instant::now() > ctx.deadline {
            return Err(EvaluateError::DeadlineExceeded);
        }
        Ok(fast)
    }

    /// Rules and risk. An encounter of at most `server.inline_max_events` events has its
    /// rules run on the async worker itself (a few hundred µs of CPU: handing it to another
    /// thread costs more than it saves); ONNX sessions run only on the blocking pool, so
    /// when a model applies, risk goes there. Larger encounters go there whole.
    async fn fast_unchecked(&self, ctx: &EvalContext) -> Result<FastPart, EvaluateError> {
        if ctx.encounter.event_count() > self.settings.server.inline_max_events {
            return self
                .on_blocking_pool(ctx, |rules, risk, c| {
                    Self::fast_part(Self::rules_now(rules, c), Self::risk_now(risk, c))
                })
                .await;
        }
        let rules = Self::rules_now(&self.rules, ctx);
        let risk = if self.risk.will_run_a_model(ctx) {
            self.on_blocking_pool(ctx, |_, risk, c| Self::risk_now(risk, c)).await?
        } else {
            Self::risk_now(&self.risk, ctx)
        };
        Ok(Self::fast_part(rules, risk))
    }

    fn fast_part(
        (findings, rule_set_version, rules_us): (Vec<pb::Finding>, String, u64),
        (risks, models, risk_us): (Vec<pb::RiskScore>, Vec<pb::ModelVersion>, u64),
    ) -> FastPart {
        FastPart { findings, risks, rule_set_version, models, rules_us, risk_us }
    }

    /// `f` on the blocking pool, at most `max(2, cores)` at a time, within the deadline.
    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        ctx: &EvalContext,
        f: impl FnOnce(&RuleService, &RiskService, &EvalContext) -> T + Send + 'static,
    ) -> Result<T, EvaluateError> {
        let (rules, risk, c) = (self.rules.clone(), self.risk.clone(), ctx.clone());
        // The request span follows the work onto the blocking pool (child spans for export).
        let span = tracing::Span::current();
        let work = async move {
            let permit = fast_slots().acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                let _slot = permit;
                let _request = span.enter();
                f(&rules, &risk, &c)
            })
            .await
        };
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, work).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(join)) => Err(EvaluateError::Internal(format!("evaluation task failed: {join}"))),
            Err(_) => Err(EvaluateError::DeadlineExceeded),
        }
    }

    /// Whether this request asks for the LLM draft.
    pub fn wants_llm(&self, ctx: &EvalContext) -> bool {
        match ctx.options.llm() {
            pb::LlmMode::Request => true,
            pb::LlmMode::Skip => false,
            pb::LlmMode::Unspecified => self.settings.llm.enabled,
        }
    }

    /// The draft, bounded by the request's remaining budget (never an error).
    pub async fn draft_within_budget(
        &self,
        ctx: &EvalContext,
        fast: &FastPart,
        deltas: Option<tokio::sync::mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        if !self.wants_llm(ctx) {
            return decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "LLM not requested");
        }
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let draft = self.llm.draft(ctx, fast, deltas).instrument(tracing::debug_span!("llm"));
        match tokio::time::timeout(remaining, draft).await {
            Ok(s) => s,
            Err(_) => decision::suggestion_with_status(
                pb::SuggestionStatus::Timeout,
                format!("no draft within the request budget ({} ms)", remaining.as_millis()),
            ),
        }
    }

    /// Timings of a decision so far.
    pub fn timings(ctx: &EvalContext, llm_us: u64) -> pb::Timings {
        pb::Timings {
            validation_us: ctx.validation_us,
            llm_us,
            total_us: ctx.started.elapsed().as_micros() as u64,
            ..Default::default()
        }
    }

    /// The whole unary evaluation: fast part, then the draft within the budget.
    pub async fn evaluate(&self, ctx: &EvalContext) -> Result<pb::Decision, EvaluateError> {
        metrics::evaluation(ctx.trigger);
        let fast = self.fast(ctx).await?;
        let t = Instant::now();
        let suggestion = self.draft_within_budget(ctx, &fast, None).await;
        let llm_us = if self.wants_llm(ctx) { t.elapsed().as_micros() as u64 } else { 0 };
        Ok(decision::assemble(&ctx.header(), &fast, suggestion, Self::timings(ctx, llm_us)))
    }
}
