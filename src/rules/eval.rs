//! Running rules against an encounter: one call per rule, each with its own operation
//! and time budget; a failing rule yields an `error` finding and never affects others.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rhai::{CallFnOptions, Dynamic, EvalAltResult, Position, Scope};

use super::api::encounter::EncounterView;
use super::api::outcome::script_result;
use super::api::time::CallState;
use super::engine::Budget;
use super::error::pos_parts;
use super::finding::{Finding, Status};
use super::load::{Rule, RuleSet};
use crate::diagnostic::Diagnostic;
use crate::evaluation::Trigger;
use crate::locale::Locale;

/// Innermost position and a message QC staff can act on, for a script error (English).
pub fn describe_error(err: &EvalAltResult) -> (Position, String) {
    let d = super::script_errors::describe(err);
    (d.pos, d.error.render(Locale::En))
}

/// Like [`describe_error`], in both locales ([`super::script_errors`]), plus a fixed kind
/// name that is safe to log (the message may carry values a script put in it; the kind
/// never does) and the innermost script function the error happened in.
pub fn describe_error_kind(err: &EvalAltResult) -> (Position, crate::diagnostic::Text, &'static str, Option<String>) {
    let d = super::script_errors::describe(err);
    (d.pos, d.text(), d.log_kind(), d.in_fn)
}

/// What to run and when.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// The evaluation time (`now()` in scripts).
    pub now: DateTime<Utc>,
    /// The trigger; `None` runs every rule regardless of its triggers.
    pub trigger: Option<Trigger>,
    /// Packs to run; empty runs every pack.
    pub packs: Vec<String>,
    /// Language of titles, messages and trails.
    pub locale: Locale,
}

/// Findings of one evaluation and the version of the set that produced them.
#[derive(Debug, Clone)]
pub struct RuleRun {
    pub rule_set_version: String,
    pub findings: Vec<Finding>,
    /// Time per pack (only packs that ran).
    pub pack_durations: Vec<(String, Duration)>,
    pub total: Duration,
}

impl RuleSet {
    /// Run the selected rules on one encounter (sequentially, on this thread). Never fails:
    /// a rule that errors or exceeds its budget yields an `error` finding.
    pub fn evaluate(&self, enc: &Dynamic, opts: &EvalOptions) -> RuleRun {
        let started = Instant::now();
        let mut findings = Vec::with_capacity(self.rule_count());
        let mut pack_durations = Vec::new();
        let chosen = |id: &str| opts.packs.is_empty() || opts.packs.iter().any(|p| p == id);
        // A local variant runs when its own pack or the replaced rule's pack is asked for.
        let variant_chosen =
            |rule: &Rule| rule.meta.overrides.as_deref().and_then(|t| self.rule(t)).is_some_and(|t| chosen(&t.pack));
        for pack in &self.packs {
            let pack_chosen = chosen(&pack.id);
            if !pack_chosen && !pack.rules.iter().any(|r| variant_chosen(r)) {
                continue;
            }
            let pack_started = Instant::now();
            let outside = pack.excludes(enc);
            for rule in &pack.rules {
                if !pack_chosen && !variant_chosen(rule) {
                    continue;
                }
                // Replaced by a local variant: only the variant's finding (one card, not two).
                if self.overrides.contains_key(&rule.meta.id) {
                    continue;
                }
                if let Some(t) = &opts.trigger {
                    if !rule.meta.runs_on(*t) {
                        continue;
                    }
                }
                if !self.enabled(rule) {
                    continue;
                }
                findings.push(match outside {
                    Some(a) => not_applicable(rule, a.reason(opts.locale), opts.locale),
                    None => self.evaluate_rule_guarded(rule, enc, opts.now, opts.locale),
                });
            }
            pack_durations.push((pack.id.clone(), pack_started.elapsed()));
        }
        RuleRun { rule_set_version: self.version.clone(), findings, pack_durations, total: started.elapsed() }
    }

    /// Run one rule as a request would: `not_applicable` without running the script when
    /// the encounter is outside its pack's `[applies_to]`.
    pub fn evaluate_rule_gated(
        &self,
        rule: &Rule,
        enc: &Dynamic,
        now: DateTime<Utc>,
        budget: Duration,
        locale: Locale,
    ) -> Finding {
        match self.pack(&rule.pack).and_then(|p| p.excludes(enc)) {
            Some(a) => not_applicable(rule, a.reason(locale), locale),
            None => self.evaluate_rule_in(rule, enc, now, budget, locale),
        }
    }

    /// Run one rule. `enc` is the encounter object built by
    /// [`EncounterView::dynamic`](super::api::encounter::EncounterView::dynamic).
    pub fn evaluate_rule(&self, rule: &Rule, enc: &Dynamic, now: DateTime<Utc>) -> Finding {
        self.evaluate_rule_within(rule, enc, now, self.limits.time_budget())
    }

    /// [`RuleSet::evaluate_rule`] with an explicit wall-clock budget (the load-time probe
    /// uses a generous one, so a busy machine cannot get a good rule set rejected; the
    /// operation limit still stops endless loops).
    pub fn evaluate_rule_within(&self, rule: &Rule, enc: &Dynamic, now: DateTime<Utc>, budget: Duration) -> Finding {
        self.evaluate_rule_in(rule, enc, now, budget, Locale::default())
    }

    /// A rule on the request path: skipped while quarantined (an `error` finding saying so),
    /// and its budget hits recorded (see [`super::quarantine`]).
    fn evaluate_rule_guarded(&self, rule: &Rule, enc: &Dynamic, now: DateTime<Utc>, locale: Locale) -> Finding {
        if let Some(left) = rule.quarantine.blocked(Instant::now()) {
            return super::quarantine::finding(
                blank_finding(rule, Status::Error, locale),
                rule,
                &self.quarantine,
                left,
            );
        }
        let (f, kind) = self.run_rule(rule, enc, now, self.limits.time_budget(), locale);
        let budget_hit = matches!(kind, Some("too_many_operations" | "time_budget"));
        if let super::quarantine::Recorded::Quarantined { hits } =
            rule.quarantine.record(&self.quarantine, budget_hit, Instant::now())
        {
            tracing::error!(
                rule_id = %rule.meta.id,
                path = %rule.path,
                hits,
                cool_down_s = self.quarantine.cool_down.as_secs(),
                "rule quarantined: it keeps stopping at its operation or time budget"
            );
            self.metrics.rule_quarantined(&rule.meta.id);
        }
        f
    }

    /// [`RuleSet::evaluate_rule_within`] with its texts in `locale`.
    pub fn evaluate_rule_in(
        &self,
        rule: &Rule,
        enc: &Dynamic,
        now: DateTime<Utc>,
        budget: Duration,
        locale: Locale,
    ) -> Finding {
        self.run_rule(rule, enc, now, budget, locale).0
    }

    /// One call of the rule's script; with the finding, the fixed kind of its error, if any.
    fn run_rule(
        &self,
        rule: &Rule,
        enc: &Dynamic,
        now: DateTime<Utc>,
        budget: Duration,
        locale: Locale,
    ) -> (Finding, Option<&'static str>) {
        let started = Instant::now();
        let implausible = enc.read_lock::<EncounterView>().is_some_and(|v| !v.encounter().implausible.is_empty());
        if implausible {
            enc.read_lock::<EncounterView>().map(|v| v.take_implausible_asked());
        }
        let recording = super::trail::Recording::start(rule.exclusion_sets.clone());
        let result = {
            let _budget = Budget::start(budget);
            self.engine.call_fn_with_options::<Dynamic>(
                CallFnOptions::new().eval_ast(false).rewind_scope(false).with_tag(CallState {
                    now,
                    view: enc.read_lock::<EncounterView>().map(|v| v.clone()),
                    pack: rule.pack_id.clone(),
                }),
                &mut Scope::new(),
                &rule.ast,
                "evaluate",
                (enc.clone(),),
            )
        };
        let recorded = recording.finish();
        let (el, ec) = pos_parts(rule.evaluate_pos);
        let outcome = match result {
            Ok(v) => match enc.read_lock::<EncounterView>() {
                Some(view) => script_result(v, self.tz, view.encounter(), &rule.meta, locale)
                    .map_err(|msg| (Diagnostic::new(&rule.path, el, ec, msg), "bad_result")),
                None => Err((Diagnostic::new(&rule.path, el, ec, "the encounter object is missing"), "bad_input")),
            },
            Err(e) => {
                let (pos, msg, kind, in_fn) = describe_error_kind(&e);
                let pos = if pos.is_none() { rule.evaluate_pos } else { pos };
                // An error inside a pack-library function is reported in lib.rhai.
                let path = match (&rule.lib_path, in_fn) {
                    (Some(lib), Some(f)) if rule.lib_fns.contains(&f) && !pos.is_none() => lib.as_str(),
                    _ => rule.path.as_str(),
                };
                Err((super::error::at_pos(path, pos, msg), kind))
            }
        };
        let mut f = blank_finding(rule, Status::Error, locale);
        let mut error_kind = None;
        match outcome {
            Ok(r) => {
                f.status = r.status;
                f.reason_key = r.reason_key;
                f.message = r.message;
                f.evidence = r.evidence;
                f.deadline = r.deadline;
                f.exclusion_reason = r.exclusion_reason;
                f.missing_data = r.missing_data;
                if let Some(view) = enc.read_lock::<EncounterView>() {
                    if implausible {
                        needed_implausible(&mut f, view.encounter(), &view.take_implausible_asked());
                    }
                    super::trail::render::finish(&mut f, recorded, self.tz, view.encounter());
                }
            }
            Err((fault, kind)) => {
                // The message may quote script values: log only where and what kind.
                tracing::warn!(rule_id = %rule.meta.id, path = %rule.path, line = fault.line, kind, "rule failed");
                f.message = format!("{}{}", locale.pick("规则错误：", "Rule error: "), fault.render(locale));
                f.fault = Some(fault);
                error_kind = Some(kind);
            }
        }
        f.duration = started.elapsed();
        (f, error_kind)
    }
}

/// A finding whose rule asked for value sets matching observations left out as
/// implausible (`asked`, indices into `enc.implausible`) was decided without them — met,
/// not met, excluded, pending, or not applicable because a denominator criterion read
/// the value: it becomes missing data, naming each item (`list/id`) and why, so one
/// monitor artefact is visible instead of a wrong verdict.
pub fn needed_implausible(f: &mut Finding, enc: &crate::encounter::Encounter, asked: &[usize]) {
    if asked.is_empty() || matches!(f.status, Status::Error | Status::MissingData) {
        return;
    }
    let items: Vec<&crate::encounter::Implausible> = asked.iter().filter_map(|&i| enc.implausible.get(i)).collect();
    let names: Vec<String> = items.iter().map(|i| format!("{}/{}", i.list, i.item_id)).collect();
    let described: Vec<String> = items
        .iter()
        .map(|i| {
            let q = i.quantity;
            let name = f.locale.pick(q.name_zh, q.name);
            format!("{}/{} ({name} {}–{} {})", i.list, i.item_id, q.plausible.0, q.plausible.1, q.canonical)
        })
        .collect();
    f.message = f.locale.pick(
        &format!("缺少可用数据：{} 的数值超出生理可能范围，已排除在评估之外；请核实该值后重新评估。", described.join("；")),
        &format!(
            "Missing usable data: {} outside the physiologically possible range, left out of evaluation; check the value and evaluate again.",
            described.join("; ")
        ),
    ).to_string();
    f.status = Status::MissingData;
    f.reason_key = "implausible_value".to_string();
    f.deadline = None;
    f.exclusion_reason = String::new();
    for n in names {
        if !f.missing_data.contains(&n) {
            f.missing_data.push(n);
        }
    }
}

/// The finding of a rule skipped because the encounter is outside its pack.
fn not_applicable(rule: &Rule, reason: &str, locale: Locale) -> Finding {
    let mut f = blank_finding(rule, Status::NotApplicable, locale);
    f.message = reason.to_string();
    f
}

/// A finding naming `rule`, with `status` and nothing else filled in.
pub(super) fn blank_finding(rule: &Rule, status: Status, locale: Locale) -> Finding {
    let m = &rule.meta;
    Finding {
        rule_id: m.id.clone(),
        rule_version: m.version.clone(),
        pack: rule.pack.clone(),
        title: m.title.get(locale).to_string(),
        measure: m.measure.clone(),
        measure_set: m.measure_set.clone(),
        measure_id: m.measure_id.clone(),
        measure_version: m.measure_version.clone(),
        reason_key: String::new(),
        locale,
        trail: Vec::new(),
        trail_truncated: false,
        status,
        severity: m.severity,
        message: String::new(),
        evidence: Vec::new(),
        deadline: None,
        exclusion_reason: String::new(),
        missing_data: Vec::new(),
        duration: Duration::ZERO,
        fault: None,
        local_variant_of: m.overrides.clone().unwrap_or_default(),
    }
}
