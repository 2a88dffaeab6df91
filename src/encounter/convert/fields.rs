//! Single fields: texts, ids, times, codings and doses.

use chrono::{DateTime, Datelike};

use super::{path::Path, Validator};
use crate::{
    encounter::{codes, course::*, model::*},
    proto::v1 as pb,
};

impl Validator<'_> {
    /// `s` trimmed, after checking its length (untrimmed) against the text limit.
    pub(super) fn checked<'s>(&mut self, path: Path<'_>, s: &'s str) -> &'s str {
        if s.len() > self.limits.max_text_bytes {
            self.err(path, format!("is {} bytes, longer than the limit of {}", s.len(), self.limits.max_text_bytes));
        }
        s.trim()
    }

    pub(super) fn text(&mut self, path: Path<'_>, s: &str) -> String {
        self.checked(path, s).to_string()
    }

    pub(super) fn id(&mut self, path: Path<'_>, s: &str) -> String {
        let s = self.text(path, s);
        if s.is_empty() {
            self.err(path, "is required");
        }
        s
    }

    pub(super) fn time(&mut self, path: Path<'_>, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        let t = self.any_time(path, ts)?;
        if t > self.latest {
            self.err(path, format!("is in the future (after the evaluation time {})", self.now.to_rfc3339()));
        }
        Some(t)
    }

    /// A time that may lie in the future (a scheduled stop).
    pub(super) fn any_time(&mut self, path: Path<'_>, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        let ts = ts?;
        let Some(t) = (0..1_000_000_000)
            .contains(&ts.nanos)
            .then(|| DateTime::from_timestamp(ts.seconds, ts.nanos as u32))
            .flatten()
        else {
            self.err(path, "is not a valid timestamp");
            return None;
        };
        if t.year() < 1900 {
            self.err(path, "is before 1900");
            return None;
        }
        Some(t)
    }

    pub(super) fn required_time(&mut self, path: Path<'_>, ts: Option<&pbjson_types::Timestamp>) -> Option<Time> {
        if ts.is_none() {
            self.err(path, "is required");
        }
        self.time(path, ts)
    }

    pub(super) fn coding(&mut self, path: Path<'_>, c: Option<&pb::Coding>, required: bool) -> Option<Code> {
        let Some(c) = c else {
            if required {
                self.err(path, "is required");
            }
            return None;
        };
        let (system_path, code_path) = (path.field("system"), path.field("code"));
        let system_raw = self.checked(system_path, &c.system);
        let code_raw = self.checked(code_path, &c.code);
        let display = self.checked(path.field("display"), &c.display);
        if system_raw.is_empty() {
            self.err(system_path, "is required");
            return None;
        }
        let Some(system) = codes::parse_system(system_raw, &self.limits.local_code_systems) else {
            self.err(system_path, "unknown code system (declare local systems in encounter.local_code_systems)");
            return None;
        };
        if code_raw.is_empty() {
            self.err(code_path, "is required");
            return None;
        }
        let code = codes::normalise_code(&system, code_raw);
        if let Err(why) = codes::check_format(&system, &code) {
            self.err(code_path, format!("`{code}` {why}"));
            return None;
        }
        Some(Code { system, code, display: display.to_string() })
    }

    /// An item's codings: the single field (`single_name`, when set) then the repeated
    /// ones (`multi_name`), duplicates removed. `None` when neither is sent ("is
    /// required" at the single field) or any coding is invalid.
    pub(super) fn item_codings(
        &mut self,
        path: Path<'_>,
        (single_name, single): (&'static str, Option<&pb::Coding>),
        (multi_name, multi): (&'static str, &[pb::Coding]),
    ) -> Option<Vec<Code>> {
        if single.is_none() && multi.is_empty() {
            self.err(path.field(single_name), format!("is required (or `{multi_name}`)"));
            return None;
        }
        let mut out: Vec<Code> = Vec::with_capacity(1 + multi.len());
        let mut ok = true;
        let single_path = path.field(single_name);
        let multi_path = path.field(multi_name);
        let first = single.map(|c| self.coding(single_path, Some(c), true));
        let rest: Vec<Option<Code>> =
            multi.iter().enumerate().map(|(j, c)| self.coding(multi_path.index(j), Some(c), true)).collect();
        for c in first.into_iter().chain(rest) {
            match c {
                Some(c) => {
                    if !out.iter().any(|o| o.system == c.system && o.code == c.code) {
                        out.push(c);
                    }
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A non-empty list of codings (a medication's codes).
    pub(super) fn codings(&mut self, path: Path<'_>, cs: &[pb::Coding]) -> Vec<Code> {
        if cs.is_empty() {
            self.err(path, "at least one coding is required");
        }
        cs.iter().enumerate().filter_map(|(j, c)| self.coding(path.index(j), Some(c), true)).collect()
    }

    pub(super) fn dose(&mut self, path: Path<'_>, q: Option<&pb::Quantity>) -> Option<Dose> {
        let q = q?;
        if !q.value.is_finite() || q.value < 0.0 {
            self.err(path.field("value"), "must be a finite, non-negative number");
            return None;
        }
        Some(Dose { value: q.value, unit: self.text(path.field("unit"), &q.unit) })
    }
}

/// Short route texts for SNOMED CT route concepts (SNOMED CT International,
/// "Route of administration value" hierarchy 284009009).
const SNOMED_ROUTES: &[(&str, &str)] = &[
    ("47625008", "IV"),
    ("26643006", "PO"),
    ("34206005", "SC"),
    ("78421000", "IM"),
    ("37161004", "PR"),
    ("37839007", "SL"),
    ("46713006", "NASAL"),
    ("447694001", "INH"),
    ("6064005", "TOPICAL"),
];

impl Validator<'_> {
    /// The route text; when empty, the short form of a known SNOMED CT `route_code`.
    pub(super) fn route(&mut self, path: Path<'_>, text: &str, code: Option<&Code>) -> String {
        let text = self.text(path, text);
        if !text.is_empty() {
            return text;
        }
        code.filter(|c| c.system == CodeSystem::SnomedCt)
            .and_then(|c| SNOMED_ROUTES.iter().find(|(k, _)| *k == c.code))
            .map_or(text, |(_, short)| short.to_string())
    }

    /// A documenting role; unspecified is `None`.
    pub(super) fn role(&mut self, path: Path<'_>, raw: i32) -> Option<Role> {
        match pb::PractitionerRole::try_from(raw) {
            Ok(pb::PractitionerRole::Unspecified) => None,
            Ok(pb::PractitionerRole::Physician) => Some(Role::Physician),
            Ok(pb::PractitionerRole::AdvancedPracticeNurse) => Some(Role::AdvancedPracticeNurse),
            Ok(pb::PractitionerRole::PhysicianAssistant) => Some(Role::PhysicianAssistant),
            Ok(pb::PractitionerRole::Pharmacist) => Some(Role::Pharmacist),
            Ok(pb::PractitionerRole::Nurse) => Some(Role::Nurse),
            Ok(pb::PractitionerRole::Other) => Some(Role::Other),
            Err(_) => {
                self.err(path, format!("unknown value {raw}"));
                None
            }
        }
    }
}
