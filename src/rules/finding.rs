//! The outcome of one rule for one encounter, as the engine hands it to the decision.
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Outcome of a measure (see `FindingStatus` in the proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Met,
    NotMet,
    Excluded,
    NotApplicable,
    Pending,
    /// The script failed, stopped at its budget, or the rule is quarantined.
    Error,
    /// Data the rule needs is missing or unusable (`missing_data(...)`, implausible values).
    MissingData,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Met,
        Status::NotMet,
        Status::Excluded,
        Status::NotApplicable,
        Status::Pending,
        Status::Error,
        Status::MissingData,
    ];

    /// The status as rule authors, decks, reports and the `status` metric label spell it
    /// (one table: [`crate::metrics::status_label`]).
    pub fn as_str(self) -> &'static str {
        crate::metrics::status_label(super::service::status_to_proto(self))
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a not-met or pending measure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Severity::Info, Severity::Warning, Severity::Critical].into_iter().find(|v| v.as_str() == s)
    }
}

/// A code as cited in evidence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceCode {
    pub system: String,
    pub code: String,
    pub display: String,
}

/// One encounter item a finding relied on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evidence {
    /// "diagnoses", "vitals", "labs", "medication_orders", "medication_administrations",
    /// "procedures", "assessments", "allergies", "notes" or "encounter".
    pub item_type: String,
    /// Item id (for "encounter": the field name).
    pub item_id: String,
    pub label: String,
    pub code: Option<EvidenceCode>,
    /// The value used, as text.
    pub value: String,
    pub time: Option<DateTime<Utc>>,
}

/// One step of a finding's reasoning trail (see `TrailStep` in the proto).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrailStep {
    /// "time_zero", "window", "item", "exclusion_check" or "note".
    pub kind: String,
    /// Stable reason code, e.g. "accepted", "outside_window", "passed".
    pub code: String,
    /// For items: accepted (true) or rejected.
    pub accepted: bool,
    pub item: Option<Evidence>,
    pub time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The step in words, in the finding's locale.
    pub text: String,
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: String,
    pub rule_version: String,
    pub pack: String,
    /// Title in the evaluation's locale.
    pub title: String,
    pub measure: String,
    /// Measure set, item and edition (`NHC-2022`, `4.1.1.3`, `2022`).
    pub measure_set: String,
    pub measure_id: String,
    pub measure_version: String,
    /// Declared reason key of the outcome ("" for engine-made or legacy findings).
    pub reason_key: String,
    /// Locale of `title`, `message` and the trail texts.
    pub locale: crate::locale::Locale,
    /// Reasoning trail (bounded by the engine; `trail_truncated` when cut).
    pub trail: Vec<TrailStep>,
    pub trail_truncated: bool,
    pub status: Status,
    pub severity: Severity,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub deadline: Option<DateTime<Utc>>,
    pub exclusion_reason: String,
    pub missing_data: Vec<String>,
    pub duration: Duration,
    /// Set when the rule itself failed (script error, limit, bad result): where and why.
    /// A deliberate `missing_data(...)` finding has status `error` but no fault.
    pub fault: Option<crate::diagnostic::Diagnostic>,
    /// Id of the rule this one replaces as a local variant (`meta().overrides`), else "".
    pub local_variant_of: String,
}

impl Finding {
    /// Time to the deadline of a pending finding, from `now`.
    pub fn time_left(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        self.deadline.map(|d| d - now)
    }
}
