//! Target `rules`: the shipped rules against fuzz-generated valid encounters. The bytes
//! drive structured edits of a seed encounter's proto3 JSON (drop, duplicate or splice a
//! list item from another seed, shift a time, set a number to an extreme, change an enum
//! or a code), so most inputs stay decodable and many stay valid; every valid one is
//! evaluated by the rule set under a fuzz-chosen trigger. Guarantees: no panic, and every
//! finding is well formed (a rule and pack of the set, a title, no fault — a script that
//! fails on a valid encounter is a bug of the rule).

use std::{path::Path, sync::Arc, time::Instant};

use serde_json::Value;

use super::{fixed_now, Verdict};
use crate::{
    config::Settings,
    encounter::{self, Limits},
    evaluation::{Evaluation, Trigger},
    rules::{RuleService, RuleSet},
};

/// A loaded rule set and the seed encounters (canonical proto3 JSON values).
#[derive(Debug)]
pub struct RulesHarness {
    set: Arc<RuleSet>,
    seeds: Vec<Value>,
    limits: Limits,
    settings: Settings,
}

/// Extreme values a number can be set to.
const EXTREMES: [f64; 8] = [0.0, -1.0, 1e-9, 1e9, 1e300, -1e300, 0.5, 4_000_000_000.0];

/// Shifts applied to a time, seconds.
const SHIFTS: [i64; 8] = [-1, 1, -3600, 3600, -86_400, 86_400, -31_536_000, 600];

impl RulesHarness {
    /// Load the rule set of `rules_dir` (with the embedded settings, as `cdssd serve` would)
    /// and the `*.json` encounters of `seeds_dir`.
    pub fn load(rules_dir: &Path, seeds_dir: &Path) -> Result<Self, String> {
        let mut settings = Settings::embedded().map_err(|e| e.to_string())?;
        settings.rules.dir = rules_dir.to_path_buf();
        settings.rules.watch = false;
        // A generous wall-clock budget: on a loaded CI machine (debug build) slowness is not
        // a fault; the operations limit still stops an endless loop.
        settings.rules.max_rule_ms = 10_000;
        let set = RuleService::load(&settings)?.current();
        let mut names: Vec<_> = std::fs::read_dir(seeds_dir)
            .map_err(|e| format!("{}: {e}", seeds_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        let mut seeds = Vec::new();
        for p in names {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let req = encounter::request_from_json(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let enc = req.encounter.ok_or_else(|| format!("{}: no encounter", p.display()))?;
            seeds.push(serde_json::to_value(&enc).map_err(|e| e.to_string())?);
        }
        if seeds.is_empty() {
            return Err(format!("no seed encounter in {}", seeds_dir.display()));
        }
        let limits = Limits::from_settings(&settings.encounter);
        Ok(Self { set, seeds, limits, settings })
    }

    /// How many seed encounters there are.
    pub fn seed_count(&self) -> usize {
        self.seeds.len()
    }

    /// Build an encounter from `data` and, when it is valid, evaluate the rules.
    pub fn run(&self, data: &[u8]) -> Verdict {
        let mut bytes = data.iter().copied();
        let mut next = || bytes.next();
        let Some(pick) = next() else { return Verdict::Rejected };
        let mut doc = self.seeds[pick as usize % self.seeds.len()].clone();
        let trigger = match next() {
            Some(b) => Trigger::NAMED[b as usize % Trigger::NAMED.len()],
            None => Trigger::Unspecified,
        };
        while let (Some(op), Some(at)) = (next(), next()) {
            let arg = next().unwrap_or(0);
            self.edit(&mut doc, op, at, arg);
        }
        let Ok(pb_enc) = serde_json::from_value::<crate::proto::v1::Encounter>(doc) else { return Verdict::Rejected };
        let Ok(enc) = encounter::from_proto(&pb_enc, &self.limits, fixed_now()) else { return Verdict::Rejected };
        self.evaluate(Arc::new(enc), trigger);
        Verdict::Accepted
    }

    fn evaluate(&self, enc: Arc<encounter::Encounter>, trigger: Trigger) {
        let started = Instant::now();
        let ev = Evaluation {
            request_id: "fuzz".into(),
            encounter: enc,
            trigger,
            now: fixed_now(),
            tz: self.settings.timezone(),
            rule_packs: Vec::new(),
            models: Vec::new(),
            wants_draft: false,
            include_not_applicable: true,
            locale: None,
            started,
            deadline: started + std::time::Duration::from_secs(60),
            validation_us: 0,
            equivalents: self.set.value_sets.mappings().equivalents().clone(),
        };
        let run = crate::rules::service::evaluate_with(&self.set, &ev);
        for f in &run.findings {
            let pack = self.set.packs.iter().find(|p| p.id == f.pack);
            let pack = pack.unwrap_or_else(|| panic!("finding of unknown pack `{}`", f.pack));
            assert!(pack.rules.iter().any(|r| r.meta.id == f.rule_id), "finding of unknown rule `{}`", f.rule_id);
            assert!(!f.title.trim().is_empty(), "finding of {} without a title", f.rule_id);
            assert!(f.fault.is_none(), "rule {} failed on a valid encounter: {:?}", f.rule_id, f.fault);
        }
        assert_eq!(run.rule_set_version, self.set.version, "findings of another rule set");
    }

    /// One structured edit at the `at`-th node (pre-order) of the document.
    fn edit(&self, doc: &mut Value, op: u8, at: u8, arg: u8) {
        let mut nodes = 0usize;
        count(doc, &mut nodes);
        let target = at as usize % nodes.max(1);
        let mut i = 0usize;
        let donor = &self.seeds[arg as usize % self.seeds.len()];
        visit(doc, None, &mut i, target, &mut |node, key| apply(node, key, op, arg, donor));
    }
}

fn count(v: &Value, n: &mut usize) {
    *n += 1;
    match v {
        Value::Array(a) => a.iter().for_each(|x| count(x, n)),
        Value::Object(o) => o.values().for_each(|x| count(x, n)),
        _ => {}
    }
}

fn visit(v: &mut Value, key: Option<&str>, i: &mut usize, target: usize, f: &mut dyn FnMut(&mut Value, Option<&str>)) {
    if *i == target {
        *i += 1;
        return f(v, key);
    }
    *i += 1;
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| visit(x, key, i, target, f)),
        Value::Object(o) => o.iter_mut().for_each(|(k, x)| visit(x, Some(k), i, target, f)),
        _ => {}
    }
}

/// The first array under `key` anywhere in `donor`.
fn find_array<'a>(donor: &'a Value, key: &str) -> Option<&'a Vec<Value>> {
    match donor {
        Value::Object(o) => {
            o.get(key).and_then(Value::as_array).or_else(|| o.values().find_map(|v| find_array(v, key)))
        }
        Value::Array(a) => a.iter().find_map(|v| find_array(v, key)),
        _ => None,
    }
}

fn apply(node: &mut Value, key: Option<&str>, op: u8, arg: u8, donor: &Value) {
    let k = arg as usize;
    match node {
        Value::Array(items) => match op % 3 {
            0 if !items.is_empty() => {
                items.remove(k % items.len());
            }
            1 if !items.is_empty() => {
                let copy = items[k % items.len()].clone();
                items.push(copy);
            }
            _ => {
                let from = key.and_then(|key| find_array(donor, key)).filter(|d| !d.is_empty());
                if let Some(d) = from {
                    items.push(d[k % d.len()].clone());
                }
            }
        },
        Value::String(s) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                let shifted = t.to_utc() + chrono::Duration::seconds(SHIFTS[k % SHIFTS.len()] * (1 + op as i64 % 4));
                *s = shifted.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            } else if s.contains('_') && s.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) {
                // An enum name: a sibling value of the same enum is not known here, so take
                // one from the donor's same key when it has one.
                if let Some(Value::String(d)) = key.and_then(|key| find_key(donor, key)) {
                    *s = d.clone();
                }
            } else if op.is_multiple_of(2) {
                s.truncate(s.char_indices().nth(k % (s.chars().count() + 1)).map_or(s.len(), |(i, _)| i));
            } else if let Some(Value::String(d)) = key.and_then(|key| find_key(donor, key)) {
                *s = d.clone();
            }
        }
        Value::Number(_) => {
            let x = EXTREMES[k % EXTREMES.len()];
            *node = if x.fract() == 0.0 && x.abs() < 1e15 {
                Value::from(x as i64)
            } else {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            };
        }
        Value::Bool(b) => *b = !*b,
        Value::Object(o) if op.is_multiple_of(2) && !o.is_empty() => {
            let name = o.keys().nth(k % o.len()).cloned();
            if let Some(name) = name {
                o.remove(&name);
            }
        }
        _ => {}
    }
}

fn find_key<'a>(donor: &'a Value, key: &str) -> Option<&'a Value> {
    match donor {
        Value::Object(o) => o.get(key).or_else(|| o.values().find_map(|v| find_key(v, key))),
        Value::Array(a) => a.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}
