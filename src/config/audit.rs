//! The `[audit]` configuration section and its validation.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigProblem;

/// Where decisions are recorded.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One SQLite file (WAL) in `audit.dir`: the embedded default.
    Sqlite,
    /// A PostgreSQL database (`audit.url`), shared by a fleet of replicas.
    Postgres,
    /// Nothing is recorded (benchmarks, `cdssd evaluate`); the daemon warns at start.
    Off,
}

/// When a decision counts as recorded.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Committed (and fsynced, group commit) before the answer is sent.
    Sync,
}

/// What a call does when the store cannot record it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// The call fails with UNAVAILABLE: nothing is answered that was not recorded.
    FailClosed,
}

/// Days each table keeps its rows (0 = for ever); `cdssd audit purge` applies them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The encrypted requests (needed for replay; the most sensitive table).
    pub requests_days: u32,
    /// Decision records with their findings, risks and drafts.
    pub decisions_days: u32,
    /// Clinician feedback.
    pub feedback_days: u32,
    /// The record of reads of PHI-bearing data, and of purge runs.
    pub access_log_days: u32,
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub backend: Backend,
    /// Data directory (SQLite file, generated key file); relative paths are relative to the working directory.
    pub dir: PathBuf,
    /// PostgreSQL connection string (key=value form or URL) without the password.
    pub url: String,
    /// File holding the PostgreSQL password ("" = none / trust or peer authentication).
    pub password_file: String,
    /// Key file (TOML: pseudonym key, current key id, keys); "" = `<dir>/audit-keys.toml`.
    pub key_file: String,
    /// Create the key file with fresh random keys when it does not exist.
    pub create_key_file: bool,
    pub durability: Durability,
    pub on_unavailable: OnUnavailable,
    /// Most decisions committed in one transaction (group commit).
    pub max_batch: usize,
    /// Decisions waiting for the writer at most; callers beyond it wait.
    pub queue: usize,
    /// Connecting to PostgreSQL gives up after this long, milliseconds.
    pub connect_timeout_ms: u64,
    pub retention: Retention,
}

impl AuditSettings {
    /// The SQLite database file.
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.join("audit.sqlite3")
    }

    /// The key file in use.
    pub fn key_path(&self) -> PathBuf {
        if self.key_file.is_empty() {
            self.dir.join("audit-keys.toml")
        } else {
            PathBuf::from(&self.key_file)
        }
    }

    /// Every problem of the section.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |key: &str, message: &str| p.push(ConfigProblem::new(format!("audit.{key}"), message));
        if self.backend == Backend::Sqlite && self.dir.as_os_str().is_empty() {
            bad("dir", "must name a directory for the SQLite file");
        }
        if self.backend == Backend::Postgres {
            if self.url.trim().is_empty() {
                bad("url", "is required with backend = \"postgres\"");
            } else if let Err(e) = self.url.parse::<postgres::Config>() {
                bad("url", &format!("is not a PostgreSQL connection string: {e}"));
            } else if self.url.contains("password") {
                bad("url", "must not contain the password; use audit.password_file");
            }
        }
        if self.backend != Backend::Off && self.key_file.is_empty() && self.dir.as_os_str().is_empty() {
            bad("key_file", "is required when audit.dir is empty");
        }
        if self.max_batch == 0 || self.max_batch > 10_000 {
            bad("max_batch", "must be 1..=10000");
        }
        if self.queue == 0 || self.queue > 1_000_000 {
            bad("queue", "must be 1..=1000000");
        }
        if self.connect_timeout_ms == 0 || self.connect_timeout_ms > 60_000 {
            bad("connect_timeout_ms", "must be 1..=60000");
        }
        let r = &self.retention;
        if r.requests_days != 0 && r.decisions_days != 0 && r.requests_days > r.decisions_days {
            bad("retention.requests_days", "must not exceed retention.decisions_days (a request without its decision)");
        }
        p
    }
}
