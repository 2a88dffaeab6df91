//! A pack's `[applies_to]` section in `pack.toml`: the encounters its rules can apply to.
//!
//! Every rule of a condition pack starts by checking the same denominator condition (a
//! STEMI diagnosis, a principal diagnosis of heart failure, an inpatient stay...). When a
//! pack declares that condition here, the engine checks it once per request, in Rust, and
//! for an encounter outside it reports each rule of the pack `not_applicable` with the
//! declared reason instead of starting 10 scripts that would each say so. That keeps the
//! cost of a request proportional to the rules that can apply to it.
//!
//! The section is a promise that must hold: for an encounter it excludes, every rule of
//! the pack must itself return `not_applicable`. The load-time probe checks that on the
//! pack's own test cases (a contradiction rejects the reload, reported at the
//! `[applies_to]` line), and `cdssd rules test` checks it on every test case of every pack.
use chrono::{DateTime, Utc};
use rhai::{Dynamic, ImmutableString};
use serde::Deserialize;

use super::api::encounter::EncounterView;
use super::finding::{Finding, Status};
use super::load::{Pack, Rule, RuleSet};
use super::valueset::ValueSets;
use crate::diagnostic::Diagnostic;

/// Encounter classes a pack may name (as `enc.class` spells them).
pub const ENCOUNTER_CLASSES: [&str; 4] = ["inpatient", "emergency", "outpatient", "observation"];

/// `[applies_to]` as written in `pack.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppliesToFile {
    /// Any diagnosis (any rank) in one of these value sets.
    #[serde(default)]
    diagnosis: Vec<String>,
    /// The principal diagnosis in one of these value sets.
    #[serde(default)]
    principal_diagnosis: Vec<String>,
    /// Any procedure in one of these value sets.
    #[serde(default)]
    procedure: Vec<String>,
    /// The encounter class is one of these.
    #[serde(default)]
    encounter_class: Vec<String>,
    /// The `not_applicable` message of every rule of the pack for other encounters:
    /// `reason = { "zh-CN" = "…", en = "…" }` (a plain string is English only).
    reason: ReasonFile,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ReasonFile {
    One(String),
    Texts(std::collections::BTreeMap<String, String>),
}

/// The compiled condition: every non-empty list must match (within a list, any entry).
#[derive(Debug, Clone)]
pub struct AppliesTo {
    pub diagnosis: Vec<ImmutableString>,
    pub principal_diagnosis: Vec<ImmutableString>,
    pub procedure: Vec<ImmutableString>,
    pub encounter_class: Vec<String>,
    /// The reason in each locale it is written in.
    pub reason: crate::rules::meta::LocalText,
    /// `pack.toml:line:col` of the section, for contradictions found later.
    pub(crate) line: u32,
    pub(crate) column: u32,
}

impl AppliesToFile {
    /// Check names against the loaded value sets; every problem at the section's position.
    pub(crate) fn compile(
        self,
        path: &str,
        (line, column): (u32, u32),
        value_sets: &ValueSets,
    ) -> Result<AppliesTo, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut err = |msg: String| errors.push(Diagnostic::new(path, line, column, msg));
        let reason = match &self.reason {
            ReasonFile::One(s) => crate::rules::meta::LocalText::untranslated(s.trim()),
            ReasonFile::Texts(m) => {
                let mut t = crate::rules::meta::LocalText::default();
                for (tag, text) in m {
                    match crate::locale::Locale::ALL.into_iter().find(|l| l.tag() == tag) {
                        Some(l) => {
                            t.0.insert(l, text.trim().to_string());
                        }
                        None => {
                            err(format!("[applies_to] reason: '{tag}' is not a supported language (\"zh-CN\" or en)"))
                        }
                    }
                }
                t
            }
        };
        if reason.0.values().all(|s| s.is_empty()) {
            err("[applies_to] needs a `reason` (the not_applicable message of its rules)".into());
        }
        let lists = [
            ("diagnosis", &self.diagnosis),
            ("principal_diagnosis", &self.principal_diagnosis),
            ("procedure", &self.procedure),
        ];
        if lists.iter().all(|(_, l)| l.is_empty()) && self.encounter_class.is_empty() {
            err("[applies_to] names no condition (diagnosis, principal_diagnosis, procedure or encounter_class)".into());
        }
        for (key, names) in lists {
            for n in names.iter().filter(|n| !value_sets.contains(n)) {
                err(format!("[applies_to] {key}: unknown value set '{n}' (files in rules/valuesets/)"));
            }
        }
        for c in self.encounter_class.iter().filter(|c| !ENCOUNTER_CLASSES.contains(&c.as_str())) {
            err(format!(
                "[applies_to] encounter_class: unknown class '{c}' (one of: {})",
                ENCOUNTER_CLASSES.join(", ")
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let names = |v: Vec<String>| v.into_iter().map(ImmutableString::from).collect();
        Ok(AppliesTo {
            diagnosis: names(self.diagnosis),
            principal_diagnosis: names(self.principal_diagnosis),
            procedure: names(self.procedure),
            encounter_class: self.encounter_class,
            reason,
            line,
            column,
        })
    }
}

impl AppliesTo {
    /// The not-applicable reason in `locale`.
    pub fn reason(&self, locale: crate::locale::Locale) -> &str {
        self.reason.get(locale)
    }

    /// Whether the pack's rules can apply to this encounter. The value-set queries go
    /// through the request's memo, so the rules that then run reuse their answers.
    pub fn matches(&self, view: &EncounterView) -> bool {
        let enc = view.encounter();
        (self.encounter_class.is_empty() || self.encounter_class.iter().any(|c| c == enc.class.as_str()))
            && (self.diagnosis.is_empty() || self.diagnosis.iter().any(|vs| view.has_diagnosis_in(vs)))
            && (self.principal_diagnosis.is_empty()
                || self.principal_diagnosis.iter().any(|vs| view.has_principal_diagnosis_in(vs)))
            && (self.procedure.is_empty() || self.procedure.iter().any(|vs| view.has_procedure_in(vs)))
    }
}

impl Pack {
    /// The pack's `[applies_to]` when `enc` is outside it (the pack's rules cannot apply);
    /// `None` when the pack has none or the encounter is inside it. An object that is not
    /// an encounter view counts as inside: the rules then run and report the problem.
    pub fn excludes(&self, enc: &Dynamic) -> Option<&AppliesTo> {
        let a = self.applies_to.as_ref()?;
        let view = enc.read_lock::<EncounterView>()?;
        (!a.matches(&view)).then_some(a)
    }
}

/// When `finding` (of `rule`, run on `enc` without the gate) contradicts the
/// `[applies_to]` of the rule's pack: the pack excludes the encounter but the rule found
/// it applicable. The error is at the section in `pack.toml`; `context` names the encounter.
pub(crate) fn contradiction(
    set: &RuleSet,
    rule: &Rule,
    enc: &Dynamic,
    finding: &Finding,
    context: &str,
) -> Option<Diagnostic> {
    if finding.status == Status::NotApplicable || finding.fault.is_some() {
        return None;
    }
    let pack = set.pack(&rule.pack)?;
    let a = pack.excludes(enc)?;
    Some(Diagnostic::new(
        &pack.pack_toml,
        a.line,
        a.column,
        format!(
            "[applies_to] excludes {context}, but rule {} finds it {} (\"{}\"): widen the section or fix the rule",
            rule.meta.id, finding.status, finding.message
        ),
    ))
}

/// `cdssd rules test`: every rule of every pack whose `[applies_to]` excludes `enc`, run
/// without the gate; the contradictions (see [`contradiction`]).
pub(crate) fn check_all(set: &RuleSet, enc: &Dynamic, now: DateTime<Utc>, context: &str) -> Vec<Diagnostic> {
    set.packs
        .iter()
        .filter(|p| p.excludes(enc).is_some())
        .flat_map(|p| p.rules.iter())
        .filter_map(|rule| {
            let f = set.evaluate_rule_within(rule, enc, now, super::probe::PROBE_BUDGET);
            contradiction(set, rule, enc, &f, context)
        })
        .collect()
}
