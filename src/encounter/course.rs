//! The course of the stay and the patient's history in the internal model: location
//! stays, arrival mode, documented care decisions, earlier encounters, and the coded
//! classes and roles of documented reasons.

use super::model::{Diagnosis, EncounterClass, Time};

/// Class of a documented reason for not giving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonClass {
    ClinicalContraindication,
    PatientRefusal,
    SystemLogistics,
    Other,
}

impl ReasonClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonClass::ClinicalContraindication => "clinical_contraindication",
            ReasonClass::PatientRefusal => "patient_refusal",
            ReasonClass::SystemLogistics => "system_logistics",
            ReasonClass::Other => "other",
        }
    }
}

/// Role of whoever documented something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Physician,
    AdvancedPracticeNurse,
    PhysicianAssistant,
    Pharmacist,
    Nurse,
    Other,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Physician => "physician",
            Role::AdvancedPracticeNurse => "advanced_practice_nurse",
            Role::PhysicianAssistant => "physician_assistant",
            Role::Pharmacist => "pharmacist",
            Role::Nurse => "nurse",
            Role::Other => "other",
        }
    }
}

/// Kind of location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationType {
    Emergency,
    Ward,
    Icu,
    Ccu,
    OperatingRoom,
    CathLab,
    StrokeUnit,
    Observation,
    Other,
}

impl LocationType {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationType::Emergency => "emergency",
            LocationType::Ward => "ward",
            LocationType::Icu => "icu",
            LocationType::Ccu => "ccu",
            LocationType::OperatingRoom => "operating_room",
            LocationType::CathLab => "cath_lab",
            LocationType::StrokeUnit => "stroke_unit",
            LocationType::Observation => "observation",
            LocationType::Other => "other",
        }
    }

    /// ICU or CCU (intensive care, 重症医学科).
    pub fn is_intensive_care(self) -> bool {
        matches!(self, LocationType::Icu | LocationType::Ccu)
    }
}

/// One stay in one location.
#[derive(Debug, Clone)]
pub struct LocationStay {
    pub id: String,
    pub kind: LocationType,
    pub unit_code: String,
    pub start: Time,
    pub end: Option<Time>,
}

/// How the patient arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalMode {
    Ems,
    WalkIn,
    Transfer,
    Other,
}

impl ArrivalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ArrivalMode::Ems => "ems",
            ArrivalMode::WalkIn => "walk_in",
            ArrivalMode::Transfer => "transfer",
            ArrivalMode::Other => "other",
        }
    }
}

/// Kind of documented care decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareKind {
    ComfortMeasuresOnly,
    ClinicalTrial,
}

/// A documented care decision.
#[derive(Debug, Clone)]
pub struct CareDocumentation {
    pub id: String,
    pub kind: CareKind,
    pub time: Time,
    pub documented_by: Option<Role>,
}

/// An earlier encounter of the patient.
#[derive(Debug, Clone)]
pub struct PriorEncounter {
    pub id: String,
    pub class: EncounterClass,
    pub arrival: Time,
    pub discharge: Option<Time>,
    pub diagnoses: Vec<Diagnosis>,
}
