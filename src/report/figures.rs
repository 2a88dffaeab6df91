//! Report figures that are not rates of a rule: continuous measures (median and
//! quartiles of door-to-needle and door-to-device time), in-hospital mortality per
//! condition and mean days of antimicrobial therapy. They are report figures only —
//! no rule, no card. Counted over the same decisions as the measures (each encounter
//! discharged in the period once: its latest evaluation at or after discharge), from the
//! request sealed with it (opened here: a PHI read, recorded by the caller).
//!
//! - **Continuous measures**: population = the encounters whose finding of the defining
//!   rule is `met` or `not_met` (the rule's denominator, after its exclusions); value =
//!   minutes from `encounter.arrival_time` to the start time of the item the rule accepted
//!   (the first evidence reference of the given list), rounded up to whole minutes as the
//!   rules count them. Quartiles by linear interpolation between order statistics
//!   (Hyndman & Fan 1996 type 7: position (n − 1)·p, 0-based; the default of R and NumPy).
//! - **Condition** (pack): an encounter belongs to a condition when it has a finding of
//!   that pack, passing the report's filter, whose status is not `not_applicable`.
//! - **In-hospital mortality**: died = `discharge_disposition` EXPIRED; rate = died /
//!   encounters of the condition, Wilson 95 % interval.
//! - **Antimicrobial days**: days of therapy = distinct calendar days (record's hospital time
//!   zone) with at least one given administration (completed or in progress) of a drug in
//!   the value set `antimicrobial_systemic`; the mean is over the condition's encounters with
//!   at least one such day.

use std::collections::{BTreeMap, BTreeSet};

use super::{count::Filter, source};
use crate::{
    audit::{keys::KeyRing, StoredDecision},
    encounter::{Disposition, Encounter, Limits},
    rules::valueset::ValueSet,
};

/// A continuous measure: id, defining rule, evidence list whose item ends the interval.
pub const CONTINUOUS: &[(&str, &str, &str)] = &[
    ("door_to_needle", "stroke.door_to_needle_60", "medication_administrations"),
    ("door_to_device", "stemi.door_to_device_90", "procedures"),
];

/// Median and quartiles of one continuous measure, in minutes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Continuous {
    pub figure: String,
    pub rule_id: String,
    pub measure_set: String,
    pub measure_id: String,
    /// Encounters in the population with a value.
    pub n: u64,
    pub median: Option<f64>,
    pub q1: Option<f64>,
    pub q3: Option<f64>,
    /// Encounters in the population whose accepted item could not be found in the request.
    pub unresolved: u64,
}

/// Outcome and antimicrobial figures of one condition (pack).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Condition {
    pub pack: String,
    pub encounters: u64,
    pub died: u64,
    /// Encounters with at least one day of systemic antimicrobial therapy.
    pub antimicrobial_treated: u64,
    /// Sum of their days of therapy.
    pub antimicrobial_days: u64,
}

impl Condition {
    pub fn mortality(&self) -> Option<f64> {
        (self.encounters > 0).then(|| self.died as f64 / self.encounters as f64)
    }

    pub fn mortality_ci(&self) -> Option<(f64, f64)> {
        super::count::wilson(self.died, self.encounters)
    }

    pub fn mean_antimicrobial_days(&self) -> Option<f64> {
        (self.antimicrobial_treated > 0).then(|| self.antimicrobial_days as f64 / self.antimicrobial_treated as f64)
    }
}

/// All figures of a report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    pub continuous: Vec<Continuous>,
    pub conditions: Vec<Condition>,
    /// Requests opened (the PHI read recorded in the access log).
    pub opened: u64,
    /// Counted decisions whose request could not be opened or validated (not in any figure).
    pub unreadable: u64,
}

/// What opening the requests needs.
pub struct Inputs<'a> {
    pub keys: &'a KeyRing,
    pub limits: Limits,
    /// The value set `antimicrobial_systemic` of the rule set in force (None: no antimicrobial days).
    pub antimicrobial: Option<&'a ValueSet>,
}

/// Quantile `p` of sorted values (type 7).
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + frac * (sorted[hi] - sorted[lo]))
}

fn item_minutes(enc: &Encounter, list: &str, id: &str) -> Option<f64> {
    let t = match list {
        "medication_administrations" => enc.administrations.iter().find(|a| a.id == id)?.time,
        "procedures" => enc.procedures.iter().find(|p| p.id == id)?.time,
        _ => return None,
    };
    Some(((t - enc.arrival).num_seconds() as f64 / 60.0).ceil())
}

fn antimicrobial_days(enc: &Encounter, vs: &ValueSet, tz: &str) -> u64 {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let days: BTreeSet<chrono::NaiveDate> = enc
        .administrations
        .iter()
        .filter(|a| a.was_given() && source::any_code(&a.codes, vs))
        .map(|a| a.time.with_timezone(&tz).date_naive())
        .collect();
    days.len() as u64
}

/// The figures over the counted decisions.
pub fn figures(counted: &[StoredDecision], filter: &Filter, inputs: &Inputs<'_>) -> Figures {
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut cont: Vec<Continuous> = CONTINUOUS
        .iter()
        .map(|(figure, rule, _)| Continuous {
            figure: figure.to_string(),
            rule_id: rule.to_string(),
            ..Default::default()
        })
        .collect();
    let mut conditions: BTreeMap<String, Condition> = BTreeMap::new();
    let (mut opened, mut unreadable) = (0, 0);
    for d in counted {
        let applicable: BTreeSet<&str> = d
            .findings
            .iter()
            .filter(|f| filter.passes(f) && f.status != "not_applicable")
            .map(|f| f.pack.as_str())
            .collect();
        if applicable.is_empty() {
            continue;
        }
        opened += 1;
        let Ok(enc) = source::open(d, inputs.keys, &inputs.limits) else {
            unreadable += 1;
            continue;
        };
        for (c, (figure, rule, list)) in cont.iter_mut().zip(CONTINUOUS) {
            let Some(f) = d.findings.iter().find(|f| f.rule_id == *rule && filter.passes(f)) else { continue };
            if f.status != "met" && f.status != "not_met" {
                continue;
            }
            (c.measure_set, c.measure_id) = (f.measure_set.clone(), f.measure_id.clone());
            match source::evidence_item(&f.evidence, list).and_then(|id| item_minutes(&enc, list, id)) {
                Some(m) => values.entry(figure).or_default().push(m),
                None => c.unresolved += 1,
            }
        }
        let died = enc.disposition == Some(Disposition::Expired);
        let days = inputs.antimicrobial.map_or(0, |vs| antimicrobial_days(&enc, vs, &d.time_zone));
        for pack in applicable {
            let c = conditions
                .entry(pack.to_string())
                .or_insert_with(|| Condition { pack: pack.to_string(), ..Default::default() });
            c.encounters += 1;
            c.died += u64::from(died);
            if days > 0 {
                c.antimicrobial_treated += 1;
                c.antimicrobial_days += days;
            }
        }
    }
    for c in &mut cont {
        let mut v = values.remove(c.figure.as_str()).unwrap_or_default();
        v.sort_by(f64::total_cmp);
        c.n = v.len() as u64;
        (c.q1, c.median, c.q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    }
    cont.retain(|c| c.n > 0 || c.unresolved > 0);
    Figures { continuous: cont, conditions: conditions.into_values().collect(), opened, unreadable }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        // [30, 45, 75]: positions 0.5, 1, 1.5 → 37.5, 45, 60.
        let v = [30.0, 45.0, 75.0];
        assert_eq!((quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75)), (Some(37.5), Some(45.0), Some(60.0)));
        // [10, 20, 30, 40]: positions 0.75, 1.5, 2.25 → 17.5, 25, 32.5.
        let v = [10.0, 20.0, 30.0, 40.0];
        assert_eq!((quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75)), (Some(17.5), Some(25.0), Some(32.5)));
        assert_eq!(quantile(&[7.0], 0.25), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
