//! The concurrent worklist (环节质控): for current inpatients (latest recorded
//! decision of each encounter not yet discharged), the pending measures by
//! deadline, earliest first; overdue when the deadline has passed.

use std::collections::BTreeMap;

use crate::audit::{AuditError, AuditStore, Scan, StoredDecision};

/// One item to act on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Item {
    pub encounter_pid: String,
    pub department: String,
    pub rule_id: String,
    pub measure: String,
    pub deadline_us: i64,
    pub overdue: bool,
    /// The decision the item comes from.
    pub decision_id: String,
}

/// The worklist at `now_us`, optionally for one department.
pub fn worklist(store: &dyn AuditStore, department: Option<&str>, now_us: i64) -> Result<Vec<Item>, AuditError> {
    let mut latest: BTreeMap<String, StoredDecision> = BTreeMap::new();
    let scan = Scan { department: department.map(str::to_string), not_discharged: true, ..Default::default() };
    store.scan(&scan, &mut |d| {
        if latest
            .get(&d.encounter_pid)
            .is_none_or(|l| (d.evaluated_us, d.recorded_us) >= (l.evaluated_us, l.recorded_us))
        {
            latest.insert(d.encounter_pid.clone(), d);
        }
    })?;
    let mut items: Vec<Item> = latest
        .values()
        .flat_map(|d| {
            d.findings.iter().filter(|f| f.status == "pending").map(move |f| {
                let deadline = f.deadline_us.unwrap_or(i64::MAX);
                Item {
                    encounter_pid: d.encounter_pid.clone(),
                    department: d.department.clone(),
                    rule_id: f.rule_id.clone(),
                    measure: f.measure.clone(),
                    deadline_us: deadline,
                    overdue: deadline < now_us,
                    decision_id: d.id.clone(),
                }
            })
        })
        .collect();
    items.sort_by(|a, b| {
        (a.deadline_us, &a.encounter_pid, &a.rule_id).cmp(&(b.deadline_us, &b.encounter_pid, &b.rule_id))
    });
    Ok(items)
}
