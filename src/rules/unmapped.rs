//! Local codes seen in traffic that no mapping table or value set knows, for QC staff to
//! complete `rules/mappings/`: a process-wide, bounded tally (at most [`MAX_CODES`]
//! distinct (list, system, code); later ones are only counted as overflow), kept in
//! memory until the process exits and listed by `AdminService.ListUnmappedCodes`
//! against the rule set in force (a code a reload has since mapped is no longer listed).
//! Local codes are keys of the hospital's dictionaries, never patient data; the tally
//! keeps no item id, encounter or value.
use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::valueset::ValueSets;

/// Most distinct codes kept.
pub const MAX_CODES: usize = 1000;

/// One unmapped local code and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Encounter list it arrived in ("medication_orders", "labs" ...).
    pub list: &'static str,
    /// Local code system (as configured).
    pub system: String,
    /// The code, normalised (trimmed, upper case).
    pub code: String,
    /// Codings seen since the process started.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Default)]
struct Tally {
    codes: BTreeMap<(&'static str, String, String), Seen>,
    /// Codings of codes not kept because the tally was full.
    overflow: u64,
}

static TALLY: Mutex<Option<Tally>> = Mutex::new(None);

/// Record one unmapped local coding.
pub fn record(list: &'static str, system: &str, code: &str) {
    let now = Utc::now();
    let mut guard = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    let tally = guard.get_or_insert_with(Tally::default);
    let key = (list, system.to_string(), code.to_string());
    if let Some(seen) = tally.codes.get_mut(&key) {
        seen.count += 1;
        seen.last_seen = now;
    } else if tally.codes.len() < MAX_CODES {
        let seen = Seen { list, system: key.1.clone(), code: key.2.clone(), count: 1, first_seen: now, last_seen: now };
        tally.codes.insert(key, seen);
    } else {
        tally.overflow += 1;
    }
}

/// The codes that are still gaps in `sets` (`ValueSets::local_gap`) (most seen first, then by list, system, code) and the
/// overflow count.
pub fn list(sets: &ValueSets) -> (Vec<Seen>, u64) {
    let guard = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(tally) = guard.as_ref() else {
        return (Vec::new(), 0);
    };
    let mut out: Vec<Seen> = tally.codes.values().filter(|s| sets.local_gap(&s.system, &s.code)).cloned().collect();
    out.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| (a.list, &a.system, &a.code).cmp(&(b.list, &b.system, &b.code)))
    });
    (out, tally.overflow)
}
