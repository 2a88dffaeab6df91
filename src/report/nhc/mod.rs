//! The NHC per-case worksheet (`cdssd export nhc`): for each encounter discharged in the
//! period (counted as the report counts: its latest evaluation at or after discharge)
//! whose principal diagnosis falls in a monitored disease, a pre-filled record in the
//! structure of the NHC 2020 single-disease item set (单病种质量监测信息项（2020年版）,
//! 国卫办医函〔2020〕624号, as reconstructed from public sources in
//! `shared/reference/nhc-reporting.md`): the common `CM-0-*` block ([`common`]) and the
//! disease block ([`stemi`]; the stroke block is not in those sources: common block only),
//! local times `yyyy-MM-dd HH:mm` in the hospital time zone, multi-choice items as arrays,
//! each item `derived` (with pointers to the encounter data) or `needs_confirmation`,
//! and the required-item and dependency checks ([`check`]). Identifiers the encounter
//! contract does not carry (case number, ID card, staff names) are listed as withheld and
//! never filled: they and the upload stay with the hospital's uploader. Reading the sealed
//! requests is recorded in the access log (`export_nhc`).

pub mod check;
pub mod common;
pub mod item;
pub mod stemi;

use std::collections::BTreeMap;

use crate::{
    audit::{keys::KeyRing, AccessRecord, AuditError, AuditStore},
    encounter::{DiagnosisRank, Encounter, Limits},
    rules::valueset::{normalize_code, ValueSets},
};

pub use item::{CheckError, Item, Status, Withheld};

/// Version of the worksheet document.
pub const FORMAT: &str = "cdssd-nhc-worksheet/1";

/// A monitored disease the worksheet covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Disease {
    /// ST-elevation myocardial infarction: principal diagnosis I21.0–I21.3, I21.9.
    #[serde(rename = "STEMI")]
    Stemi,
    /// Ischaemic stroke (STK): principal diagnosis I63.0–I63.9.
    #[serde(rename = "STK")]
    Stroke,
}

impl Disease {
    pub fn code(self) -> &'static str {
        match self {
            Disease::Stemi => "STEMI",
            Disease::Stroke => "STK",
        }
    }

    /// The rule pack whose findings are listed with the worksheet.
    pub fn pack(self) -> &'static str {
        match self {
            Disease::Stemi => "stemi",
            Disease::Stroke => "stroke",
        }
    }

    /// The inclusion rule by principal diagnosis (ICD-10, normalised: no dot, upper case).
    pub fn includes(self, icd10: &str) -> bool {
        let four = icd10.get(..4).unwrap_or("");
        match self {
            Disease::Stemi => ["I210", "I211", "I212", "I213", "I219"].contains(&four),
            Disease::Stroke => four.len() == 4 && four.starts_with("I63") && four.as_bytes()[3].is_ascii_digit(),
        }
    }

    /// Value sets of the disease's candidate main procedure.
    fn procedure_sets(self) -> &'static [&'static str] {
        match self {
            Disease::Stemi => &["pci"],
            Disease::Stroke => &["endovascular_thrombectomy"],
        }
    }

    /// The disease of an encounter's principal diagnosis, if monitored.
    pub fn of(enc: &Encounter) -> Option<Disease> {
        let d = enc.diagnoses.iter().find(|d| d.rank == DiagnosisRank::Principal)?;
        let code = normalize_code("ICD-10", &d.icd10().next()?.code).into_owned();
        [Disease::Stemi, Disease::Stroke].into_iter().find(|x| x.includes(&code))
    }
}

/// A finding of the disease's pack in the counted decision (context for the reviewer).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Indicator {
    pub measure_set: String,
    pub measure_id: String,
    pub rule_id: String,
    pub status: String,
}

/// One encounter's worksheet.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Worksheet {
    /// The pseudonymous encounter id of the audit store (the key of the worksheet).
    pub encounter: String,
    pub disease: Disease,
    /// The counted decision the worksheet was filled from.
    pub decision_id: String,
    pub time_zone: String,
    pub items: BTreeMap<String, Item>,
    /// Items left to the hospital's uploader (not in the encounter contract).
    pub withheld: Vec<Withheld>,
    pub errors: Vec<CheckError>,
    pub indicators: Vec<Indicator>,
}

/// The export: a header and the worksheets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Document {
    pub format: &'static str,
    pub item_set: &'static str,
    /// Discharge period, as given.
    pub from: String,
    pub to: String,
    pub worksheets: Vec<Worksheet>,
    /// Counted decisions whose request could not be opened or validated.
    pub unreadable: u64,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from_us: i64,
    pub to_us: i64,
    pub from_label: String,
    pub to_label: String,
    pub disease: Option<Disease>,
    pub department: Option<String>,
}

/// Fill one worksheet from the encounter of a counted decision.
pub fn worksheet(
    d: &crate::audit::StoredDecision,
    enc: &Encounter,
    disease: Disease,
    tz: chrono_tz::Tz,
    sets: &ValueSets,
) -> Worksheet {
    let mut items = common::items(enc, tz, sets, disease.procedure_sets());
    if disease == Disease::Stemi {
        items.extend(stemi::items(enc, tz, sets));
    }
    let errors = check::check(disease, &items);
    let indicators = d
        .findings
        .iter()
        .filter(|f| f.pack == disease.pack() && f.status != "not_applicable")
        .map(|f| Indicator {
            measure_set: f.measure_set.clone(),
            measure_id: f.measure_id.clone(),
            rule_id: f.rule_id.clone(),
            status: f.status.clone(),
        })
        .collect();
    Worksheet {
        encounter: d.encounter_pid.clone(),
        disease,
        decision_id: d.id.clone(),
        time_zone: tz.name().to_string(),
        items,
        withheld: common::withheld(),
        errors,
        indicators,
    }
}

/// The worksheets of the period; opening the requests is recorded for `actor`.
pub fn export(
    store: &dyn AuditStore,
    keys: &KeyRing,
    limits: &Limits,
    sets: &ValueSets,
    default_tz: chrono_tz::Tz,
    q: &Query,
    actor: &str,
) -> Result<Document, AuditError> {
    let counted =
        super::count::tally_period(store, q.from_us, q.to_us, q.department.as_deref(), super::Filter::default())?
            .counted;
    store.record_access(&AccessRecord::now(
        actor,
        "export_nhc",
        &format!("{}..{}", q.from_label, q.to_label),
        counted.len() as i64,
    ))?;
    let (mut worksheets, mut unreadable) = (Vec::new(), 0);
    for d in &counted {
        let Ok(enc) = super::source::open(d, keys, limits) else {
            unreadable += 1;
            continue;
        };
        let Some(disease) = Disease::of(&enc).filter(|x| q.disease.is_none_or(|want| want == *x)) else { continue };
        let tz = d.time_zone.parse().unwrap_or(default_tz);
        worksheets.push(worksheet(d, &enc, disease, tz, sets));
    }
    worksheets.sort_by(|a, b| (a.disease, &a.encounter).cmp(&(b.disease, &b.encounter)));
    Ok(Document {
        format: FORMAT,
        item_set: "NHC 单病种质量监测信息项（2020年版）, 国卫办医函〔2020〕624号 — item codes as reconstructed from public sources; verify against the platform's interface specification",
        from: q.from_label.clone(),
        to: q.to_label.clone(),
        worksheets,
        unreadable,
    })
}
