//! The counting rule of the QC report, over recorded decisions.
//!
//! Each encounter discharged in the period counts **once per measure**: its
//! **latest evaluation at or after discharge** (latest evaluation time, then latest
//! record) decides the measure's status. Encounters with no evaluation at or after
//! discharge are not counted in any measure; they show in the coverage line. Per
//! measure: denominator = met + not met; excluded (by reason), pending at discharge
//! missing data and error are listed apart and are not in the denominator; not-applicable
//! findings are not counted. Rate = met / denominator with a Wilson 95 % interval.
//! Months are discharge months in the hospital time zone of the record.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::{AuditError, AuditStore, Scan, StoredDecision};

/// Counts of one measure (overall or one month).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    pub denominator: u64,
    pub met: u64,
    pub not_met: u64,
    pub excluded: u64,
    pub excluded_by_reason: BTreeMap<String, u64>,
    pub pending: u64,
    /// Data the rule needed was missing or unusable (a documentation gap).
    pub missing_data: u64,
    /// The rule failed (a fault of the rule).
    pub error: u64,
}

impl Counts {
    fn add(&mut self, status: &str, reason: &str) {
        match status {
            "met" => {
                self.met += 1;
                self.denominator += 1;
            }
            "not_met" => {
                self.not_met += 1;
                self.denominator += 1;
            }
            "excluded" => {
                self.excluded += 1;
                *self
                    .excluded_by_reason
                    .entry(if reason.is_empty() { "unspecified".into() } else { reason.into() })
                    .or_default() += 1;
            }
            "pending" => self.pending += 1,
            "missing_data" => self.missing_data += 1,
            "error" => self.error += 1,
            _ => {}
        }
    }

    /// met / denominator, `None` for an empty denominator.
    pub fn rate(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.met as f64 / self.denominator as f64)
    }

    /// Wilson score interval (95 %, z = 1.959964) of the rate.
    pub fn wilson(&self) -> Option<(f64, f64)> {
        wilson(self.met, self.denominator)
    }
}

/// Wilson score interval for `k` successes out of `n` at 95 %.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// One row of the report: one rule's findings, under its measure set and item. Several
/// rules can implement parts of one item (NHC-2020 "STEMI" is a whole item set), so a
/// row is (measure set, item, rule); rows are ordered by measure set, item, rule.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MeasureRow {
    pub measure_set: String,
    pub measure_id: String,
    pub rule_id: String,
    pub measure: String,
    pub pack: String,
    pub counts: Counts,
    /// "YYYY-MM" → counts.
    pub months: BTreeMap<String, Counts>,
    /// Pseudonymous ids of the not-met encounters (for review).
    pub not_met: Vec<String>,
}

/// Which findings the report covers (by the findings' own fields).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The finding's `measure_set` ("CMS", "NHC-2022", ...).
    pub measure_set: Option<String>,
    /// The finding's `measure_id` (the item within the set: "AMI-8a", "4.1.1.3", ...).
    pub measure_id: Option<String>,
    pub pack: Option<String>,
}

impl Filter {
    /// Does the finding pass the filter?
    pub fn passes(&self, f: &crate::audit::FindingRow) -> bool {
        self.pack.as_ref().is_none_or(|p| p == &f.pack)
            && self.measure_set.as_ref().is_none_or(|s| s == &f.measure_set)
            && self.measure_id.as_ref().is_none_or(|i| i == &f.measure_id)
    }
}

/// Row key: (measure set, item, rule id).
pub type RowKey = (String, String, String);

/// The report's body: rows by (measure set, item, rule), plus the encounters evaluated after discharge.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub measures: BTreeMap<RowKey, MeasureRow>,
    /// Pseudonyms of encounters discharged in the period with an evaluation at or after discharge.
    pub evaluated: BTreeSet<String>,
    /// Pseudonyms of encounters discharged in the period with any recorded decision.
    pub seen: BTreeSet<String>,
    /// The counted decision of each encounter (its latest at or after discharge), by pseudonym.
    pub counted: Vec<StoredDecision>,
}

fn month(us: i64, tz: &str) -> String {
    let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
    match tz.parse::<chrono_tz::Tz>() {
        Ok(z) => t.with_timezone(&z).format("%Y-%m").to_string(),
        Err(_) => t.format("%Y-%m").to_string(),
    }
}

/// Accumulates decisions (any order) and counts them by the rule above.
#[derive(Debug, Default)]
pub struct Counter {
    filter: Filter,
    /// encounter → the latest decision at/after discharge so far: ((evaluated, recorded), decision).
    latest: BTreeMap<String, ((i64, i64), StoredDecision)>,
    seen: BTreeSet<String>,
}

impl Counter {
    pub fn new(filter: Filter) -> Self {
        Self { filter, ..Default::default() }
    }

    /// Offer one recorded decision.
    pub fn offer(&mut self, d: StoredDecision) {
        let Some(discharge) = d.discharge_us else { return };
        self.seen.insert(d.encounter_pid.clone());
        if d.evaluated_us < discharge {
            return;
        }
        let key = (d.evaluated_us, d.recorded_us);
        match self.latest.get(&d.encounter_pid) {
            Some((k, _)) if *k >= key => {}
            _ => {
                self.latest.insert(d.encounter_pid.clone(), (key, d));
            }
        }
    }

    /// The counts.
    pub fn finish(self) -> Tally {
        let mut measures: BTreeMap<RowKey, MeasureRow> = BTreeMap::new();
        let evaluated: BTreeSet<String> = self.latest.keys().cloned().collect();
        let mut counted = Vec::with_capacity(self.latest.len());
        for (pid, (_, d)) in self.latest {
            let m = month(d.discharge_us.unwrap_or_default(), &d.time_zone);
            for f in d.findings.iter().filter(|f| self.filter.passes(f)) {
                let key = (f.measure_set.clone(), f.measure_id.clone(), f.rule_id.clone());
                let row = measures.entry(key).or_insert_with(|| MeasureRow {
                    measure_set: f.measure_set.clone(),
                    measure_id: f.measure_id.clone(),
                    rule_id: f.rule_id.clone(),
                    measure: f.measure.clone(),
                    pack: f.pack.clone(),
                    ..Default::default()
                });
                row.counts.add(&f.status, &f.exclusion_reason);
                row.months.entry(m.clone()).or_default().add(&f.status, &f.exclusion_reason);
                if f.status == "not_met" {
                    row.not_met.push(pid.clone());
                }
            }
            counted.push(d);
        }
        Tally { measures, evaluated, seen: self.seen, counted }
    }
}

/// Count the decisions of encounters discharged in `[from_us, to_us)` (optionally of one
/// department) by the rule above: the one scan the report and the worksheet export share.
pub fn tally_period(
    store: &dyn AuditStore,
    from_us: i64,
    to_us: i64,
    department: Option<&str>,
    filter: Filter,
) -> Result<Tally, AuditError> {
    let mut counter = Counter::new(filter);
    let scan = Scan {
        discharged_from_us: Some(from_us),
        discharged_to_us: Some(to_us),
        department: department.map(str::to_string),
        not_discharged: false,
    };
    store.scan(&scan, &mut |d| counter.offer(d))?;
    Ok(counter.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_hand_computed_values() {
        // 8/10: centre (0.8 + 0.19207)/1.38415 = 0.71674, half 0.22658 → [0.4902, 0.9433].
        let (lo, hi) = wilson(8, 10).unwrap();
        assert!((lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 5).unwrap();
        assert!(lo.abs() < 1e-12 && (hi - 0.4345).abs() < 1e-4, "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }
}
