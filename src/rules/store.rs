//! The rule set in force: an [`ArcSwap`] swapped all-or-nothing on reload. Requests take
//! `current()` once at their start and finish on that set, whatever reloads happen meanwhile.
//!
//! Every load (start-up, watcher, SIGHUP, `AdminService.ReloadRules`) goes through
//! [`RuleStore::open`] / [`RuleStore::reload`], and both apply the test gate: with
//! `rules.require_passing_tests` on, a set whose own test cases do not all run and pass is
//! refused exactly like one that does not compile, each failing case named at `path:line`.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use super::error::{LoadError, LoadErrors, RulesError};
use super::load::{Compiler, RuleSet};

/// Outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadOutcome {
    /// True when the new set (or an identical one) is in force.
    pub loaded: bool,
    /// Version in force after the attempt.
    pub version: String,
    /// True when the content changed and a new set was swapped in.
    pub changed: bool,
    /// Every problem found; empty when loaded.
    pub errors: Vec<LoadError>,
    pub at: DateTime<Utc>,
}

/// Holds the rule set in force and reloads it from its directory.
pub struct RuleStore {
    current: ArcSwap<RuleSet>,
    compiler: Compiler,
    dir: PathBuf,
    last: Mutex<ReloadOutcome>,
    reloading: Mutex<()>,
}

impl std::fmt::Debug for RuleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleStore")
            .field("dir", &self.dir)
            .field("version", &self.current.load().version)
            .finish_non_exhaustive()
    }
}

impl RuleStore {
    /// Compile `dir` and put it in force. Fails (with every error) when the initial set
    /// does not compile: there is no previous set to fall back on.
    pub fn open(dir: impl AsRef<Path>, compiler: Compiler) -> Result<Self, RulesError> {
        let dir = dir.as_ref().to_path_buf();
        let set = gate(&compiler, compiler.compile_dir(&dir)?).map_err(|e| RulesError::Load(LoadErrors(e)))?;
        let outcome = ReloadOutcome {
            loaded: true,
            version: set.version.clone(),
            changed: true,
            errors: Vec::new(),
            at: set.loaded_at,
        };
        publish_metrics(&set, None);
        crate::metrics::rule_reload("success");
        tracing::info!(version = %set.version, rules = set.rule_count(), dir = %dir.display(), "rule set loaded");
        Ok(Self {
            current: ArcSwap::from_pointee(set),
            compiler,
            dir,
            last: Mutex::new(outcome),
            reloading: Mutex::new(()),
        })
    }

    /// The set in force; keep the `Arc` for the whole request.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Outcome of the last reload attempt (the initial load counts as one).
    pub fn last_reload(&self) -> ReloadOutcome {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Recompile the directory; swap only if everything compiles. Blocking (file I/O and
    /// compilation): call from a blocking thread in async code. Reloads are serialised.
    pub fn reload(&self, reason: &str) -> ReloadOutcome {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let compiled = self
            .compiler
            .compile_dir(&self.dir)
            .and_then(|set| gate(&self.compiler, set).map_err(|e| RulesError::Load(LoadErrors(e))));
        let outcome = match compiled {
            Ok(set) if set.version == old.version => ReloadOutcome {
                loaded: true,
                version: old.version.clone(),
                changed: false,
                errors: Vec::new(),
                at: Utc::now(),
            },
            Ok(set) => {
                let version = set.version.clone();
                publish_metrics(&set, Some(&old.version));
                tracing::info!(%reason, from = %old.version, to = %version, rules = set.rule_count(), "rule set reloaded");
                self.current.store(Arc::new(set));
                crate::metrics::rule_reload("success");
                ReloadOutcome { loaded: true, version, changed: true, errors: Vec::new(), at: Utc::now() }
            }
            Err(err) => {
                let errors = match err {
                    RulesError::Load(e) => e.0,
                    other => vec![LoadError::file(self.dir.display().to_string(), other.to_string())],
                };
                for e in &errors {
                    tracing::warn!(%reason, error = %e, "rule set reload rejected");
                }
                tracing::warn!(%reason, kept = %old.version, errors = errors.len(), "rule set reload rejected; previous set stays in force");
                crate::metrics::rule_reload("failure");
                ReloadOutcome { loaded: false, version: old.version.clone(), changed: false, errors, at: Utc::now() }
            }
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = outcome.clone();
        outcome
    }
}

/// The test gate: the set when its cases all passed (or the gate is off, then with a
/// warning per failing case); otherwise every failing case as a load error.
fn gate(compiler: &Compiler, set: RuleSet) -> Result<RuleSet, Vec<LoadError>> {
    let v = &set.verification;
    if v.all_passed() {
        return Ok(set);
    }
    if compiler.require_passing_tests() {
        return Err(v.load_errors());
    }
    for e in v.load_errors() {
        tracing::warn!(case = %format!("{}:{}", e.path, e.line), "test case failing in a set loaded with rules.require_passing_tests = false");
    }
    tracing::warn!(
        version = %set.version,
        failing = v.failures().count(),
        cases = v.total(),
        "rule set loaded although test cases fail (rules.require_passing_tests = false): its packs are not verified"
    );
    Ok(set)
}

fn publish_metrics(set: &RuleSet, previous: Option<&str>) {
    if let Some(prev) = previous {
        crate::metrics::rule_set_replaced(prev);
    }
    crate::metrics::rule_set_loaded(&set.version, set.rule_count());
    crate::metrics::rule_packs_unverified(set.verification.unverified().into_iter().map(|(_, r)| r));
}
