//! The validated, internal encounter model that rules and models read.
//!
//! Built only by [`super::from_proto`]; every invariant listed here holds for
//! any value of these types: ids are non-empty and unique per list, codings
//! have a known [`CodeSystem`], numeric values are finite and in the canonical
//! unit of their quantity (see [`super::units`]), and every list is sorted by
//! its clinically relevant time (earliest first; ties keep the sender's order).

use chrono::{DateTime, NaiveDate, Utc};

/// An absolute instant.
pub type Time = DateTime<Utc>;

/// A code system, normalised from URIs and short names (see [`super::codes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeSystem {
    /// ICD-10 and its national modifications (WHO, -CM, -CN, -GM): one family for matching.
    Icd10,
    Icd10Pcs,
    Icd9Cm3,
    Loinc,
    SnomedCt,
    Atc,
    RxNorm,
    Cpt,
    /// CDC Race & Ethnicity code set.
    CdcRace,
    /// A local system declared in `encounter.local_code_systems` (name as configured).
    Local(String),
}

impl CodeSystem {
    /// Short canonical name, as used in value sets and evidence.
    pub fn name(&self) -> &str {
        match self {
            CodeSystem::Icd10 => "ICD-10",
            CodeSystem::Icd10Pcs => "ICD-10-PCS",
            CodeSystem::Icd9Cm3 => "ICD-9-CM-3",
            CodeSystem::Loinc => "LOINC",
            CodeSystem::SnomedCt => "SNOMED-CT",
            CodeSystem::Atc => "ATC",
            CodeSystem::RxNorm => "RXNORM",
            CodeSystem::Cpt => "CPT",
            CodeSystem::CdcRace => "CDC-RACE",
            CodeSystem::Local(name) => name,
        }
    }
}

/// A code with its system; `code` is trimmed (ICD-10 codes upper-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub system: CodeSystem,
    pub code: String,
    pub display: String,
}

/// A numeric value in the canonical unit of its quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub value: f64,
}

/// Administrative sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// The patient, pseudonymous.
#[derive(Debug, Clone)]
pub struct Patient {
    pub id: String,
    pub birth_date: Option<NaiveDate>,
    /// Age in years at arrival (fractional when the birth date is known).
    pub age_years: f64,
    pub sex: Sex,
    pub race: Option<Code>,
}

/// Kind of encounter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncounterClass {
    Inpatient,
    Emergency,
    Outpatient,
    Observation,
}

impl EncounterClass {
    pub fn as_str(self) -> &'static str {
        match self {
            EncounterClass::Inpatient => "inpatient",
            EncounterClass::Emergency => "emergency",
            EncounterClass::Outpatient => "outpatient",
            EncounterClass::Observation => "observation",
        }
    }
}

/// Where the patient went at discharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Home,
    HomeWithServices,
    TransferAcuteCare,
    SkilledNursing,
    Hospice,
    LeftAgainstAdvice,
    Expired,
    Other,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Home => "home",
            Disposition::HomeWithServices => "home_with_services",
            Disposition::TransferAcuteCare => "transfer_acute_care",
            Disposition::SkilledNursing => "skilled_nursing",
            Disposition::Hospice => "hospice",
            Disposition::LeftAgainstAdvice => "left_against_advice",
            Disposition::Expired => "expired",
            Disposition::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosisRank {
    Principal,
    Secondary,
    Admitting,
    Unspecified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentOnAdmission {
    Yes,
    No,
    Unknown,
    ClinicallyUndetermined,
    Unspecified,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub id: String,
    pub code: Code,
    pub rank: DiagnosisRank,
    pub poa: PresentOnAdmission,
    pub time: Option<Time>,
}

/// Result of an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsValue {
    /// Numeric, in `unit` (canonical for known quantities, as sent otherwise).
    Quantity {
        value: f64,
        unit: String,
    },
    Text(String),
}

#[derive(Debug, Clone)]
pub struct ReferenceRange {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// A vital sign, laboratory result or assessment.
#[derive(Debug, Clone)]
pub struct Observation {
    pub id: String,
    pub code: Code,
    pub value: ObsValue,
    pub time: Time,
    pub issued: Option<Time>,
    pub reference_range: Option<ReferenceRange>,
}

impl Observation {
    /// The numeric value, if the result is a quantity.
    pub fn number(&self) -> Option<f64> {
        match self.value {
            ObsValue::Quantity { value, .. } => Some(value),
            ObsValue::Text(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Active,
    Completed,
    Discontinued,
    Cancelled,
    Draft,
    Unspecified,
}

/// A dose: numeric amount and its unit as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone)]
pub struct MedicationOrder {
    pub id: String,
    pub codes: Vec<Code>,
    pub name: String,
    pub dose: Option<Dose>,
    pub route: String,
    pub frequency: String,
    pub time: Time,
    pub end: Option<Time>,
    pub status: OrderStatus,
    pub discharge: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdministrationStatus {
    Completed,
    InProgress,
    Stopped,
    NotGiven,
    Unspecified,
}

#[derive(Debug, Clone)]
pub struct MedicationAdministration {
    pub id: String,
    pub order_id: String,
    pub codes: Vec<Code>,
    pub name: String,
    pub dose: Option<Dose>,
    pub route: String,
    pub time: Time,
    pub end: Option<Time>,
    pub status: AdministrationStatus,
    pub reason_not_given: Option<Code>,
}

impl MedicationAdministration {
    /// True when the drug was (at least partly) given.
    pub fn was_given(&self) -> bool {
        matches!(
            self.status,
            AdministrationStatus::Completed | AdministrationStatus::InProgress | AdministrationStatus::Stopped
        )
    }
}

#[derive(Debug, Clone)]
pub struct Procedure {
    pub id: String,
    pub code: Code,
    pub time: Time,
    pub end: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllergyType {
    Allergy,
    Intolerance,
    Contraindication,
    Unspecified,
}

#[derive(Debug, Clone)]
pub struct Allergy {
    pub id: String,
    pub substance: Code,
    pub kind: AllergyType,
    pub reaction: Option<Code>,
    pub time: Option<Time>,
}

#[derive(Debug, Clone)]
pub struct Note {
    pub id: String,
    pub kind: Option<Code>,
    pub text: String,
    pub time: Time,
}

/// One validated encounter.
#[derive(Debug, Clone)]
pub struct Encounter {
    pub id: String,
    pub patient: Patient,
    pub class: EncounterClass,
    pub department: String,
    pub arrival: Time,
    pub admission: Option<Time>,
    pub discharge: Option<Time>,
    pub disposition: Option<Disposition>,
    pub transferred_in: bool,
    pub onset: Option<Time>,
    pub last_known_well: Option<Time>,
    pub diagnoses: Vec<Diagnosis>,
    pub vitals: Vec<Observation>,
    pub labs: Vec<Observation>,
    pub assessments: Vec<Observation>,
    pub medication_orders: Vec<MedicationOrder>,
    pub administrations: Vec<MedicationAdministration>,
    pub procedures: Vec<Procedure>,
    pub allergies: Vec<Allergy>,
    pub notes: Vec<Note>,
}

impl Encounter {
    /// Number of clinical events (items in all lists), a measure of encounter size.
    pub fn event_count(&self) -> usize {
        self.diagnoses.len()
            + self.vitals.len()
            + self.labs.len()
            + self.assessments.len()
            + self.medication_orders.len()
            + self.administrations.len()
            + self.procedures.len()
            + self.allergies.len()
            + self.notes.len()
    }
}
