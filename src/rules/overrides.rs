//! Local variants by explicit override: a hospital's rule (its own pack or file) declares
//! in `meta()` that it replaces a shipped one, `overrides: "stroke.door_to_ct_nhc"`. In
//! the loaded set the replaced rule does not run (one card, not two); the variant's
//! findings carry `local_variant_of`.
//!
//! Checked at load, each a load error at the variant's `overrides:` (`path:line:col`):
//! - the target must be a rule of the set (else "did you mean");
//! - not the variant itself, not itself a variant (no chains), one variant per target;
//! - the same `measure_set` and `measure_id` as the target: a variant implements the same
//!   indicator, so a report that counts by measure counts it there (a different measure is
//!   a new rule, not an override);
//! - its own `measure_version`, different from the target's (e.g. `"2022-local"`): its
//!   results follow a local threshold, not the national edition, and must not be counted
//!   as that edition;
//! - the target's measure set must be one `rules.measure_sets` runs: otherwise neither
//!   would run, which is a configuration mistake, not a variant.
//!
//! The replaced rule's own test cases still run against it at every load (and in `rules
//! test`): they keep the shipped rule verified for the day the override is removed, and
//! its pack keeps its verdict. `rules check` and `ListRulePacks` say which rule replaces
//! which.
use std::collections::{BTreeMap, BTreeSet};

use super::load::Pack;
use crate::diagnostic::Diagnostic;
use crate::names::did_you_mean;

/// Replaced rule id → id of the variant that replaces it, for a set's packs; every
/// problem is pushed onto `errors` (and the faulty override is left out).
pub fn resolve(
    packs: &[Pack],
    measure_sets: Option<&BTreeSet<String>>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let rules: BTreeMap<&str, &super::load::Rule> =
        packs.iter().flat_map(|p| p.rules.iter()).map(|r| (r.meta.id.as_str(), r.as_ref())).collect();
    let ids: Vec<&str> = rules.keys().copied().collect();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (id, rule) in &rules {
        let Some(target_id) = rule.meta.overrides.as_deref() else { continue };
        let (line, col) = rule.meta.overrides_at;
        let mut err = |msg: String| errors.push(Diagnostic::new(&rule.path, line, col, msg));
        if target_id == *id {
            err(format!("'{id}' overrides itself: name the shipped rule this local variant replaces"));
            continue;
        }
        let Some(target) = rules.get(target_id) else {
            err(format!(
                "overrides: unknown rule '{target_id}' (a rule id of the set, <pack>.<file name>){}",
                did_you_mean(target_id, &ids)
            ));
            continue;
        };
        if let Some(further) = target.meta.overrides.as_deref() {
            err(format!(
                "overrides '{target_id}', which is itself a local variant (of '{further}'): a variant replaces \
                 a shipped rule directly, no chains"
            ));
            continue;
        }
        let (t, m) = (&target.meta, &rule.meta);
        if (t.measure_set.as_str(), t.measure_id.as_str()) != (m.measure_set.as_str(), m.measure_id.as_str()) {
            err(format!(
                "a local variant reports the measure it replaces: measure_set '{}' and measure_id '{}' must be \
                 '{}' and '{}' like '{target_id}' (a different measure is a new rule, not an override)",
                m.measure_set, m.measure_id, t.measure_set, t.measure_id
            ));
            continue;
        }
        if t.measure_version == m.measure_version {
            err(format!(
                "a local variant reports its own measure_version, not that of '{target_id}' ('{}'): e.g. \
                 \"{}-local\", so its results are not counted as the national edition",
                t.measure_version, t.measure_version
            ));
            continue;
        }
        if measure_sets.is_some_and(|s| !s.contains(&t.measure_set)) {
            err(format!(
                "overrides '{target_id}' of measure set '{}', which rules.measure_sets does not run: neither rule \
                 would run (add '{}' to rules.measure_sets or remove the override)",
                t.measure_set, t.measure_set
            ));
            continue;
        }
        if let Some(first) = out.get(target_id) {
            err(format!(
                "'{target_id}' is already overridden by '{first}' ({}): one local variant per rule",
                rules.get(first.as_str()).map_or("", |r| r.path.as_str())
            ));
            continue;
        }
        out.insert(target_id.to_string(), id.to_string());
    }
    // A rule that is both replaced and a variant would be a chain seen from the other end:
    // reported above at the variant of the variant.
    out
}

/// `rules check`'s lines: one per override, or nothing.
pub fn render(overrides: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (target, variant) in overrides {
        out.push_str(&format!(
            "{variant} replaces {target} (local variant: {target} does not run; its test cases still run against it)\n"
        ));
    }
    out
}
