//! Encounter items as scripts see them: cheap handles (an `Arc` of the encounter plus an
//! index) with read-only getters, and their conversion into finding evidence.
use std::sync::Arc;

use chrono_tz::Tz;
use rhai::{Dynamic, Engine, ImmutableString, FLOAT};

use super::time::{display, Time};
use crate::encounter::{
    AdministrationStatus, Allergy, AllergyType, Code, Diagnosis, DiagnosisRank, Encounter, MedicationAdministration,
    MedicationOrder, Note, ObsValue, Observation, OrderStatus, PresentOnAdmission, Procedure,
};
use crate::locale::Locale;
use crate::rules::finding::{Evidence, EvidenceCode};

/// Which observation list an observation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsList {
    Vitals,
    Labs,
    Assessments,
}

impl ObsList {
    pub fn name(self) -> &'static str {
        match self {
            ObsList::Vitals => "vitals",
            ObsList::Labs => "labs",
            ObsList::Assessments => "assessments",
        }
    }
}

macro_rules! item_ref {
    ($name:ident, $target:ty, |$e:ident, $s:ident| $get:expr) => {
        #[derive(Debug, Clone)]
        pub struct $name {
            pub enc: Arc<Encounter>,
            pub i: usize,
        }
        impl $name {
            pub fn get(&self) -> &$target {
                let $e = &*self.enc;
                let $s = self;
                $get
            }
        }
    };
}

item_ref!(DiagnosisRef, Diagnosis, |e, s| &e.diagnoses[s.i]);
item_ref!(OrderRef, MedicationOrder, |e, s| &e.medication_orders[s.i]);
item_ref!(AdministrationRef, MedicationAdministration, |e, s| &e.administrations[s.i]);
item_ref!(ProcedureRef, Procedure, |e, s| &e.procedures[s.i]);
item_ref!(AllergyRef, Allergy, |e, s| &e.allergies[s.i]);
item_ref!(NoteRef, Note, |e, s| &e.notes[s.i]);

/// An observation in one of the three observation lists.
#[derive(Debug, Clone)]
pub struct ObservationRef {
    pub enc: Arc<Encounter>,
    pub list: ObsList,
    pub i: usize,
}

impl ObservationRef {
    pub fn get(&self) -> &Observation {
        match self.list {
            ObsList::Vitals => &self.enc.vitals[self.i],
            ObsList::Labs => &self.enc.labs[self.i],
            ObsList::Assessments => &self.enc.assessments[self.i],
        }
    }
}

/// `field_evidence("arrival_time")`: an encounter-level field cited as evidence.
#[derive(Debug, Clone)]
pub struct FieldEvidence {
    pub field: ImmutableString,
}

/// Encounter-level fields `field_evidence` accepts.
pub const EVIDENCE_FIELDS: &[&str] = &[
    "arrival_time",
    "admission_time",
    "discharge_time",
    "symptom_onset_time",
    "last_known_well_time",
    "transferred_in",
    "discharge_disposition",
    "age",
    "sex",
    "encounter_class",
    "department",
];

fn s(v: &str) -> ImmutableString {
    ImmutableString::from(v)
}

/// Shared strings for the fixed vocabularies (rank, poa, status, type): a clone is a
/// reference-count increment instead of an allocation per property read.
fn word(v: &'static str) -> ImmutableString {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static WORDS: OnceLock<HashMap<&'static str, ImmutableString>> = OnceLock::new();
    let words = WORDS.get_or_init(|| {
        [
            "",
            "principal",
            "secondary",
            "admitting",
            "Y",
            "N",
            "U",
            "W",
            "active",
            "completed",
            "discontinued",
            "cancelled",
            "draft",
            "on_hold",
            "in_progress",
            "stopped",
            "not_given",
            "allergy",
            "intolerance",
            "contraindication",
        ]
        .into_iter()
        .map(|w| (w, ImmutableString::from(w)))
        .collect()
    });
    words.get(v).cloned().unwrap_or_else(|| ImmutableString::from(v))
}
fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> Dynamic {
    t.map_or(Dynamic::UNIT, |t| Dynamic::from(Time(t)))
}
fn opt_float(v: Option<f64>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |v| Dynamic::from_float(v as FLOAT))
}
fn first_code(codes: &[Code]) -> Option<&Code> {
    codes.first()
}

fn rank(r: DiagnosisRank) -> &'static str {
    match r {
        DiagnosisRank::Principal => "principal",
        DiagnosisRank::Secondary => "secondary",
        DiagnosisRank::Admitting => "admitting",
        DiagnosisRank::Unspecified => "",
    }
}
fn poa(p: PresentOnAdmission) -> &'static str {
    match p {
        PresentOnAdmission::Yes => "Y",
        PresentOnAdmission::No => "N",
        PresentOnAdmission::Unknown => "U",
        PresentOnAdmission::ClinicallyUndetermined => "W",
        PresentOnAdmission::Unspecified => "",
    }
}
pub fn order_status(st: OrderStatus) -> &'static str {
    match st {
        OrderStatus::Active => "active",
        OrderStatus::Completed => "completed",
        OrderStatus::Discontinued => "discontinued",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Draft => "draft",
        OrderStatus::OnHold => "on_hold",
        OrderStatus::Unspecified => "",
    }
}
fn admin_status(st: AdministrationStatus) -> &'static str {
    match st {
        AdministrationStatus::Completed => "completed",
        AdministrationStatus::InProgress => "in_progress",
        AdministrationStatus::Stopped => "stopped",
        AdministrationStatus::NotGiven => "not_given",
        AdministrationStatus::Unspecified => "",
    }
}
fn allergy_type(t: AllergyType, l: Locale) -> &'static str {
    match t {
        AllergyType::Allergy => l.pick("过敏", "allergy"),
        AllergyType::Intolerance => l.pick("不耐受", "intolerance"),
        AllergyType::Contraindication => l.pick("禁忌", "contraindication"),
        AllergyType::Unspecified => "",
    }
}

/// What a person reads for an encounter-level field cited as evidence, in `l` (the field
/// name itself for one without a label).
fn field_label(field: &str, l: Locale) -> String {
    let zh = match field {
        "arrival_time" => "到院时间",
        "admission_time" => "入院时间",
        "discharge_time" => "出院时间",
        "symptom_onset_time" => "发病时间",
        "last_known_well_time" => "最后正常时间",
        "transferred_in" => "转入",
        "discharge_disposition" => "出院去向",
        "age" => "年龄",
        "sex" => "性别",
        "encounter_class" => "就诊类型",
        "department" => "科室",
        _ => field,
    };
    match l {
        Locale::ZhCn => zh.to_string(),
        Locale::En => field.replace('_', " "),
    }
}

fn obs_value_text(o: &Observation) -> String {
    match &o.value {
        ObsValue::Quantity { value, unit } => format!("{value} {unit}").trim().to_string(),
        ObsValue::Text(t) => t.clone(),
    }
}

fn dose_text(d: &Option<crate::encounter::Dose>) -> String {
    d.as_ref().map(|d| format!("{} {}", d.value, d.unit).trim().to_string()).unwrap_or_default()
}

fn code_ev(c: &Code) -> Option<EvidenceCode> {
    Some(EvidenceCode { system: c.system.name().to_string(), code: c.code.clone(), display: c.display.clone() })
}

/// Register the item types and their getters.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<DiagnosisRef>("Diagnosis");
    engine.register_get("id", |d: &mut DiagnosisRef| s(&d.get().id));
    engine.register_get("code", |d: &mut DiagnosisRef| s(&d.get().code.code));
    engine.register_get("system", |d: &mut DiagnosisRef| s(d.get().code.system.name()));
    engine.register_get("display", |d: &mut DiagnosisRef| s(&d.get().code.display));
    engine.register_get("rank", |d: &mut DiagnosisRef| word(rank(d.get().rank)));
    engine.register_get("poa", |d: &mut DiagnosisRef| word(poa(d.get().poa)));
    engine.register_get("time", |d: &mut DiagnosisRef| opt_time(d.get().time));

    engine.register_type_with_name::<ObservationRef>("Observation");
    engine.register_get("id", |o: &mut ObservationRef| s(&o.get().id));
    engine.register_get("code", |o: &mut ObservationRef| s(&o.get().code.code));
    engine.register_get("system", |o: &mut ObservationRef| s(o.get().code.system.name()));
    engine.register_get("display", |o: &mut ObservationRef| s(&o.get().code.display));
    engine.register_get("value", |o: &mut ObservationRef| opt_float(o.get().number()));
    engine.register_get("text", |o: &mut ObservationRef| match &o.get().value {
        ObsValue::Text(t) => s(t),
        ObsValue::Quantity { .. } => s(""),
    });
    engine.register_get("unit", |o: &mut ObservationRef| match &o.get().value {
        ObsValue::Quantity { unit, .. } => s(unit),
        ObsValue::Text(_) => s(""),
    });
    engine.register_get("time", |o: &mut ObservationRef| Time(o.get().time));

    engine.register_type_with_name::<OrderRef>("MedicationOrder");
    engine.register_get("id", |o: &mut OrderRef| s(&o.get().id));
    engine.register_get("code", |o: &mut OrderRef| s(first_code(&o.get().codes).map_or("", |c| &c.code)));
    engine.register_get("name", |o: &mut OrderRef| s(&o.get().name));
    engine.register_get("dose", |o: &mut OrderRef| opt_float(o.get().dose.as_ref().map(|d| d.value)));
    engine.register_get("dose_unit", |o: &mut OrderRef| s(o.get().dose.as_ref().map_or("", |d| &d.unit)));
    engine.register_get("route", |o: &mut OrderRef| s(&o.get().route));
    engine.register_get("frequency", |o: &mut OrderRef| s(&o.get().frequency));
    engine.register_get("time", |o: &mut OrderRef| Time(o.get().time));
    engine.register_get("end", |o: &mut OrderRef| opt_time(o.get().end));
    engine.register_get("status", |o: &mut OrderRef| word(order_status(o.get().status)));
    engine.register_get("discharge", |o: &mut OrderRef| o.get().discharge);

    engine.register_type_with_name::<AdministrationRef>("MedicationAdministration");
    engine.register_get("id", |a: &mut AdministrationRef| s(&a.get().id));
    engine.register_get("code", |a: &mut AdministrationRef| s(first_code(&a.get().codes).map_or("", |c| &c.code)));
    engine.register_get("name", |a: &mut AdministrationRef| s(&a.get().name));
    engine.register_get("dose", |a: &mut AdministrationRef| opt_float(a.get().dose.as_ref().map(|d| d.value)));
    engine.register_get("dose_unit", |a: &mut AdministrationRef| s(a.get().dose.as_ref().map_or("", |d| &d.unit)));
    engine.register_get("route", |a: &mut AdministrationRef| s(&a.get().route));
    engine.register_get("time", |a: &mut AdministrationRef| Time(a.get().time));
    engine.register_get("end", |a: &mut AdministrationRef| opt_time(a.get().end));
    engine.register_get("status", |a: &mut AdministrationRef| word(admin_status(a.get().status)));
    engine.register_get("order_id", |a: &mut AdministrationRef| s(&a.get().order_id));
    engine.register_get("reason", |a: &mut AdministrationRef| {
        s(a.get().reason_not_given.as_ref().map_or("", |c| if c.display.is_empty() { &c.code } else { &c.display }))
    });
    engine.register_get("reason_code", |a: &mut AdministrationRef| {
        s(a.get().reason_not_given.as_ref().map_or("", |c| &c.code))
    });

    engine.register_type_with_name::<ProcedureRef>("Procedure");
    engine.register_get("id", |p: &mut ProcedureRef| s(&p.get().id));
    engine.register_get("code", |p: &mut ProcedureRef| s(&p.get().code.code));
    engine.register_get("system", |p: &mut ProcedureRef| s(p.get().code.system.name()));
    engine.register_get("display", |p: &mut ProcedureRef| s(&p.get().code.display));
    engine.register_get("time", |p: &mut ProcedureRef| Time(p.get().time));
    engine.register_get("end", |p: &mut ProcedureRef| opt_time(p.get().end));

    engine.register_type_with_name::<AllergyRef>("Allergy");
    engine.register_get("id", |a: &mut AllergyRef| s(&a.get().id));
    engine.register_get("code", |a: &mut AllergyRef| s(&a.get().substance.code));
    engine.register_get("display", |a: &mut AllergyRef| s(&a.get().substance.display));
    engine.register_get("type", |a: &mut AllergyRef| word(allergy_type(a.get().kind, Locale::En)));
    engine.register_get("reaction", |a: &mut AllergyRef| {
        s(a.get().reaction.as_ref().map_or("", |c| if c.display.is_empty() { &c.code } else { &c.display }))
    });
    engine.register_get("time", |a: &mut AllergyRef| opt_time(a.get().time));

    engine.register_type_with_name::<NoteRef>("Note");
    engine.register_get("id", |n: &mut NoteRef| s(&n.get().id));
    engine.register_get("code", |n: &mut NoteRef| s(n.get().kind.as_ref().map_or("", |c| &c.code)));
    engine.register_get("time", |n: &mut NoteRef| Time(n.get().time));

    engine.register_type_with_name::<FieldEvidence>("FieldEvidence");
}

/// Evidence for an item a script cited; `None` if `d` is not an encounter item.
/// `enc` is the encounter evaluated (for `field_evidence`); what cdssd adds to the item's
/// own texts (given, ordered, field names) is in `l`.
pub fn evidence_of(d: &Dynamic, tz: Tz, enc: &Encounter, l: Locale) -> Option<Evidence> {
    if let Some(r) = d.read_lock::<DiagnosisRef>() {
        let x = r.get();
        return Some(Evidence {
            item_type: "diagnoses".into(),
            item_id: x.id.clone(),
            label: format!("{} {}", x.code.code, x.code.display).trim().to_string(),
            code: code_ev(&x.code),
            value: String::new(),
            time: x.time,
        });
    }
    if let Some(r) = d.read_lock::<ObservationRef>() {
        let x = r.get();
        return Some(Evidence {
            item_type: r.list.name().into(),
            item_id: x.id.clone(),
            label: if x.code.display.is_empty() { x.code.code.clone() } else { x.code.display.clone() },
            code: code_ev(&x.code),
            value: obs_value_text(x),
            time: Some(x.time),
        });
    }
    if let Some(r) = d.read_lock::<OrderRef>() {
        let x = r.get();
        let mut label =
            format!("{} {} {}", x.name, dose_text(&x.dose), x.route).split_whitespace().collect::<Vec<_>>().join(" ");
        label.push_str(if x.discharge {
            l.pick("（出院带药）", " (discharge prescription)")
        } else {
            l.pick("（已开具）", " ordered")
        });
        return Some(Evidence {
            item_type: "medication_orders".into(),
            item_id: x.id.clone(),
            label,
            code: first_code(&x.codes).and_then(code_ev),
            value: dose_text(&x.dose),
            time: Some(x.time),
        });
    }
    if let Some(r) = d.read_lock::<AdministrationRef>() {
        let x = r.get();
        let what = if x.was_given() { l.pick("已给予", "given") } else { l.pick("未给予", "not given") };
        let label = format!("{} {} {} {what}", x.name, dose_text(&x.dose), x.route)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        return Some(Evidence {
            item_type: "medication_administrations".into(),
            item_id: x.id.clone(),
            label,
            code: first_code(&x.codes).and_then(code_ev),
            value: dose_text(&x.dose),
            time: Some(x.time),
        });
    }
    if let Some(r) = d.read_lock::<ProcedureRef>() {
        let x = r.get();
        return Some(Evidence {
            item_type: "procedures".into(),
            item_id: x.id.clone(),
            label: if x.code.display.is_empty() { x.code.code.clone() } else { x.code.display.clone() },
            code: code_ev(&x.code),
            value: String::new(),
            time: Some(x.time),
        });
    }
    if let Some(r) = d.read_lock::<AllergyRef>() {
        let x = r.get();
        let what = if x.substance.display.is_empty() { &x.substance.code } else { &x.substance.display };
        return Some(Evidence {
            item_type: "allergies".into(),
            item_id: x.id.clone(),
            label: format!("{} {what}", allergy_type(x.kind, l)).trim().to_string(),
            code: code_ev(&x.substance),
            value: x.reaction.as_ref().map(|c| c.display.clone()).unwrap_or_default(),
            time: x.time,
        });
    }
    if let Some(r) = d.read_lock::<NoteRef>() {
        let x = r.get();
        return Some(Evidence {
            item_type: "notes".into(),
            item_id: x.id.clone(),
            label: x.kind.as_ref().map(|c| c.display.clone()).unwrap_or_else(|| l.pick("病历记录", "note").into()),
            code: x.kind.as_ref().and_then(code_ev),
            value: String::new(),
            time: Some(x.time),
        });
    }
    if let Some(r) = d.read_lock::<FieldEvidence>() {
        return Some(field_evidence(enc, &r.field, tz, l));
    }
    None
}

fn field_evidence(e: &Encounter, field: &str, tz: Tz, l: Locale) -> Evidence {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        (t.map(|t| display(tz, t)).unwrap_or_else(|| l.pick("未记录", "not recorded").into()), t)
    };
    let (value, t) = match field {
        "arrival_time" => time(Some(e.arrival)),
        "admission_time" => time(e.admission),
        "discharge_time" => time(e.discharge),
        "symptom_onset_time" => time(e.onset),
        "last_known_well_time" => time(e.last_known_well),
        "transferred_in" => (e.transferred_in.to_string(), None),
        "discharge_disposition" => (e.disposition.map(|d| d.as_str()).unwrap_or("").to_string(), None),
        "age" => (format!("{:.0} {}", e.patient.age_years.floor(), l.pick("岁", "years")), None),
        "sex" => (e.patient.sex.as_str().to_string(), None),
        "encounter_class" => (e.class.as_str().to_string(), None),
        "department" => (e.department.clone(), None),
        _ => (String::new(), None),
    };
    Evidence {
        item_type: "encounter".into(),
        item_id: field.to_string(),
        label: field_label(field, l),
        code: None,
        value,
        time: t,
    }
}
