//! The one reload path. Everything an operator can change without a restart — the rule
//! set, the model registry, the LLM's prompt templates with the knowledge base, the TLS
//! identity with the token keys — implements [`Reload`]: compile the new version
//! completely from its files, and only when that succeeded swap it in (one `ArcSwap`,
//! [`Slot`]), then report one [`Outcome`]. Every trigger goes through it: the one file
//! watcher ([`Reloader`], debounced, follows Kubernetes `..data` swaps, skips
//! dot-entries), SIGHUP (handled by the same [`Reloader`]) and the admin RPCs
//! ([`run`]). Each attempt is counted once, in [`finish`], as
//! `cdssd_reloads_total{component, outcome}`.
//!
//! No constructor starts a watcher: a component only loads; `cdssd serve` builds the one
//! [`Reloader`] over the components and keeps it alive while serving (`cdssd evaluate`,
//! the tools and library users start none). Requests never read files: they take the
//! component's snapshot ([`Slot::current`], a pointer load) once when prepared.

mod watch;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use crate::{diagnostic::Diagnostic, proto::v1 as pb};
pub use watch::{Reloader, Running, WatchError};

/// The `component` label of `cdssd_reloads_total`: what a reload replaced
/// (and of every [`Outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The rule set (`rules.dir`).
    Rules,
    /// The model registry (`risk.dir`).
    Models,
    /// The LLM's prompt templates and knowledge base (`llm.prompt_template*`, `llm.knowledge_base`).
    LlmAssets,
    /// The TLS identity and the token issuers' keys (`[tls]`, `[auth]`).
    Security,
}

impl Component {
    /// Every component, in label order.
    pub const ALL: [Component; 4] = [Component::Rules, Component::Models, Component::LlmAssets, Component::Security];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Component::Rules => "rules",
            Component::Models => "models",
            Component::LlmAssets => "llm_assets",
            Component::Security => "security",
        }
    }
}

/// The `outcome` label of `cdssd_reloads_total` (the alerts select on `failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The new version (or an identical one) is in force.
    Success,
    /// The new version was refused; the previous one stays in force.
    Failure,
}

impl Verdict {
    /// Both values.
    pub const ALL: [Verdict; 2] = [Verdict::Success, Verdict::Failure];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
        }
    }
}

/// What started a (re)load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The first load, when the component was built.
    Startup,
    /// The watcher saw its files change.
    FileChange,
    /// SIGHUP.
    Sighup,
    /// An admin RPC (`ReloadRules`, `ReloadModels`) or a tool.
    Admin,
}

impl Cause {
    /// For logs.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Startup => "start-up",
            Cause::FileChange => "file change",
            Cause::Sighup => "SIGHUP",
            Cause::Admin => "admin RPC",
        }
    }

    fn to_proto(self) -> pb::ReloadCause {
        match self {
            Cause::Startup => pb::ReloadCause::Startup,
            Cause::FileChange => pb::ReloadCause::FileChange,
            Cause::Sighup => pb::ReloadCause::Sighup,
            Cause::Admin => pb::ReloadCause::Admin,
        }
    }
}

fn component_to_proto(c: Component) -> pb::ReloadComponent {
    match c {
        Component::Rules => pb::ReloadComponent::Rules,
        Component::Models => pb::ReloadComponent::Models,
        Component::LlmAssets => pb::ReloadComponent::LlmAssets,
        Component::Security => pb::ReloadComponent::Security,
    }
}

/// The outcome of one load or reload attempt, the same for every component (shown by
/// `ReloadRules` / `ReloadModels`, `ListRulePacks` and `ListModels` as `cdss.v1.ReloadResponse`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What was (re)loaded.
    pub component: Component,
    /// What started it.
    pub cause: Cause,
    /// True when the new version (or an identical one) is in force; false when it was
    /// refused and the previous one stays.
    pub loaded: bool,
    /// The version in force after the attempt.
    pub version: String,
    /// True when a new version was swapped in.
    pub changed: bool,
    /// Every problem found; empty when loaded (at start-up: what failed beside what loaded).
    pub errors: Vec<Diagnostic>,
    /// When the attempt finished.
    pub at: DateTime<Utc>,
}

impl Outcome {
    /// A refused attempt: `version` stays in force.
    pub fn failed(component: Component, cause: Cause, version: String, errors: Vec<Diagnostic>) -> Self {
        Self { component, cause, loaded: false, version, changed: false, errors, at: Utc::now() }
    }

    /// As `cdss.v1.ReloadResponse`.
    pub fn to_proto(&self) -> pb::ReloadResponse {
        pb::ReloadResponse {
            status: if self.loaded { pb::LoadStatus::Loaded } else { pb::LoadStatus::Failed } as i32,
            version: self.version.clone(),
            errors: self.errors.iter().map(Diagnostic::to_proto).collect(),
            component: component_to_proto(self.component) as i32,
            cause: self.cause.to_proto() as i32,
            changed: self.changed,
            time: Some(pbjson_types::Timestamp {
                seconds: self.at.timestamp(),
                nanos: self.at.timestamp_subsec_nanos() as i32,
            }),
        }
    }
}

/// Something that can be reloaded from its files without a restart.
pub trait Reload: Send + Sync + 'static {
    /// Which component this is (the outcome, the metric label, logs).
    fn component(&self) -> Component;

    /// The files and directories the watcher watches for it: a directory recursively
    /// (dot-entries skipped, a `..data` swap followed), a file through its directory
    /// (its name, or a `..data` swap there). Empty: it reloads only on SIGHUP or an RPC.
    fn sources(&self) -> Vec<PathBuf>;

    /// Compile the new version completely and swap it in only when that succeeded.
    /// Blocking (file I/O, compilation): call off the async threads ([`run`] does).
    fn reload(&self, cause: Cause) -> Outcome;

    /// The outcome of the latest attempt (the start-up load counts as one).
    fn last_outcome(&self) -> Outcome;

    /// How many attempts there were, the start-up load included.
    fn attempts(&self) -> u64;
}

/// Reload `target` on the blocking pool; the one way the async side (watcher, SIGHUP,
/// admin RPCs) reloads anything.
pub async fn run(target: Arc<dyn Reload>, cause: Cause) -> Outcome {
    let t = target.clone();
    match tokio::task::spawn_blocking(move || t.reload(cause)).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(component = target.component().label(), error = %e, "reload task failed");
            let last = target.last_outcome();
            finish(Outcome::failed(
                target.component(),
                cause,
                last.version,
                vec![Diagnostic::file("", format!("the reload task failed: {e}"))],
            ))
        }
    }
}

/// `cdssd_reloads_total{component, outcome}` (its HELP text and zero series: `metrics::exporter`).
fn count(component: Component, verdict: Verdict) {
    ::metrics::counter!("cdssd_reloads_total", "component" => component.label(), "outcome" => verdict.label())
        .increment(1);
}

/// Count and log an attempt: the one place reload outcomes are recorded.
pub fn finish(o: Outcome) -> Outcome {
    let component = o.component.label();
    let cause = o.cause.label();
    if o.loaded {
        count(o.component, Verdict::Success);
        if o.changed {
            tracing::info!(component, cause, version = %o.version, "loaded");
        } else {
            tracing::debug!(component, cause, version = %o.version, "reloaded: unchanged");
        }
        for e in o.errors.iter().take(20) {
            tracing::warn!(component, cause, problem = %e, "loaded with a problem");
        }
    } else {
        count(o.component, Verdict::Failure);
        for e in o.errors.iter().take(20) {
            tracing::warn!(component, cause, problem = %e, "reload refused");
        }
        tracing::warn!(component, cause, kept = %o.version, problems = o.errors.len(), "reload refused; the previous version stays in force");
    }
    o
}

/// The one `ArcSwap` of a component: the version in force, swapped all or nothing, with
/// the outcome of the latest attempt. Attempts are serialised.
pub struct Slot<T> {
    component: Component,
    current: ArcSwap<T>,
    last: Mutex<Outcome>,
    attempts: AtomicU64,
    serial: Mutex<()>,
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("component", &self.component).field("last", &self.last).finish_non_exhaustive()
    }
}

impl<T: Send + Sync> Slot<T> {
    /// Put the start-up version in force; `problems` (a model that failed while the
    /// others loaded) make the start-up outcome a failed one. Counted like any attempt.
    pub fn new(component: Component, initial: T, version: String, problems: Vec<Diagnostic>) -> Self {
        let outcome = Outcome {
            component,
            cause: Cause::Startup,
            loaded: problems.is_empty(),
            version,
            changed: true,
            errors: problems,
            at: Utc::now(),
        };
        Self {
            component,
            current: ArcSwap::from_pointee(initial),
            last: Mutex::new(finish(outcome)),
            attempts: AtomicU64::new(1),
            serial: Mutex::new(()),
        }
    }

    /// The version in force (a pointer load, no I/O): keep the `Arc` for the whole request.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// The latest outcome.
    pub fn last(&self) -> Outcome {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Attempts so far, start-up included.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// One attempt: `compile` builds the new version completely (or returns every
    /// problem); it replaces the one in force unless `identical` says nothing changed.
    /// `swapped(old, new)` runs after a swap (metrics of the component). Counted, logged.
    pub fn reload(
        &self,
        cause: Cause,
        compile: impl FnOnce() -> Result<T, Vec<Diagnostic>>,
        version: impl Fn(&T) -> String,
        identical: impl Fn(&T, &T) -> bool,
        swapped: impl FnOnce(&T, &T),
    ) -> Outcome {
        let _one_at_a_time = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let outcome = match compile() {
            Ok(new) if identical(&old, &new) => Outcome {
                component: self.component,
                cause,
                loaded: true,
                version: version(&old),
                changed: false,
                errors: Vec::new(),
                at: Utc::now(),
            },
            Ok(new) => {
                let new = Arc::new(new);
                self.current.store(new.clone());
                swapped(&old, &new);
                Outcome {
                    component: self.component,
                    cause,
                    loaded: true,
                    version: version(&new),
                    changed: true,
                    errors: Vec::new(),
                    at: Utc::now(),
                }
            }
            Err(errors) => Outcome::failed(self.component, cause, version(&old), errors),
        };
        let outcome = finish(outcome);
        self.attempts.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = outcome.clone();
        outcome
    }
}

#[cfg(test)]
mod tests;
