//! The one place the hardened Rhai engine is built.
//!
//! Every limit is set explicitly (never left to Rhai's defaults, which differ between
//! debug and release builds). Scripts get no `eval`, no `import`, no file system,
//! no clock other than `now()` (the evaluation time), and strict variables.
//! A per-rule wall-clock budget is enforced through `on_progress` and a thread-local
//! deadline set around each rule call ([`Budget`]).
use std::cell::Cell;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{Engine, OptimizationLevel};
use serde::Deserialize;

use super::api;

/// Limits applied to every rule. Defaults are generous for real measures (a typical
/// rule uses a few hundred operations) and tight enough to stop a runaway script in
/// well under a millisecond of CPU on operations alone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleLimits {
    /// Rhai operations per rule call (`Engine::set_max_operations`).
    pub max_operations: u64,
    /// Nested function calls (recursion depth).
    pub max_call_levels: usize,
    /// Expression nesting depth at the top level of a script (parse time).
    pub max_expr_depth: usize,
    /// Expression nesting depth inside functions (parse time).
    pub max_fn_expr_depth: usize,
    /// Longest string a script may build, in bytes.
    pub max_string_size: usize,
    /// Largest array a script may build.
    pub max_array_size: usize,
    /// Largest object map a script may build.
    pub max_map_size: usize,
    /// Variables in scope at once.
    pub max_variables: usize,
    /// Functions a script may define.
    pub max_functions: usize,
    /// Wall-clock budget per rule call, milliseconds.
    pub time_budget_ms: u64,
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self {
            // Must equal `rules.max_operations` / `rules.max_rule_ms` of defaults.toml (test:
            // rules::service::tests): a compiler built without settings limits like the daemon.
            max_operations: 200_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_fn_expr_depth: 64,
            max_string_size: 16 * 1024,
            max_array_size: 10_000,
            max_map_size: 1_000,
            max_variables: 256,
            max_functions: 64,
            time_budget_ms: 50,
        }
    }
}

impl RuleLimits {
    pub fn time_budget(&self) -> Duration {
        Duration::from_millis(self.time_budget_ms)
    }

    /// Every invalid setting, as `(field, message)`.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errs = Vec::new();
        let checks: [(&'static str, u64); 10] = [
            ("max_operations", self.max_operations),
            ("max_call_levels", self.max_call_levels as u64),
            ("max_expr_depth", self.max_expr_depth as u64),
            ("max_fn_expr_depth", self.max_fn_expr_depth as u64),
            ("max_string_size", self.max_string_size as u64),
            ("max_array_size", self.max_array_size as u64),
            ("max_map_size", self.max_map_size as u64),
            ("max_variables", self.max_variables as u64),
            ("max_functions", self.max_functions as u64),
            ("time_budget_ms", self.time_budget_ms),
        ];
        for (name, v) in checks {
            if v == 0 {
                errs.push((name, "must be greater than 0".to_string()));
            }
        }
        if self.max_call_levels < 2 {
            errs.push(("max_call_levels", "must be at least 2 (meta/evaluate plus one helper)".into()));
        }
        errs
    }
}

thread_local! {
    /// Deadline of the rule call running on this thread, if any.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Message carried by the `ErrorTerminated` a script gets when its time budget runs out.
pub const TIME_BUDGET_EXCEEDED: &str = "time budget exceeded";

/// Sets the per-rule wall-clock deadline for the current thread while alive.
#[must_use = "the budget applies only while the guard is alive"]
pub struct Budget {
    previous: Option<Instant>,
}

impl Budget {
    pub fn start(budget: Duration) -> Self {
        let previous = DEADLINE.with(|d| d.replace(Some(Instant::now() + budget)));
        Self { previous }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

/// How often (in operations) the progress callback reads the clock.
const CLOCK_CHECK_EVERY: u64 = 1024;

/// Build the hardened engine with the rule API registered.
pub fn build_engine(limits: &RuleLimits, tz: Tz) -> Engine {
    let mut engine = Engine::new_raw();
    // Standard library minus the clock (`timestamp`) and blobs/bit fields: rules read time
    // only through `now()`, which is the evaluation time of the request.
    for module in [
        CorePackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(module);
    }

    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_max_modules(0)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_optimization_level(OptimizationLevel::Simple)
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new())
        .disable_symbol("eval")
        .disable_symbol("import")
        .disable_symbol("export");

    // Scripts must not write patient data anywhere: print/debug go nowhere.
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});

    engine.on_progress(|ops| {
        if ops % CLOCK_CHECK_EVERY != 0 {
            return None;
        }
        let over = DEADLINE.with(|d| d.get().is_some_and(|dl| Instant::now() >= dl));
        over.then(|| TIME_BUDGET_EXCEEDED.into())
    });

    api::register(&mut engine, tz);
    engine
}
