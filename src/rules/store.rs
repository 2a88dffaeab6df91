//! The rule set in force: one `ArcSwap` ([`Slot`]) swapped all-or-nothing on reload. Requests take
//! `current()` once at their start and finish on that set, whatever reloads happen meanwhile.
//!
//! Every load (start-up, the one watcher, SIGHUP, `AdminService.ReloadRules`: all through
//! [`crate::reload`]) goes through
//! [`RuleStore::open`] / [`RuleStore::reload`], and both apply the test gate: with
//! `rules.require_passing_tests` on, a set whose own test cases do not all run and pass is
//! refused exactly like one that does not compile, each failing case named at `path:line`.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{LoadErrors, RulesError};
use super::load::{Compiler, RuleSet};
use crate::diagnostic::Diagnostic;
use crate::reload::{Cause, Component, Outcome, Reload, Slot};

/// Outcome of one reload attempt (the one outcome type of every component).
pub type ReloadOutcome = Outcome;

/// Holds the rule set in force and reloads it from its directory ([`Reload`]).
pub struct RuleStore {
    slot: Slot<RuleSet>,
    compiler: Compiler,
    dir: PathBuf,
}

impl std::fmt::Debug for RuleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleStore")
            .field("dir", &self.dir)
            .field("version", &self.slot.current().version)
            .finish_non_exhaustive()
    }
}

impl RuleStore {
    /// Compile `dir` and put it in force. Fails (with every error) when the initial set
    /// does not compile: there is no previous set to fall back on.
    pub fn open(dir: impl AsRef<Path>, compiler: Compiler) -> Result<Self, RulesError> {
        let dir = dir.as_ref().to_path_buf();
        let set = gate(&compiler, compiler.compile_dir(&dir)?).map_err(|e| RulesError::Load(LoadErrors(e)))?;
        publish_metrics(&set, None);
        tracing::info!(version = %set.version, rules = set.rule_count(), dir = %dir.display(), "rule set loaded");
        let version = set.version.clone();
        Ok(Self { slot: Slot::new(Component::Rules, set, version, Vec::new()), compiler, dir })
    }

    /// The set in force; keep the `Arc` for the whole request.
    pub fn current(&self) -> Arc<RuleSet> {
        self.slot.current()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Outcome of the last reload attempt (the initial load counts as one).
    pub fn last_reload(&self) -> ReloadOutcome {
        self.slot.last()
    }

    /// Recompile the directory; swap only if everything compiles (an identical set is
    /// not swapped). Blocking (file I/O and compilation): call from a blocking thread in
    /// async code ([`crate::reload::run`]). Reloads are serialised.
    pub fn reload(&self, cause: Cause) -> ReloadOutcome {
        let compile = || {
            self.compiler.compile_dir(&self.dir).map_err(|e| match e {
                RulesError::Load(e) => e.0,
                other => vec![Diagnostic::file(self.dir.display().to_string(), other.to_string())],
            })
        };
        self.slot.reload(
            cause,
            || compile().and_then(|set| gate(&self.compiler, set)),
            |set| set.version.clone(),
            |old, new| old.version == new.version,
            |old, new| {
                publish_metrics(new, Some(&old.version));
                tracing::info!(cause = cause.label(), from = %old.version, to = %new.version, rules = new.rule_count(), "rule set reloaded");
            },
        )
    }
}

impl Reload for RuleStore {
    fn component(&self) -> Component {
        Component::Rules
    }

    fn sources(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn reload(&self, cause: Cause) -> Outcome {
        RuleStore::reload(self, cause)
    }

    fn last_outcome(&self) -> Outcome {
        self.slot.last()
    }

    fn attempts(&self) -> u64 {
        self.slot.attempts()
    }
}

/// The test gate: the set when its cases all passed (or the gate is off, then with a
/// warning per failing case); otherwise every failing case as a load error.
fn gate(compiler: &Compiler, set: RuleSet) -> Result<RuleSet, Vec<Diagnostic>> {
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
