//! The repeated fields of the encounter: one generic walk ([`Validator::list`])
//! checks the length limit and unique ids, validates each item at its path and
//! sorts the kept items by time; [`Item`] says what differs per list.

use std::collections::HashMap;

use super::{path::Path, Validator};
use crate::{
    encounter::{course::*, model::*},
    proto::v1 as pb,
};

/// An item of a repeated field: its id, its validation, and its sort time.
pub(super) trait Item {
    type Valid;
    /// The id as sent (unique within its list when not empty).
    fn id(&self) -> &str;
    /// Validate the item at `path` (recording violations); `None` when it cannot be kept.
    fn validate(&self, v: &mut Validator<'_>, path: Path<'_>) -> Option<Self::Valid>;
    /// The clinically relevant time that orders the list (earliest first).
    fn time(valid: &Self::Valid) -> Option<Time>;
}

/// `proto => valid: method, |v| time`: each list's item type, the validated
/// type, the [`Validator`] method that validates one item, and its sort time.
macro_rules! items {
    ($($proto:ty => $valid:ty: $method:ident, |$v:ident| $time:expr;)*) => {$(
        impl Item for $proto {
            type Valid = $valid;

            fn id(&self) -> &str {
                &self.id
            }

            fn validate(&self, v: &mut Validator<'_>, path: Path<'_>) -> Option<$valid> {
                v.$method(path, self)
            }

            fn time($v: &$valid) -> Option<Time> {
                $time
            }
        }
    )*};
}

items! {
    pb::Diagnosis => Diagnosis: diagnosis, |d| d.time;
    pb::Observation => Observation: observation, |o| Some(o.time);
    pb::MedicationOrder => MedicationOrder: order, |o| Some(o.time);
    pb::MedicationAdministration => MedicationAdministration: administration, |a| Some(a.time);
    pb::Procedure => Procedure: procedure, |p| Some(p.time);
    pb::Allergy => Allergy: allergy, |a| a.time;
    pb::Note => Note: note, |n| Some(n.time);
    pb::LocationStay => LocationStay: location, |l| Some(l.start);
    pb::CareDocumentation => CareDocumentation: care_documentation, |d| Some(d.time);
    pb::PriorEncounter => PriorEncounter: prior_encounter, |p| Some(p.arrival);
}

impl Validator<'_> {
    /// Validate a list: its length, its ids, each item; the kept items sorted by
    /// time (stable: ties keep the sender's order).
    pub(super) fn list<T: Item>(&mut self, path: Path<'_>, items: &[T]) -> Vec<T::Valid> {
        if items.len() > self.limits.max_items_per_list {
            self.err(
                path,
                format!("has {} items, more than the limit of {}", items.len(), self.limits.max_items_per_list),
            );
        }
        self.unique_ids(path, items);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(item.validate(self, path.index(i)));
        }
        // Senders mostly send lists in time order: then there is nothing to sort.
        if !out.is_sorted_by_key(T::time) {
            out.sort_by_key(T::time);
        }
        out
    }

    /// A non-empty id seen before is a violation naming the latest earlier item with it.
    fn unique_ids<T: Item>(&mut self, path: Path<'_>, items: &[T]) {
        if items.len() < 2 {
            return;
        }
        let mut seen = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let id = item.id();
            if id.is_empty() {
                continue;
            }
            if let Some(previous) = seen.insert(id, i) {
                self.err(path.index(i).field("id"), format!("duplicate id `{id}` (also {})", path.index(previous)));
            }
        }
    }

    /// The diagnoses, of which at most one is principal.
    pub(super) fn diagnoses(&mut self, path: Path<'_>, items: &[pb::Diagnosis]) -> Vec<Diagnosis> {
        let out = self.list(path, items);
        let principal = out.iter().filter(|d| d.rank == DiagnosisRank::Principal).count();
        if principal > 1 {
            self.err(path, format!("has {principal} principal diagnoses; at most one is allowed"));
        }
        out
    }
}

/// One item of each list (called through [`Item::validate`]).
impl Validator<'_> {
    /// A diagnosis; refuted and entered-in-error ones are validated, then dropped.
    pub(super) fn diagnosis(&mut self, path: Path<'_>, d: &pb::Diagnosis) -> Option<Diagnosis> {
        let id = self.id(path.field("id"), &d.id);
        let codings = self.item_codings(path, ("code", d.code.as_ref()), ("codings", &d.codings));
        let time = self.time(path.field("recorded_time"), d.recorded_time.as_ref());
        let onset = self.time(path.field("onset_time"), d.onset_time.as_ref());
        let verification = match pb::VerificationStatus::try_from(d.verification_status) {
            Ok(pb::VerificationStatus::Confirmed) => Some(Verification::Confirmed),
            Ok(pb::VerificationStatus::Provisional) => Some(Verification::Provisional),
            Ok(pb::VerificationStatus::Differential) => Some(Verification::Differential),
            Ok(pb::VerificationStatus::Unconfirmed) => Some(Verification::Unconfirmed),
            Ok(pb::VerificationStatus::Unspecified) => Some(Verification::Unspecified),
            Ok(pb::VerificationStatus::Refuted | pb::VerificationStatus::EnteredInError) => None,
            Err(_) => {
                self.err(path.field("verification_status"), format!("unknown value {}", d.verification_status));
                Some(Verification::Unspecified)
            }
        };
        let rank = match pb::DiagnosisRank::try_from(d.rank) {
            Ok(pb::DiagnosisRank::Principal) => DiagnosisRank::Principal,
            Ok(pb::DiagnosisRank::Secondary) => DiagnosisRank::Secondary,
            Ok(pb::DiagnosisRank::Admitting) => DiagnosisRank::Admitting,
            _ => DiagnosisRank::Unspecified,
        };
        let poa = match pb::PresentOnAdmission::try_from(d.present_on_admission) {
            Ok(pb::PresentOnAdmission::Yes) => PresentOnAdmission::Yes,
            Ok(pb::PresentOnAdmission::No) => PresentOnAdmission::No,
            Ok(pb::PresentOnAdmission::Unknown) => PresentOnAdmission::Unknown,
            Ok(pb::PresentOnAdmission::ClinicallyUndetermined) => PresentOnAdmission::ClinicallyUndetermined,
            _ => PresentOnAdmission::Unspecified,
        };
        let codings = codings?;
        Some(Diagnosis { id, code: codings[0].clone(), codings, rank, poa, time, verification: verification?, onset })
    }

    pub(super) fn order(&mut self, path: Path<'_>, o: &pb::MedicationOrder) -> Option<MedicationOrder> {
        let id = self.id(path.field("id"), &o.id);
        let codes = self.codings(path.field("codes"), &o.codes);
        let name = self.text(path.field("name"), &o.name);
        let dose = self.dose(path.field("dose"), o.dose.as_ref());
        let dose_rate = self.dose(path.field("dose_rate"), o.dose_rate.as_ref());
        let route_code = self.coding(path.field("route_code"), o.route_code.as_ref(), false);
        let route = self.route(path.field("route"), &o.route, route_code.as_ref());
        let frequency = self.text(path.field("frequency"), &o.frequency);
        let time = self.required_time(path.field("order_time"), o.order_time.as_ref());
        // An order may be due to stop in the future.
        let end = self.any_time(path.field("end_time"), o.end_time.as_ref());
        let status = match pb::OrderStatus::try_from(o.status) {
            Ok(pb::OrderStatus::Active) => OrderStatus::Active,
            Ok(pb::OrderStatus::Completed) => OrderStatus::Completed,
            Ok(pb::OrderStatus::Discontinued) => OrderStatus::Discontinued,
            Ok(pb::OrderStatus::Cancelled) => OrderStatus::Cancelled,
            Ok(pb::OrderStatus::Draft) => OrderStatus::Draft,
            Ok(pb::OrderStatus::OnHold) => OrderStatus::OnHold,
            _ => OrderStatus::Unspecified,
        };
        if let (Some(t), Some(e)) = (time, end) {
            if e < t {
                self.err(path.field("end_time"), "is before order_time");
            }
        }
        if codes.is_empty() {
            return None;
        }
        let discharge = o.discharge_medication;
        Some(MedicationOrder {
            id,
            codes,
            name,
            dose,
            route,
            route_code,
            frequency,
            time: time?,
            end,
            status,
            discharge,
            dose_rate,
        })
    }

    pub(super) fn administration(
        &mut self,
        path: Path<'_>,
        a: &pb::MedicationAdministration,
    ) -> Option<MedicationAdministration> {
        let id = self.id(path.field("id"), &a.id);
        let order_id = self.text(path.field("order_id"), &a.order_id);
        let codes = self.codings(path.field("codes"), &a.codes);
        let name = self.text(path.field("name"), &a.name);
        let dose = self.dose(path.field("dose"), a.dose.as_ref());
        let dose_rate = self.dose(path.field("dose_rate"), a.dose_rate.as_ref());
        let route_code = self.coding(path.field("route_code"), a.route_code.as_ref(), false);
        let route = self.route(path.field("route"), &a.route, route_code.as_ref());
        let time = self.required_time(path.field("start_time"), a.start_time.as_ref());
        let end = self.time(path.field("end_time"), a.end_time.as_ref());
        let status = match pb::AdministrationStatus::try_from(a.status) {
            Ok(pb::AdministrationStatus::Completed) => AdministrationStatus::Completed,
            Ok(pb::AdministrationStatus::InProgress) => AdministrationStatus::InProgress,
            Ok(pb::AdministrationStatus::Stopped) => AdministrationStatus::Stopped,
            Ok(pb::AdministrationStatus::NotGiven) => AdministrationStatus::NotGiven,
            _ => AdministrationStatus::Unspecified,
        };
        let reason_path = path.field("reason_not_given");
        let reason_not_given = self.coding(reason_path, a.reason_not_given.as_ref(), false);
        let reason_class = match pb::ReasonClass::try_from(a.reason_class) {
            Ok(pb::ReasonClass::Unspecified) => None,
            Ok(pb::ReasonClass::ClinicalContraindication) => Some(ReasonClass::ClinicalContraindication),
            Ok(pb::ReasonClass::PatientRefusal) => Some(ReasonClass::PatientRefusal),
            Ok(pb::ReasonClass::SystemLogistics) => Some(ReasonClass::SystemLogistics),
            Ok(pb::ReasonClass::Other) => Some(ReasonClass::Other),
            Err(_) => {
                self.err(path.field("reason_class"), format!("unknown value {}", a.reason_class));
                None
            }
        };
        let reason_text = self.text(path.field("reason_text"), &a.reason_text);
        let reason_documented_by = self.role(path.field("reason_documented_by"), a.reason_documented_by);
        if status == AdministrationStatus::NotGiven
            && reason_not_given.is_none()
            && a.reason_not_given.is_none()
            && a.reason_class == 0
        {
            self.err(reason_path, "is required when status is ADMINISTRATION_STATUS_NOT_GIVEN (or reason_class)");
        }
        if let (Some(t), Some(e)) = (time, end) {
            if e < t {
                self.err(path.field("end_time"), "is before start_time");
            }
        }
        if codes.is_empty() {
            return None;
        }
        Some(MedicationAdministration {
            id,
            order_id,
            codes,
            name,
            dose,
            route,
            route_code,
            time: time?,
            end,
            status,
            reason_not_given,
            reason_class,
            reason_text,
            reason_documented_by,
            dose_rate,
        })
    }

    pub(super) fn procedure(&mut self, path: Path<'_>, p: &pb::Procedure) -> Option<Procedure> {
        let id = self.id(path.field("id"), &p.id);
        let codings = self.item_codings(path, ("code", p.code.as_ref()), ("codings", &p.codings));
        let time = self.required_time(path.field("start_time"), p.start_time.as_ref());
        let end = self.time(path.field("end_time"), p.end_time.as_ref());
        let gw_path = path.field("guidewire_crossing_time");
        let guidewire_crossing = self.time(gw_path, p.guidewire_crossing_time.as_ref());
        if let (Some(t), Some(e)) = (time, end) {
            if e < t {
                self.err(path.field("end_time"), "is before start_time");
            }
        }
        if let Some(g) = guidewire_crossing {
            if time.is_some_and(|t| g < t) {
                self.err(gw_path, "is before start_time");
            }
            if end.is_some_and(|e| g > e) {
                self.err(gw_path, "is after end_time");
            }
        }
        let codings = codings?;
        Some(Procedure { id, code: codings[0].clone(), codings, time: time?, end, guidewire_crossing })
    }

    pub(super) fn allergy(&mut self, path: Path<'_>, a: &pb::Allergy) -> Option<Allergy> {
        let id = self.id(path.field("id"), &a.id);
        let codings =
            self.item_codings(path, ("substance", a.substance.as_ref()), ("substance_codings", &a.substance_codings));
        let reaction = self.coding(path.field("reaction"), a.reaction.as_ref(), false);
        let time = self.time(path.field("recorded_time"), a.recorded_time.as_ref());
        let kind = match pb::AllergyType::try_from(a.r#type) {
            Ok(pb::AllergyType::Allergy) => AllergyType::Allergy,
            Ok(pb::AllergyType::Intolerance) => AllergyType::Intolerance,
            Ok(pb::AllergyType::Contraindication) => AllergyType::Contraindication,
            _ => AllergyType::Unspecified,
        };
        let substance_codings = codings?;
        Some(Allergy { id, substance: substance_codings[0].clone(), substance_codings, kind, reaction, time })
    }

    pub(super) fn note(&mut self, path: Path<'_>, n: &pb::Note) -> Option<Note> {
        let id = self.id(path.field("id"), &n.id);
        let kind = self.coding(path.field("type"), n.r#type.as_ref(), false);
        if n.text.len() > self.limits.max_note_bytes {
            self.err(
                path.field("text"),
                format!("is {} bytes, longer than the limit of {}", n.text.len(), self.limits.max_note_bytes),
            );
        }
        let time = self.required_time(path.field("authored_time"), n.authored_time.as_ref())?;
        Some(Note { id, kind, text: n.text.clone(), time })
    }
}
