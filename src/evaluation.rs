//! The leaf request type: one [`Evaluation`] is everything the components (rules, risk,
//! the LLM) need to know about one request — the validated encounter, "now", the
//! hospital time zone, the trigger, what the caller asked for, and when it must be
//! answered.
//!
//! Invariant: this module imports nothing but the encounter model. It knows no
//! transport (gRPC, HTTP), no orchestration (`pipeline`) and no component, so every
//! component can depend on it without an import cycle (a test in `tests/it/architecture.rs`
//! fails on any cycle between the top-level modules of `src/`). The snapshots of the
//! components' state in force (rule set, model registry, prompt template) are taken
//! once per request by the pipeline and travel *beside* the evaluation
//! (`pipeline::Prepared`): a component's snapshot type cannot live here without this
//! module depending on the component.

use std::{sync::Arc, time::Instant};

use crate::encounter::{Encounter, Time};

/// Why the caller asks: the one vocabulary of triggers, used by the metrics
/// (`cdssd_evaluations_total{trigger}`), rule metadata (`triggers: [...]`) and the
/// transports (the `cdss.v1.Trigger` enum maps onto it one to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// Not stated: every rule runs regardless of its triggers.
    Unspecified,
    /// ED arrival or encounter start.
    Arrival,
    /// Inpatient admission.
    Admission,
    /// An order being signed.
    OrderSign,
    /// The chart being opened.
    PatientView,
    /// Periodic concurrent review.
    PeriodicReview,
    /// Discharge.
    Discharge,
    /// Retrospective QC after discharge.
    Retrospective,
}

impl Trigger {
    /// Every trigger a rule can name (all but [`Trigger::Unspecified`]).
    pub const NAMED: [Trigger; 7] = [
        Trigger::Arrival,
        Trigger::Admission,
        Trigger::OrderSign,
        Trigger::PatientView,
        Trigger::PeriodicReview,
        Trigger::Discharge,
        Trigger::Retrospective,
    ];

    /// The lower-case name used in metric labels and rule metadata (`order_sign`).
    pub const fn label(self) -> &'static str {
        match self {
            Trigger::Unspecified => "unspecified",
            Trigger::Arrival => "arrival",
            Trigger::Admission => "admission",
            Trigger::OrderSign => "order_sign",
            Trigger::PatientView => "patient_view",
            Trigger::PeriodicReview => "periodic_review",
            Trigger::Discharge => "discharge",
            Trigger::Retrospective => "retrospective",
        }
    }

    /// The labels of [`Trigger::NAMED`], in that order.
    pub const NAMED_LABELS: [&'static str; 7] = {
        let mut out = [""; 7];
        let mut i = 0;
        while i < Self::NAMED.len() {
            out[i] = Self::NAMED[i].label();
            i += 1;
        }
        out
    };

    /// The name of the contract's enum value (`TRIGGER_ORDER_SIGN`), as `ListRulePacks` gives it.
    pub fn proto_name(self) -> String {
        format!("TRIGGER_{}", self.label().to_ascii_uppercase())
    }

    /// The named trigger spelled `label` in rule metadata; `None` for anything else.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::NAMED.into_iter().find(|t| t.label() == label)
    }

    /// `None` for [`Trigger::Unspecified`] (run every rule), else the trigger.
    pub fn named(self) -> Option<Self> {
        (self != Trigger::Unspecified).then_some(self)
    }
}

/// One validated evaluation request, shared (behind an `Arc`) by every part of the
/// evaluation; immutable once prepared.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The caller's `x-request-id` (or a fresh UUID): for logs and the decision.
    pub request_id: String,
    /// The validated encounter (canonical units, sorted lists).
    pub encounter: Arc<Encounter>,
    /// Why the caller asks.
    pub trigger: Trigger,
    /// The "now" of the evaluation (the request's `evaluation_time` or the server clock).
    pub now: Time,
    /// The hospital time zone for calendar-day measures.
    pub tz: chrono_tz::Tz,
    /// Rule packs to run; empty runs every pack. Every id names a pack of the rule-set
    /// snapshot the evaluation was prepared with.
    pub rule_packs: Vec<String>,
    /// Models to score; empty scores every applicable model.
    pub models: Vec<String>,
    /// Whether the LLM draft is wanted (the request's choice, else `llm.enabled`).
    pub wants_draft: bool,
    /// Whether findings with status `not_applicable` go into the decision.
    pub include_not_applicable: bool,
    /// The language the caller reads (BCP 47, e.g. `zh-CN`); `None`: the configured default.
    /// A placeholder until the contract carries it.
    pub locale: Option<String>,
    /// When validation started.
    pub started: Instant,
    /// When the call must be answered (the one budget policy: `pipeline::Budget`).
    pub deadline: Instant,
    /// How long decoding and validation took, µs.
    pub validation_us: u64,
    /// What mapped codings stand for, from the code mapping tables of the rule set the
    /// evaluation was prepared with (`rules/mappings/`): the risk models' feature sources
    /// read the same facts in every coding.
    pub equivalents: Arc<crate::encounter::terminology::Equivalents>,
}

impl Evaluation {
    /// The language of the texts a person reads: the request's `locale`, else the
    /// default (the one parse, for rules, risk and the decision).
    pub fn text_locale(&self) -> crate::locale::Locale {
        self.locale.as_deref().and_then(|l| crate::locale::Locale::parse(l).ok()).unwrap_or_default()
    }

    /// Whether the request names model `id`: `None` when it names no model (every
    /// applicable one is wanted), `Some(false)` when it names others only.
    pub fn names_model(&self, id: &str) -> Option<bool> {
        (!self.models.is_empty()).then(|| self.models.iter().any(|m| m == id))
    }

    /// Whether pack `id` is to run.
    pub fn runs_pack(&self, id: &str) -> bool {
        self.rule_packs.is_empty() || self.rule_packs.iter().any(|p| p == id)
    }

    /// Whether the deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// What is left of the budget.
    pub fn remaining(&self) -> std::time::Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::Trigger;

    #[test]
    fn trigger_labels_round_trip_and_are_distinct() {
        for t in Trigger::NAMED {
            assert_eq!(Trigger::from_label(t.label()), Some(t));
        }
        assert_eq!(Trigger::from_label("unspecified"), None);
        assert_eq!(Trigger::from_label("Discharge"), None);
        let mut labels: Vec<_> = Trigger::NAMED.iter().map(|t| t.label()).collect();
        labels.dedup();
        assert_eq!(labels.len(), 7);
    }
}
