//! The rules component as the pipeline and the server see it: evaluation of a validated
//! request, the `ListRulePacks` listing, reloads (watcher, SIGHUP, admin RPC).
use std::sync::Arc;

use super::api::encounter::EncounterView;
use super::error::RulesError;
use super::eval::{EvalOptions, RuleRun};
use super::finding::{Evidence, Finding, Severity, Status, TrailStep};
use super::load::{Compiler, RuleSet};
use super::store::{ReloadOutcome, RuleStore};
use super::RuleLimits;
use crate::config::Settings;
use crate::decision::timestamp;
use crate::diagnostic::Diagnostic;
use crate::encounter::Limits as EncounterLimits;
use crate::evaluation::Evaluation;
use crate::locale::Locale;
use crate::proto::v1 as pb;

/// The rules in force and how to reload them.
#[derive(Debug)]
pub struct RuleService {
    store: Arc<RuleStore>,
    default_locale: Locale,
}

/// The engine limits configured in `[rules]`.
pub fn limits_from(settings: &Settings) -> RuleLimits {
    RuleLimits {
        max_operations: settings.rules.max_operations,
        time_budget_ms: settings.rules.max_rule_ms,
        ..RuleLimits::default()
    }
}

/// The compiler configured by `settings` (limits, hospital time zone, local code systems).
pub fn compiler_from(settings: &Settings) -> Compiler {
    Compiler::new(limits_from(settings), settings.timezone(), EncounterLimits::from_settings(&settings.encounter))
        .with_locales(settings.rule_locales())
        .with_measure_sets(&settings.rules.measure_sets)
        .with_examples_dir(Some(settings.rules.examples_dir.clone()))
        .with_require_passing_tests(settings.rules.require_passing_tests)
        .with_quarantine(super::quarantine::Policy {
            after_hits: settings.rules.quarantine_after,
            window: std::time::Duration::from_secs(settings.rules.quarantine_window_s),
            cool_down: std::time::Duration::from_secs(settings.rules.quarantine_cool_down_s),
        })
}

impl RuleService {
    /// Compile the rule set configured in `settings.rules`; every error, one per line.
    pub fn load(settings: &Settings) -> Result<Self, String> {
        let store = RuleStore::open(&settings.rules.dir, compiler_from(settings)).map_err(|e| match e {
            RulesError::Load(errs) => {
                format!("rules in {}: {errs}", settings.rules.dir.display())
            }
            other => other.to_string(),
        })?;
        Ok(Self { store: Arc::new(store), default_locale: settings.default_locale() })
    }

    pub fn store(&self) -> &Arc<RuleStore> {
        &self.store
    }

    /// The set in force (take it once per request).
    pub fn current(&self) -> Arc<RuleSet> {
        self.store.current()
    }

    /// Reload now (blocking): see [`RuleStore::reload`].
    pub fn reload(&self, cause: crate::reload::Cause) -> ReloadOutcome {
        self.store.reload(cause)
    }

    /// Rule packs in force and the outcome of the last reload, for `ListRulePacks`.
    pub fn list(&self) -> pb::ListRulePacksResponse {
        self.list_in(self.default_locale)
    }

    /// Local codes seen that the set in force cannot read, for `ListUnmappedCodes`.
    pub fn unmapped_codes(&self) -> pb::ListUnmappedCodesResponse {
        let set = self.store.current();
        let (codes, overflow) = super::unmapped::list(&set.value_sets);
        pb::ListUnmappedCodesResponse {
            rule_set_version: set.version.clone(),
            codes: codes
                .into_iter()
                .map(|c| pb::UnmappedCode {
                    list: c.list.to_string(),
                    code_system: c.system,
                    code: c.code,
                    count: c.count,
                    first_seen_time: Some(timestamp(c.first_seen)),
                    last_seen_time: Some(timestamp(c.last_seen)),
                })
                .collect(),
            overflow_count: overflow,
        }
    }

    /// `/readyz` for the rules: with `rules.require_passing_tests` on, not ready while a
    /// pack in force is not verified (fail closed: nothing shows its rules work); with it
    /// off, ready — [`RuleService::readiness_note`] then says why the packs are unverified.
    pub fn readiness(&self) -> Result<(), String> {
        match self.unverified_packs() {
            Some(why) if self.store.compiler().require_passing_tests() => Err(why),
            _ => Ok(()),
        }
    }

    /// What a ready `/readyz` adds when packs in force are not verified (the gate is off).
    pub fn readiness_note(&self) -> Option<String> {
        self.unverified_packs()
            .filter(|_| !self.store.compiler().require_passing_tests())
            .map(|why| format!("{why} (in force because rules.require_passing_tests = false)"))
    }

    /// `N rule pack(s) in force without verified test cases: stemi (cases_not_found), …`.
    fn unverified_packs(&self) -> Option<String> {
        let set = self.store.current();
        let packs = set.verification.unverified();
        if packs.is_empty() {
            return None;
        }
        let list: Vec<String> = packs.iter().map(|(id, r)| format!("{id} ({})", r.label())).collect();
        Some(format!("{} rule pack(s) in force without verified test cases: {}", packs.len(), list.join(", ")))
    }

    /// [`RuleService::list`] with titles in `locale`.
    pub fn list_in(&self, locale: Locale) -> pb::ListRulePacksResponse {
        let set = self.store.current();
        let last = self.store.last_reload();
        pb::ListRulePacksResponse {
            rule_set_version: set.version.clone(),
            loaded_time: Some(timestamp(set.loaded_at)),
            packs: set
                .packs
                .iter()
                .map(|p| (p, set.verification.pack(&p.id)))
                .map(|(p, cases)| pb::RulePack {
                    test_cases_total: cases.total,
                    test_cases_passed: cases.passed,
                    test_cases_not_found: cases.not_found,
                    verified: cases.verified(),
                    test_case_failures: cases.load_errors().iter().map(Diagnostic::to_proto).collect(),
                    id: p.id.clone(),
                    title: p.title.clone(),
                    rules: p
                        .rules
                        .iter()
                        .map(|r| pb::RuleInfo {
                            id: r.meta.id.clone(),
                            version: r.meta.version.clone(),
                            title: r.meta.title.get(locale).to_string(),
                            measure: r.meta.measure.clone(),
                            measure_set: r.meta.measure_set.clone(),
                            measure_id: r.meta.measure_id.clone(),
                            measure_version: r.meta.measure_version.clone(),
                            outcomes: r.meta.outcomes.iter().map(|o| o.label()).collect(),
                            triggers: r.meta.triggers.iter().map(|t| t.proto_name()).collect(),
                            trigger_values: r
                                .meta
                                .triggers
                                .iter()
                                .filter_map(|t| pb::Trigger::from_str_name(&t.proto_name()))
                                .map(|t| t as i32)
                                .collect(),
                            path: r.path.clone(),
                            overrides: r.meta.overrides.clone().unwrap_or_default(),
                            overridden_by: set.overridden_by(&r.meta.id).unwrap_or_default().to_string(),
                        })
                        .collect(),
                })
                .collect(),
            last_reload_status: load_status(last.loaded) as i32,
            last_reload_errors: last.errors.iter().map(crate::diagnostic::Diagnostic::to_proto).collect(),
            last_reload_time: Some(timestamp(last.at)),
            last_reload: Some(last.to_proto()),
            require_passing_tests: self.store.compiler().require_passing_tests(),
        }
    }
}

/// Run the rules of `set` (the request's snapshot) for a validated request, on this
/// thread: the findings and the version of the set that produced them.
pub fn run(set: &RuleSet, ev: &Evaluation) -> (Vec<pb::Finding>, String) {
    let run = evaluate_with(set, ev);
    (run.findings.iter().map(finding_to_proto).collect(), run.rule_set_version)
}

/// Run the rules of `set` for a validated request; the domain findings.
pub fn evaluate_with(set: &RuleSet, ev: &Evaluation) -> RuleRun {
    let enc = EncounterView::dynamic(ev.encounter.clone(), set.value_sets.clone());
    let locale = ev.text_locale();
    let opts = EvalOptions { now: ev.now, trigger: ev.trigger.named(), packs: ev.rule_packs.clone(), locale };
    let run = set.evaluate(&enc, &opts);
    for f in &run.findings {
        set.metrics.rule_evaluated(&f.rule_id, status_to_proto(f.status));
    }
    for (pack, d) in &run.pack_durations {
        set.metrics.pack_duration(pack, *d);
    }
    run
}

pub fn load_status(loaded: bool) -> pb::LoadStatus {
    if loaded {
        pb::LoadStatus::Loaded
    } else {
        pb::LoadStatus::Failed
    }
}

pub fn status_to_proto(s: Status) -> pb::FindingStatus {
    match s {
        Status::Met => pb::FindingStatus::Met,
        Status::NotMet => pb::FindingStatus::NotMet,
        Status::Excluded => pb::FindingStatus::Excluded,
        Status::NotApplicable => pb::FindingStatus::NotApplicable,
        Status::Pending => pb::FindingStatus::Pending,
        Status::Error => pb::FindingStatus::Error,
        Status::MissingData => pb::FindingStatus::MissingData,
    }
}

fn severity_to_proto(s: Severity) -> pb::Severity {
    match s {
        Severity::Info => pb::Severity::Info,
        Severity::Warning => pb::Severity::Warning,
        Severity::Critical => pb::Severity::Critical,
    }
}

pub fn evidence_to_proto(e: &Evidence) -> pb::Evidence {
    pb::Evidence {
        item_kind: pb::ItemKind::of_list(&e.item_type) as i32,
        item_type: e.item_type.clone(),
        item_id: e.item_id.clone(),
        label: e.label.clone(),
        code: e.code.as_ref().map(|c| pb::Coding {
            system: c.system.clone(),
            code: c.code.clone(),
            display: c.display.clone(),
        }),
        value: e.value.clone(),
        time: e.time.map(timestamp),
    }
}

/// The contract's finding for `f` (its `finding_id` is set with the card ids, by
/// `decision::assemble`, for the findings the decision keeps).
pub fn finding_to_proto(f: &Finding) -> pb::Finding {
    pb::Finding {
        finding_id: String::new(),
        rule_id: f.rule_id.clone(),
        rule_version: f.rule_version.clone(),
        pack: f.pack.clone(),
        title: f.title.clone(),
        measure: f.measure.clone(),
        status: status_to_proto(f.status) as i32,
        severity: severity_to_proto(f.severity) as i32,
        message: f.message.clone(),
        evidence: f.evidence.iter().map(evidence_to_proto).collect(),
        deadline: f.deadline.map(timestamp),
        exclusion_reason: f.exclusion_reason.clone(),
        missing_data: f.missing_data.clone(),
        duration_us: f.duration.as_micros() as u64,
        measure_set: f.measure_set.clone(),
        measure_id: f.measure_id.clone(),
        measure_version: f.measure_version.clone(),
        reason_key: f.reason_key.clone(),
        locale: f.locale.tag().to_string(),
        trail: f.trail.iter().map(trail_to_proto).collect(),
        trail_truncated: f.trail_truncated,
        local_variant_of: f.local_variant_of.clone(),
    }
}

fn trail_to_proto(t: &TrailStep) -> pb::TrailStep {
    pb::TrailStep {
        kind: t.kind.clone(),
        code: t.code.clone(),
        accepted: t.accepted,
        item: t.item.as_ref().map(evidence_to_proto),
        time: t.time.map(timestamp),
        end_time: t.end_time.map(timestamp),
        text: t.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One source for defaults: the `Default` impls of the rule limits and the quarantine
    /// policy say what the embedded configuration says.
    #[test]
    fn rule_defaults_agree_with_the_embedded_configuration() {
        let s = Settings::embedded().expect("embedded settings");
        assert_eq!(limits_from(&s), RuleLimits::default());
        let q = super::super::quarantine::Policy::default();
        assert_eq!(
            (q.after_hits, q.window.as_secs(), q.cool_down.as_secs()),
            (s.rules.quarantine_after, s.rules.quarantine_window_s, s.rules.quarantine_cool_down_s)
        );
    }
}
