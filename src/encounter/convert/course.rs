//! The course of the stay and the patient's history: location stays, documented
//! care decisions (comfort measures, clinical trial) and earlier encounters.

use super::{path::Path, Validator};
use crate::{
    encounter::{course::*, model::*},
    proto::v1 as pb,
};

impl Validator<'_> {
    pub(super) fn location(&mut self, path: Path<'_>, l: &pb::LocationStay) -> Option<LocationStay> {
        let id = self.id(path.field("id"), &l.id);
        let kind = match pb::LocationType::try_from(l.r#type) {
            Ok(pb::LocationType::Emergency) => Some(LocationType::Emergency),
            Ok(pb::LocationType::Ward) => Some(LocationType::Ward),
            Ok(pb::LocationType::Icu) => Some(LocationType::Icu),
            Ok(pb::LocationType::Ccu) => Some(LocationType::Ccu),
            Ok(pb::LocationType::OperatingRoom) => Some(LocationType::OperatingRoom),
            Ok(pb::LocationType::CathLab) => Some(LocationType::CathLab),
            Ok(pb::LocationType::StrokeUnit) => Some(LocationType::StrokeUnit),
            Ok(pb::LocationType::Observation) => Some(LocationType::Observation),
            Ok(pb::LocationType::Other) => Some(LocationType::Other),
            Ok(pb::LocationType::Unspecified) => {
                self.err(path.field("type"), "is required (LOCATION_TYPE_EMERGENCY, _WARD, _ICU, _CCU ...)");
                None
            }
            Err(_) => {
                self.err(path.field("type"), format!("unknown value {}", l.r#type));
                None
            }
        };
        let unit_code = self.text(path.field("unit_code"), &l.unit_code);
        let start = self.required_time(path.field("start_time"), l.start_time.as_ref());
        let end = self.time(path.field("end_time"), l.end_time.as_ref());
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                self.err(path.field("end_time"), "is before start_time");
            }
        }
        Some(LocationStay { id, kind: kind?, unit_code, start: start?, end })
    }

    pub(super) fn care_documentation(
        &mut self,
        path: Path<'_>,
        d: &pb::CareDocumentation,
    ) -> Option<CareDocumentation> {
        let id = self.id(path.field("id"), &d.id);
        let kind = match pb::CareDocumentationKind::try_from(d.kind) {
            Ok(pb::CareDocumentationKind::ComfortMeasuresOnly) => Some(CareKind::ComfortMeasuresOnly),
            Ok(pb::CareDocumentationKind::ClinicalTrial) => Some(CareKind::ClinicalTrial),
            Ok(pb::CareDocumentationKind::Unspecified) => {
                self.err(path.field("kind"), "is required (comfort measures only or clinical trial)");
                None
            }
            Err(_) => {
                self.err(path.field("kind"), format!("unknown value {}", d.kind));
                None
            }
        };
        let time = self.required_time(path.field("time"), d.time.as_ref());
        let documented_by = self.role(path.field("documented_by"), d.documented_by);
        Some(CareDocumentation { id, kind: kind?, time: time?, documented_by })
    }

    /// An earlier encounter; it must have arrived before this one (`self.arrival`).
    pub(super) fn prior_encounter(&mut self, path: Path<'_>, p: &pb::PriorEncounter) -> Option<PriorEncounter> {
        let id = self.id(path.field("id"), &p.id);
        let class = match pb::EncounterClass::try_from(p.encounter_class) {
            Ok(pb::EncounterClass::Inpatient) => Some(EncounterClass::Inpatient),
            Ok(pb::EncounterClass::Emergency) => Some(EncounterClass::Emergency),
            Ok(pb::EncounterClass::Outpatient) => Some(EncounterClass::Outpatient),
            Ok(pb::EncounterClass::Observation) => Some(EncounterClass::Observation),
            _ => {
                self.err(
                    path.field("encounter_class"),
                    "is required (inpatient, emergency, outpatient or observation)",
                );
                None
            }
        };
        let arrival_path = path.field("arrival_time");
        let arrival = self.required_time(arrival_path, p.arrival_time.as_ref());
        let discharge = self.time(path.field("discharge_time"), p.discharge_time.as_ref());
        if let (Some(a), Some(current)) = (arrival, self.arrival) {
            if a >= current {
                self.err(arrival_path, "is not before encounter.arrival_time");
            }
        }
        if let (Some(a), Some(d)) = (arrival, discharge) {
            if d < a {
                self.err(path.field("discharge_time"), "is before arrival_time");
            }
        }
        let diagnoses = self.list(path.field("diagnoses"), &p.diagnoses);
        Some(PriorEncounter { id, class: class?, arrival: arrival?, discharge, diagnoses })
    }
}
