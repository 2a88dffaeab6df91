//! Single-disease QC reports from the audit store: per measure denominator, met,
//! not met, excluded by reason, pending at discharge, rate with a Wilson 95 %
//! interval, the not-met encounters, a month-by-month run chart, and a coverage
//! line against the discharge list (front sheet). The counting rule is in
//! [`count`]; rendering (table, CSV, JSON, HTML) in [`render`] and [`html`].

pub mod count;
pub mod discharges;
pub mod figures;
pub mod html;
pub mod nhc;
pub mod render;
pub mod replay;
pub mod source;
pub mod worklist;

use std::collections::BTreeMap;

use crate::audit::{keys::KeyRing, AccessRecord, AuditError, AuditStore};

pub use count::{Counts, Filter, MeasureRow};

/// What to report on.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Discharged at or after (µs since the epoch).
    pub from_us: i64,
    /// Discharged before (µs).
    pub to_us: i64,
    /// Labels of the period as given ("2026-05-01").
    pub from_label: String,
    pub to_label: String,
    pub department: Option<String>,
    pub filter: Filter,
    /// Rules overridden more often than this share of their feedback are flagged.
    pub override_flag_ratio: f64,
}

/// The coverage line: discharges on the list against those evaluated after discharge.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Coverage {
    /// Discharges in the period on the list (for the department, if one is given).
    pub discharges: u64,
    /// Of those, evaluated at or after discharge.
    pub evaluated: u64,
    /// EMR encounter ids on the list with no evaluation at or after discharge.
    pub missing: Vec<String>,
    /// Encounters evaluated after discharge that are not on the list.
    pub not_on_list: u64,
}

/// Clinician feedback on one rule (or model) version in one department.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct OverrideRow {
    pub source_id: String,
    pub source_version: String,
    pub department: String,
    pub accepted: u64,
    pub overridden: u64,
    /// overridden / (accepted + overridden).
    pub ratio: f64,
    /// The ratio is above the flag threshold.
    pub flagged: bool,
}

/// One report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub department: Option<String>,
    /// Encounters discharged in the period with an evaluation at or after discharge.
    pub encounters: u64,
    pub measures: Vec<MeasureRow>,
    pub coverage: Option<Coverage>,
    /// Override analytics over the feedback given in the period.
    pub overrides: Vec<OverrideRow>,
    /// Continuous measures, mortality and antimicrobial days (see [`figures`]).
    pub figures: figures::Figures,
}

/// Build the report; `discharges` (EMR id → pseudonym resolved with `keys`) turns
/// not-met pseudonyms into EMR ids for review — a PHI read, recorded for `actor`;
/// `inputs` opens the counted requests for the figures — a PHI read, recorded too.
pub fn build(
    store: &dyn AuditStore,
    keys: Option<&KeyRing>,
    q: &Query,
    discharges: Option<&[discharges::Discharge]>,
    inputs: Option<&figures::Inputs<'_>>,
    actor: &str,
) -> Result<Report, AuditError> {
    let mut tally = count::tally_period(store, q.from_us, q.to_us, q.department.as_deref(), q.filter.clone())?;
    let figures = match inputs {
        Some(inputs) => {
            let f = figures::figures(&tally.counted, &q.filter, inputs);
            store.record_access(&AccessRecord::now(
                actor,
                "report_figures",
                &format!("{}..{}", q.from_label, q.to_label),
                f.opened as i64,
            ))?;
            f
        }
        None => figures::Figures::default(),
    };
    tally.counted.clear();
    let mut measures: Vec<MeasureRow> = tally.measures.into_values().collect();
    let coverage = match (discharges, keys) {
        (Some(list), Some(keys)) => {
            let in_period: Vec<&discharges::Discharge> = list
                .iter()
                .filter(|d| d.discharge_us >= q.from_us && d.discharge_us < q.to_us)
                .filter(|d| q.department.as_ref().is_none_or(|dep| &d.department == dep))
                .collect();
            let by_pid: BTreeMap<String, &str> =
                in_period.iter().map(|d| (keys.pseudonym(&d.encounter_id), d.encounter_id.as_str())).collect();
            let missing: Vec<String> =
                by_pid.iter().filter(|(p, _)| !tally.evaluated.contains(*p)).map(|(_, id)| id.to_string()).collect();
            let mut missing = missing;
            missing.sort();
            let mut named = 0;
            for m in &mut measures {
                for pid in &mut m.not_met {
                    if let Some(id) = by_pid.get(pid) {
                        *pid = id.to_string();
                        named += 1;
                    }
                }
            }
            store.record_access(&AccessRecord::now(
                actor,
                "report_not_met",
                &format!("{}..{}", q.from_label, q.to_label),
                named,
            ))?;
            Some(Coverage {
                discharges: by_pid.len() as u64,
                evaluated: (by_pid.len() - missing.len()) as u64,
                not_on_list: tally.evaluated.iter().filter(|p| !by_pid.contains_key(*p)).count() as u64,
                missing,
            })
        }
        _ => None,
    };
    for m in &mut measures {
        m.not_met.sort();
    }
    let mut by: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for f in store.feedback(q.from_us, q.to_us)? {
        if q.department.as_ref().is_some_and(|d| d != &f.department) {
            continue;
        }
        let e = by.entry((f.source_id, f.source_version, f.department)).or_default();
        if f.outcome == "overridden" {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let overrides = by
        .into_iter()
        .map(|((source_id, source_version, department), (accepted, overridden))| {
            let ratio = overridden as f64 / (accepted + overridden).max(1) as f64;
            OverrideRow {
                source_id,
                source_version,
                department,
                accepted,
                overridden,
                ratio,
                flagged: ratio > q.override_flag_ratio,
            }
        })
        .collect();
    Ok(Report {
        overrides,
        from: q.from_label.clone(),
        to: q.to_label.clone(),
        department: q.department.clone(),
        encounters: tally.evaluated.len() as u64,
        measures,
        coverage,
        figures,
    })
}
