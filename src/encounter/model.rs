//! The validated, internal encounter model that rules and models read.
//!
//! Built only by [`super::from_proto`]; every invariant listed here holds for
//! any value of these types: ids are non-empty and unique per list, codings
//! have a known [`CodeSystem`], numeric values are finite and in the canonical
//! unit of their quantity (see [`super::units`]), and every list is sorted by
//! its clinically relevant time (earliest first; ties keep the sender's order).

use chrono::{DateTime, NaiveDate, Utc};

use super::course::{ArrivalMode, CareDocumentation, CareKind, LocationStay, PriorEncounter, ReasonClass, Role};

/// An absolute instant.
pub type Time = DateTime<Utc>;

/// A code system, normalised from URIs and short names (see [`super::codes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeSystem {
    /// ICD-10 WHO and the modifications that keep its meaning: China national clinical
    /// edition 2.0 (ICD-10-CN, with extension codes like `A41.900x001`), -GM.
    Icd10,
    /// ICD-10-CM (US). Same family for matching, except in the categories whose meaning
    /// differs between editions (see `rules::valueset::EDITION_DIVERGENT`).
    Icd10Cm,
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
    /// Any ICD-10 edition (WHO, CN, GM, CM).
    pub fn is_icd10(&self) -> bool {
        matches!(self, CodeSystem::Icd10 | CodeSystem::Icd10Cm)
    }

    /// Short canonical name, as used in value sets and evidence.
    pub fn name(&self) -> &str {
        match self {
            CodeSystem::Icd10 => "ICD-10",
            CodeSystem::Icd10Cm => "ICD-10-CM",
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

/// How much of a birth date was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePrecision {
    Day,
    Month,
    Year,
}

impl DatePrecision {
    pub fn as_str(self) -> &'static str {
        match self {
            DatePrecision::Day => "day",
            DatePrecision::Month => "month",
            DatePrecision::Year => "year",
        }
    }
}

/// The patient, pseudonymous.
#[derive(Debug, Clone)]
pub struct Patient {
    pub id: String,
    /// For a partial date, the latest day it allows (so the age is the lowest possible).
    pub birth_date: Option<NaiveDate>,
    /// Precision of `birth_date` as sent (`Day` when only `age_years` was sent).
    pub birth_date_precision: DatePrecision,
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

/// Verification status of a diagnosis; refuted and entered-in-error ones are dropped
/// after validation, so no rule or model ever sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Confirmed,
    Provisional,
    Differential,
    Unconfirmed,
    Unspecified,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Confirmed => "confirmed",
            Verification::Provisional => "provisional",
            Verification::Differential => "differential",
            Verification::Unconfirmed => "unconfirmed",
            Verification::Unspecified => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub id: String,
    /// The first of `codings` (the one shown).
    pub code: Code,
    /// Every coding of the item, `code` first, without duplicates; value sets match any.
    pub codings: Vec<Code>,
    pub rank: DiagnosisRank,
    pub poa: PresentOnAdmission,
    pub time: Option<Time>,
    pub verification: Verification,
    pub onset: Option<Time>,
}

impl Diagnosis {
    /// The ICD-10 codings (any edition) among the diagnosis' codings.
    pub fn icd10(&self) -> impl Iterator<Item = &Code> {
        self.codings.iter().filter(|c| c.system.is_icd10())
    }
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

/// Comparator of a censored quantity (`<3 ng/L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Less,
    LessOrEqual,
    GreaterOrEqual,
    Greater,
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Less => "<",
            Comparator::LessOrEqual => "<=",
            Comparator::GreaterOrEqual => ">=",
            Comparator::Greater => ">",
        }
    }
}

/// Status of an observation; cancelled and entered-in-error ones are dropped after
/// validation, so no rule or model ever sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationStatus {
    Registered,
    Preliminary,
    Final,
    Amended,
    Corrected,
    Unspecified,
}

impl ObservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationStatus::Registered => "registered",
            ObservationStatus::Preliminary => "preliminary",
            ObservationStatus::Final => "final",
            ObservationStatus::Amended => "amended",
            ObservationStatus::Corrected => "corrected",
            ObservationStatus::Unspecified => "",
        }
    }
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
    /// The first of `codings` (the one shown).
    pub code: Code,
    /// Every coding of what was observed, `code` first, without duplicates.
    pub codings: Vec<Code>,
    /// A coded answer's text (or its first coding's display/code) is `ObsValue::Text`;
    /// its codings are in `answer_codes`.
    pub value: ObsValue,
    /// `Some` for a censored quantity (`<3 ng/L`): `value` is then the bound, not the value.
    pub comparator: Option<Comparator>,
    /// Codings of a coded answer (valueCodeableConcept); empty otherwise.
    pub answer_codes: Vec<Code>,
    pub status: ObservationStatus,
    pub time: Time,
    pub issued: Option<Time>,
    pub reference_range: Option<ReferenceRange>,
}

impl Observation {
    /// The exact numeric value: `None` for text and for censored quantities (`<3`).
    pub fn number(&self) -> Option<f64> {
        match self.value {
            ObsValue::Quantity { value, .. } if self.comparator.is_none() => Some(value),
            _ => None,
        }
    }

    /// The number as sent with its comparator (`None` = exact), for quantities.
    pub fn bound(&self) -> Option<(Option<Comparator>, f64)> {
        match self.value {
            ObsValue::Quantity { value, .. } => Some((self.comparator, value)),
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
    OnHold,
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
    /// The route text as sent, or the short form of a known `route_code` when empty.
    pub route: String,
    pub route_code: Option<Code>,
    pub frequency: String,
    pub time: Time,
    pub end: Option<Time>,
    pub status: OrderStatus,
    pub discharge: bool,
    pub dose_rate: Option<Dose>,
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
    /// The route text as sent, or the short form of a known `route_code` when empty.
    pub route: String,
    pub route_code: Option<Code>,
    pub time: Time,
    pub end: Option<Time>,
    pub status: AdministrationStatus,
    pub reason_not_given: Option<Code>,
    pub reason_class: Option<ReasonClass>,
    pub reason_text: String,
    pub reason_documented_by: Option<Role>,
    pub dose_rate: Option<Dose>,
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
    /// The first of `codings` (the one shown).
    pub code: Code,
    /// Every coding of the procedure, `code` first, without duplicates.
    pub codings: Vec<Code>,
    pub time: Time,
    pub end: Option<Time>,
    /// PCI: guidewire crossing of the culprit lesion.
    pub guidewire_crossing: Option<Time>,
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
    /// The first of `substance_codings` (the one shown).
    pub substance: Code,
    /// Every coding of the substance, `substance` first, without duplicates.
    pub substance_codings: Vec<Code>,
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

/// An observation left out of evaluation because its value is physiologically impossible
/// for its known quantity (`units::plausible`): no rule, model or prompt sees it; the
/// decision reports it as a data-quality notice, and a finding whose rule asked for its
/// value set becomes missing data. Carries no value (it is patient data).
#[derive(Debug, Clone)]
pub struct Implausible {
    /// "vitals", "labs" or "assessments".
    pub list: &'static str,
    pub item_id: String,
    /// Field path of the value, e.g. `encounter.vitals[2].quantity.value`.
    pub field: String,
    pub codings: Vec<Code>,
    /// The known quantity (`units::Quantity`), for its name, unit and range.
    pub quantity: &'static crate::encounter::units::Quantity,
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
    /// Location history, sorted by start.
    pub locations: Vec<LocationStay>,
    pub arrival_mode: Option<ArrivalMode>,
    pub prehospital_ecg: Option<Time>,
    /// `None` when not known.
    pub first_admission: Option<bool>,
    /// Sorted by time.
    pub care_documentation: Vec<CareDocumentation>,
    /// Earlier encounters, sorted by arrival.
    pub prior_encounters: Vec<PriorEncounter>,
    /// History conditions outside any sent encounter.
    pub prior_conditions: Vec<Diagnosis>,
    /// Observations left out because their value is impossible (in list order).
    pub implausible: Vec<Implausible>,
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
            + self.locations.len()
            + self.care_documentation.len()
    }

    /// Earliest documentation of `kind` (comfort measures, clinical trial).
    pub fn first_documented(&self, kind: CareKind) -> Option<&CareDocumentation> {
        self.care_documentation.iter().find(|d| d.kind == kind)
    }

    /// Start of the first ICU/CCU stay.
    pub fn first_intensive_care(&self) -> Option<Time> {
        self.locations.iter().find(|l| l.kind.is_intensive_care()).map(|l| l.start)
    }

    /// Diagnoses of the history: those of earlier encounters, then the prior conditions.
    pub fn history_diagnoses(&self) -> impl Iterator<Item = &Diagnosis> {
        self.prior_encounters.iter().flat_map(|p| p.diagnoses.iter()).chain(self.prior_conditions.iter())
    }
}
