//! The decision audit: every decision cdssd answers is first recorded here.
//!
//! One trait ([`AuditStore`]) with two backends over one implementation of the
//! logic ([`store::SqlStore`] over a [`db::Conn`]): SQLite (embedded default, a
//! WAL file in `audit.dir`) and PostgreSQL (replicas sharing one database).
//! The request (needed for replay) is sealed with AES-256-GCM ([`keys`]) and kept
//! in its own table apart from the PHI-minimised decision record, which holds a
//! keyed-HMAC pseudonym instead of the EMR's encounter id and no patient id or
//! clinical values. Records are append-only (database triggers); reads of
//! PHI-bearing data are recorded in `access_log`; retention is per table and
//! purge runs are recorded. [`writer::AuditWriter`] group-commits decisions on
//! one thread and answers each caller once its transaction is durable.

pub mod db;
pub mod keys;
pub mod postgres;
pub mod record;
/// The `[audit]` settings (defined with the configuration, next to their validation).
pub use crate::config::audit as settings;
pub mod sink;
pub mod sqlite;
pub mod store;
pub mod writer;

use std::sync::Arc;

pub use record::{AccessRecord, DecisionRecord, DecisionSummary, FeedbackRecord, FindingRow, StoredDecision};
pub use settings::{AuditSettings, Backend};
pub use sink::{Auditor, Feedback, FeedbackSink, Outcome};
pub use store::SqlStore;
pub use writer::AuditWriter;

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Why the audit could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database could not be reached or refused the write: calls fail closed.
    #[error("audit store unavailable: {0}")]
    Unavailable(String),
    /// The key file is missing or invalid, or a record does not decrypt.
    #[error("audit keys: {0}")]
    Key(String),
    /// No such record.
    #[error("no audit record {0}")]
    NotFound(String),
    /// A stored record cannot be read back (corrupt or from an unknown schema).
    #[error("audit record unreadable: {0}")]
    Corrupt(String),
    /// The request to the audit is invalid (e.g. a feedback without card id).
    #[error("{0}")]
    Invalid(String),
}

impl From<db::DbError> for AuditError {
    fn from(e: db::DbError) -> Self {
        AuditError::Unavailable(e.0)
    }
}

/// The tables that have a retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainedTable {
    Requests,
    Decisions,
    Feedback,
    AccessLog,
}

impl RetainedTable {
    pub const ALL: [RetainedTable; 4] = [Self::Requests, Self::Decisions, Self::Feedback, Self::AccessLog];

    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Decisions => "decisions",
            Self::Feedback => "feedback",
            Self::AccessLog => "access_log",
        }
    }

    /// Retention in days from the settings (0 = for ever).
    pub fn days(self, r: &settings::Retention) -> u32 {
        match self {
            Self::Requests => r.requests_days,
            Self::Decisions => r.decisions_days,
            Self::Feedback => r.feedback_days,
            Self::AccessLog => r.access_log_days,
        }
    }
}

/// Filter of a scan over recorded decisions (reports, replay, worklist).
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Discharged at or after (µs), inclusive.
    pub discharged_from_us: Option<i64>,
    /// Discharged before (µs), exclusive.
    pub discharged_to_us: Option<i64>,
    /// Only this department.
    pub department: Option<String>,
    /// Only encounters not discharged (no discharge time in the record).
    pub not_discharged: bool,
}

/// The durable record of decisions, feedback and reads.
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// The backend, for logs and metrics.
    fn backend(&self) -> crate::metrics::AuditBackend;
    /// Record decisions in one transaction (group commit); all or none are durable on return.
    fn append(&self, batch: &[DecisionRecord]) -> Result<(), AuditError>;
    /// Record one feedback against a recorded decision.
    fn append_feedback(&self, fb: &FeedbackRecord) -> Result<(), AuditError>;
    /// Record a read of PHI-bearing data.
    fn record_access(&self, access: &AccessRecord) -> Result<(), AuditError>;
    /// Decisions of one (pseudonymous) encounter, oldest first.
    fn history(&self, encounter_pid: &str) -> Result<Vec<DecisionSummary>, AuditError>;
    /// One decision with its findings, risks, draft and sealed request.
    fn decision(&self, id: &str) -> Result<StoredDecision, AuditError>;
    /// The id of the latest decision recorded at or after `since_us` that showed the card
    /// `card_id` (card ids are deterministic, so the same card may be in many decisions; CDS
    /// Hooks feedback names only the card). `card_id` must be a UUID.
    fn latest_decision_with_card(&self, card_id: &str, since_us: i64) -> Result<Option<String>, AuditError>;
    /// Every recorded decision matching `scan`, each with its findings, oldest first.
    fn scan(&self, scan: &Scan, each: &mut dyn FnMut(StoredDecision)) -> Result<(), AuditError>;
    /// Feedback rows (for override analytics), oldest first.
    fn feedback(&self, from_us: i64, to_us: i64) -> Result<Vec<FeedbackRecord>, AuditError>;
    /// Reads of PHI recorded so far, newest first (at most `limit`).
    fn access_log(&self, limit: i64) -> Result<Vec<AccessRecord>, AuditError>;
    /// Delete the rows of `table` recorded before `cutoff_us`, and record the run; rows deleted.
    fn purge(&self, table: RetainedTable, cutoff_us: i64, actor: &str) -> Result<u64, AuditError>;
    /// Whether a decision for a request with this hash is recorded (resumable batches).
    fn has_request(&self, request_hash: &str) -> Result<bool, AuditError>;
    /// Rows per table (operations, tests).
    fn count(&self, table: &str) -> Result<i64, AuditError>;
}

/// Open the configured store (migrating its schema); `None` with `backend = "off"`.
pub fn open(settings: &AuditSettings) -> Result<Option<Arc<dyn AuditStore>>, AuditError> {
    Ok(match settings.backend {
        Backend::Off => None,
        Backend::Sqlite => {
            let path = settings.sqlite_path();
            let conn = || sqlite::SqliteConn::open(&path);
            Some(Arc::new(SqlStore::new(conn()?, conn()?)?))
        }
        Backend::Postgres => {
            let password = match settings.password_file.as_str() {
                "" => None,
                f => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| AuditError::Unavailable(format!("cannot read audit.password_file {f}: {e}")))?
                        .trim()
                        .to_string(),
                ),
            };
            let timeout = std::time::Duration::from_millis(settings.connect_timeout_ms);
            let conn = || postgres::PgConn::connect(&settings.url, password.as_deref(), timeout);
            Some(Arc::new(SqlStore::new(conn()?, conn()?)?))
        }
    })
}
