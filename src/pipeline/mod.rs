//! The one orchestrator. A transport (gRPC unary or stream, the CLI, any future one)
//! decodes its request, calls [`Pipeline::prepare`] — which validates it into a leaf
//! [`Evaluation`] and takes the snapshots of the rule set and the model registry in
//! force, once ([`Prepared`]) — then runs one of the two flows ([`Pipeline::evaluate`]
//! for a decision, [`Pipeline::stream`] for a stream of [`Update`]s) and encodes the
//! result. Nothing about an evaluation is decided outside this module.
//!
//! Invariants: the fast part never waits for the LLM; the LLM never fails the call (its
//! status is reported in the decision); every decision names the rule-set and model
//! versions it was computed with, which are those of the request's snapshot; the budget
//! policy is [`Budget`], written once; the evaluation counter is recorded once per
//! evaluation ([`Pipeline::fast`]).

mod decode;
mod fast;
mod flow;

use std::{sync::Arc, time::Duration};

pub use decode::{trigger_from_proto, trigger_to_proto};
pub use flow::Update;

use crate::{
    config::Settings,
    encounter::{Limits, ValidationError},
    evaluation::Evaluation,
    llm::LlmService,
    risk::{Registry, RiskService},
    rules::{RuleService, RuleSet},
};

/// Why an evaluation was refused.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The request carries no encounter.
    #[error("`encounter` is required")]
    MissingEncounter,
    /// The request is invalid; every field violation is listed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Rules and risk did not finish by the deadline.
    #[error("the fast part did not finish within the deadline")]
    DeadlineExceeded,
    /// A bug or a crashed task; details are logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
    /// The decision could not be recorded (audit durability `sync`, `fail_closed`):
    /// nothing is answered.
    #[error("the decision could not be recorded: {0}")]
    AuditUnavailable(String),
    /// Load shedding: `limit` evaluations are already running or waiting for a core.
    #[error("{limit} evaluations in flight")]
    Overloaded { limit: usize },
}

/// How long the caller is prepared to wait, the one budget policy of every flow:
/// the request's `options.budget_ms` when set, else `server.default_budget_ms` for a
/// caller that wants the fast part ([`Budget::Decision`]) or `llm.total_timeout_ms`
/// for one that waits for the draft ([`Budget::Draft`]: a stream, the CLI); never
/// longer than the transport's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// An EMR waiting for a decision (unary `Evaluate`).
    Decision,
    /// A caller that exists to wait for the draft (`EvaluateStream`, `cdssd evaluate`).
    Draft,
}

/// What the transport knows about the call beyond the request message.
#[derive(Debug, Clone)]
pub struct Call {
    /// The caller's request id, or a fresh one.
    pub request_id: String,
    /// The transport's deadline (`grpc-timeout`), if any.
    pub deadline: Option<Duration>,
    /// Which default budget applies.
    pub budget: Budget,
    /// Who asks, as the audit records it (the verified token identity when `[auth]`
    /// is on; `server::caller_from`).
    pub caller: String,
}

/// The state in force when the evaluation was prepared: both halves of the request
/// (pack validation and the rules run; "will a model run" and the scoring) use it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The rule set the packs were validated against and that runs.
    pub rules: Arc<RuleSet>,
    /// The model registry that decides where risk runs and that scores.
    pub models: Arc<Registry>,
    /// The LLM's prompt templates and knowledge base (the draft's prompt, retrieval and
    /// citation checks).
    pub llm: Arc<crate::llm::Assets>,
}

/// A validated request with its snapshot, ready for either flow.
#[derive(Debug, Clone)]
pub struct Prepared {
    evaluation: Arc<Evaluation>,
    snapshot: Snapshot,
    /// The request as received, kept only when an audit sink records it (replay needs it).
    request: Option<Arc<crate::proto::v1::EvaluateRequest>>,
    /// Who asked (the audit's `caller`).
    caller: String,
}

impl Prepared {
    /// The leaf request the components see.
    pub fn evaluation(&self) -> &Arc<Evaluation> {
        &self.evaluation
    }

    /// The snapshot taken at prepare.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The decision header of this evaluation.
    pub fn header(&self) -> crate::decision::Header {
        decode::header(&self.evaluation)
    }
}

/// The evaluation pipeline: shared, immutable per process (components swap their own
/// state on reload; each request sees one snapshot of it).
#[derive(Debug)]
pub struct Pipeline {
    settings: Arc<Settings>,
    limits: Limits,
    rules: Arc<RuleService>,
    risk: Arc<RiskService>,
    llm: Arc<LlmService>,
    /// The audit sink (`cdssd serve`); `None` records nothing (`cdssd evaluate`, audit off).
    audit: Option<Arc<crate::audit::Auditor>>,
    /// Load shedding (`cdssd serve`: `server.max_in_flight_evaluations`); `None`: no limit
    /// (the CLI flows bound their own parallelism).
    admission: Option<fast::Admission>,
}

impl Pipeline {
    /// Build every component from the settings. Starts no watcher (a daemon starts its
    /// reloaders itself).
    pub fn new(settings: Arc<Settings>) -> Result<Self, String> {
        Ok(Self::from_parts(
            settings.clone(),
            Arc::new(RuleService::load(&settings)?),
            Arc::new(RiskService::load(&settings)?),
            Arc::new(LlmService::new(&settings)?),
        ))
    }

    /// A pipeline over components built elsewhere (tests, benches).
    pub fn from_parts(
        settings: Arc<Settings>,
        rules: Arc<RuleService>,
        risk: Arc<RiskService>,
        llm: Arc<LlmService>,
    ) -> Self {
        Self {
            limits: Limits::from_settings(&settings.encounter),
            settings,
            rules,
            risk,
            llm,
            audit: None,
            admission: None,
        }
    }

    /// The audit sink, if decisions are recorded.
    pub fn audit(&self) -> Option<&Arc<crate::audit::Auditor>> {
        self.audit.as_ref()
    }

    /// The same pipeline, recording every decision in `audit` before it is answered.
    pub fn with_audit(mut self, audit: Option<crate::audit::Auditor>) -> Self {
        self.audit = audit.map(Arc::new);
        self
    }

    /// The same pipeline, shedding an evaluation that would be the `limit + 1`-th in flight.
    pub fn with_admission_limit(mut self, limit: usize) -> Self {
        self.admission = Some(fast::Admission::new(limit));
        self
    }

    /// Record `decision` (the answer to `p`'s request) before it is sent and set its
    /// `decision_id`; without an audit sink, nothing. The one place decisions reach the audit.
    pub(crate) async fn record(
        &self,
        p: &Prepared,
        decision: &mut crate::proto::v1::Decision,
    ) -> Result<(), EvaluateError> {
        match (&self.audit, &p.request) {
            (Some(a), Some(req)) => {
                a.record(req, decision, &p.caller).await.map_err(|e| EvaluateError::AuditUnavailable(e.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// The settings the pipeline was built with.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The rules component (listing, reloads).
    pub fn rules(&self) -> &Arc<RuleService> {
        &self.rules
    }

    /// The risk component (listing, reloads).
    pub fn risk(&self) -> &Arc<RiskService> {
        &self.risk
    }

    /// The LLM component.
    pub fn llm(&self) -> &Arc<LlmService> {
        &self.llm
    }

    /// The snapshot of everything in force now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { rules: self.rules.current(), models: self.risk.registry(), llm: self.llm.assets() }
    }

    /// The budget of a call: see [`Budget`].
    pub fn budget(&self, requested_ms: u32, call: &Call) -> Duration {
        let ms = match (requested_ms, call.budget) {
            (0, Budget::Decision) => self.settings.server.default_budget_ms,
            (0, Budget::Draft) => self.settings.llm.total_timeout_ms,
            (ms, _) => u64::from(ms),
        };
        let budget = Duration::from_millis(ms);
        call.deadline.map_or(budget, |d| budget.min(d))
    }
}
