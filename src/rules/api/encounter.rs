//! The read-only encounter object `enc` that rules receive: scalar getters and queries by
//! value-set name. It wraps an `Arc<Encounter>` (no copy per rule); query results are
//! memoised per request, so the eight STEMI rules asking `has_diagnosis("stemi")` match
//! the diagnoses once.
use std::sync::{Arc, Mutex};

use chrono_tz::Tz;
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, NativeCallContext, FLOAT};

use super::items::{
    AdministrationRef, AllergyRef, DiagnosisRef, FieldEvidence, NoteRef, ObsList, ObservationRef, OrderRef,
    ProcedureRef, EVIDENCE_FIELDS,
};
use super::time::{CallState, Time};
use crate::encounter::{Code, DiagnosisRank, Encounter, OrderStatus};
use crate::rules::trail;
use crate::rules::valueset::{normalize_code, ValueSet, ValueSets};

pub use super::items::evidence_of;

/// Scalar properties of `enc` (checked by the linter).
pub const ENCOUNTER_PROPERTIES: &[&str] = &[
    "id",
    "age",
    "sex",
    "class",
    "encounter_class",
    "department",
    "transferred_in",
    "disposition",
    "arrival",
    "admission",
    "discharge",
    "onset",
    "last_known_well",
    "length_of_stay_days",
    // Registered in `course.rs`.
    "arrival_mode",
    "prehospital_ecg",
    "first_admission",
    "comfort_measures_time",
    "clinical_trial_time",
    "first_icu",
    "locations",
    "prior_encounter_count",
    "birth_date_precision",
];

/// Methods of `enc` whose argument is a value-set name (checked by the linter).
pub const VALUE_SET_METHODS: &[&str] = &[
    "diagnoses",
    "has_diagnosis",
    "principal_diagnosis",
    "vitals",
    "labs",
    "assessments",
    "orders",
    "discharge_meds",
    "given",
    "not_given",
    "procedures",
    "allergies",
    "notes",
    "has_prior_diagnosis",
];

/// Methods of `enc` whose two arguments are both value-set names (checked by the linter).
pub const TWO_VALUE_SET_METHODS: &[&str] = &["not_given_for"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Diagnoses,
    Vitals,
    Labs,
    Assessments,
    Orders,
    DischargeMeds,
    Given,
    NotGiven,
    Procedures,
    Allergies,
    Notes,
}

/// Matching item indices per (query, value set), for one request: a short list (a
/// request asks a few dozen distinct questions), compared by pointer first.
type Memo = Vec<(Query, ImmutableString, Arc<Vec<usize>>)>;

/// Values computed by `memo(key, || ...)`, per (pack, key), for one request, with the
/// implausible items the computation asked about (re-asked on every hit).
type ScriptMemo = Vec<(ImmutableString, ImmutableString, Dynamic, Vec<usize>, Vec<trail::Step>)>;

struct Inner {
    enc: Arc<Encounter>,
    value_sets: Arc<ValueSets>,
    memo: Mutex<Memo>,
    script_memo: Mutex<ScriptMemo>,
    /// Indices into `enc.implausible` of the items a value-set question of the rule now
    /// running would have matched (see [`EncounterView::take_implausible_asked`]).
    implausible_asked: Mutex<Vec<usize>>,
}

/// The `enc` object. Cloning is an `Arc` clone.
#[derive(Clone)]
pub struct EncounterView(Arc<Inner>);

impl std::fmt::Debug for EncounterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encounter")
    }
}

fn any_code(codes: &[Code], vs: &ValueSet) -> bool {
    codes.iter().any(|c| {
        let sys = c.system.name();
        vs.matches_normalized(sys, &normalize_code(sys, &c.code))
    })
}

/// A substance record matches its ATC class or members too (see `ValueSet::matches_class_or_member`).
fn any_substance(codes: &[Code], vs: &ValueSet) -> bool {
    codes.iter().any(|c| {
        let sys = c.system.name();
        vs.matches_class_or_member(sys, &normalize_code(sys, &c.code))
    })
}

fn one_code(c: &Code, vs: &ValueSet) -> bool {
    any_code(std::slice::from_ref(c), vs)
}

impl EncounterView {
    pub fn new(enc: Arc<Encounter>, value_sets: Arc<ValueSets>) -> Self {
        Self(Arc::new(Inner {
            enc,
            value_sets,
            memo: Mutex::new(Vec::with_capacity(32)),
            script_memo: Mutex::new(Vec::new()),
            implausible_asked: Mutex::new(Vec::new()),
        }))
    }

    /// The object to pass to `evaluate(enc)`.
    pub fn dynamic(enc: Arc<Encounter>, value_sets: Arc<ValueSets>) -> Dynamic {
        Dynamic::from(Self::new(enc, value_sets))
    }

    pub fn encounter(&self) -> &Arc<Encounter> {
        &self.0.enc
    }

    pub fn value_sets(&self) -> &ValueSets {
        &self.0.value_sets
    }

    fn memo_get(&self, pack: &str, key: &str) -> Option<Dynamic> {
        let m = self.0.script_memo.lock().unwrap_or_else(|e| e.into_inner());
        let (_, _, v, asked, steps) = m.iter().find(|(p, k, _, _, _)| p.as_str() == pack && k.as_str() == key)?;
        if !asked.is_empty() {
            self.add_implausible_asked(asked);
        }
        // The trail steps of the computation belong to every rule that reads its value.
        trail::replay(steps);
        Some(v.clone())
    }

    fn memo_put(
        &self,
        pack: ImmutableString,
        key: ImmutableString,
        value: Dynamic,
        asked: Vec<usize>,
        steps: Vec<trail::Step>,
    ) {
        self.0.script_memo.lock().unwrap_or_else(|e| e.into_inner()).push((pack, key, value, asked, steps));
    }

    fn add_implausible_asked(&self, items: &[usize]) {
        let mut asked = self.0.implausible_asked.lock().unwrap_or_else(|e| e.into_inner());
        for &i in items {
            if !asked.contains(&i) {
                asked.push(i);
            }
        }
    }

    /// The implausible observations (left out of the encounter) that the questions asked
    /// since the last call would have matched, as indices into `encounter().implausible`:
    /// the rule that asked needed them, so its finding becomes missing data.
    pub fn take_implausible_asked(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.implausible_asked.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Record the implausible items of `q`'s list that value set `name` matches.
    fn note_implausible(&self, q: Query, name: &str) {
        let list = match q {
            Query::Vitals => "vitals",
            Query::Labs => "labs",
            Query::Assessments => "assessments",
            _ => return,
        };
        let Some(vs) = self.0.value_sets.get(name) else { return };
        let hits: Vec<usize> = (0..self.0.enc.implausible.len())
            .filter(|&i| {
                let item = &self.0.enc.implausible[i];
                item.list == list && any_code(&item.codings, vs)
            })
            .collect();
        self.add_implausible_asked(&hits);
    }

    /// Indices of the items of a list matching value set `name` (memoised).
    fn matching(&self, q: Query, name: ImmutableString) -> Result<Arc<Vec<usize>>, Box<EvalAltResult>> {
        if !self.0.enc.implausible.is_empty() {
            self.note_implausible(q, &name);
        }
        if let Some(hit) = self
            .0
            .memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(mq, mn, _)| *mq == q && (mn.ptr_eq(&name) || *mn == name))
        {
            return Ok(hit.2.clone());
        }
        let vs = self.0.value_sets.get(&name).ok_or_else(|| -> Box<EvalAltResult> {
            format!("unknown value set '{name}' (files in rules/valuesets/)").into()
        })?;
        let e = &*self.0.enc;
        let idx: Vec<usize> = match q {
            Query::Diagnoses => (0..e.diagnoses.len()).filter(|&i| any_code(&e.diagnoses[i].codings, vs)).collect(),
            Query::Vitals => (0..e.vitals.len()).filter(|&i| any_code(&e.vitals[i].codings, vs)).collect(),
            Query::Labs => (0..e.labs.len()).filter(|&i| any_code(&e.labs[i].codings, vs)).collect(),
            Query::Assessments => {
                (0..e.assessments.len()).filter(|&i| any_code(&e.assessments[i].codings, vs)).collect()
            }
            Query::Orders => (0..e.medication_orders.len())
                .filter(|&i| {
                    let o = &e.medication_orders[i];
                    !o.discharge && o.status != OrderStatus::Cancelled && any_code(&o.codes, vs)
                })
                .collect(),
            Query::DischargeMeds => (0..e.medication_orders.len())
                .filter(|&i| {
                    let o = &e.medication_orders[i];
                    o.discharge && o.status != OrderStatus::Cancelled && any_code(&o.codes, vs)
                })
                .collect(),
            Query::Given => (0..e.administrations.len())
                .filter(|&i| {
                    let a = &e.administrations[i];
                    a.was_given() && any_code(&a.codes, vs)
                })
                .collect(),
            Query::NotGiven => (0..e.administrations.len())
                .filter(|&i| {
                    let a = &e.administrations[i];
                    !a.was_given() && any_code(&a.codes, vs)
                })
                .collect(),
            Query::Procedures => (0..e.procedures.len()).filter(|&i| any_code(&e.procedures[i].codings, vs)).collect(),
            Query::Allergies => {
                (0..e.allergies.len()).filter(|&i| any_substance(&e.allergies[i].substance_codings, vs)).collect()
            }
            Query::Notes => {
                (0..e.notes.len()).filter(|&i| e.notes[i].kind.as_ref().is_some_and(|c| one_code(c, vs))).collect()
            }
        };
        let idx = Arc::new(idx);
        self.0.memo.lock().unwrap_or_else(|e| e.into_inner()).push((q, name, idx.clone()));
        Ok(idx)
    }

    /// Any diagnosis in value set `vs` (memoised like `enc.has_diagnosis`); an unknown
    /// value set counts as a match, so the rules run and report it themselves.
    pub fn has_diagnosis_in(&self, vs: &ImmutableString) -> bool {
        self.matching(Query::Diagnoses, vs.clone()).map_or(true, |idx| !idx.is_empty())
    }

    /// The principal diagnosis is in value set `vs` (like `enc.principal_diagnosis`).
    pub fn has_principal_diagnosis_in(&self, vs: &ImmutableString) -> bool {
        self.matching(Query::Diagnoses, vs.clone())
            .map_or(true, |idx| idx.iter().any(|&i| self.0.enc.diagnoses[i].rank == DiagnosisRank::Principal))
    }

    /// Any procedure in value set `vs` (like `enc.procedures(vs).len() > 0`).
    pub fn has_procedure_in(&self, vs: &ImmutableString) -> bool {
        self.matching(Query::Procedures, vs.clone()).map_or(true, |idx| !idx.is_empty())
    }

    /// Administrations of value set `drugs` documented as not given whose coded reason is in
    /// value set `reasons` (`enc.not_given_for("aspirin", "reason_medical")`): the reason
    /// class a measure accepts (clinical contraindication, patient refusal), never free text.
    fn not_given_for(&self, drugs: ImmutableString, reasons: ImmutableString) -> Result<Array, Box<EvalAltResult>> {
        let idx = self.matching(Query::NotGiven, drugs.clone())?;
        let vs = self.0.value_sets.get(&reasons).ok_or_else(|| -> Box<EvalAltResult> {
            format!("unknown value set '{reasons}' (files in rules/valuesets/)").into()
        })?;
        let enc = &self.0.enc;
        let items: Array = idx
            .iter()
            .filter(|&&i| enc.administrations[i].reason_not_given.as_ref().is_some_and(|c| one_code(c, vs)))
            .map(|&i| Dynamic::from(AdministrationRef { enc: enc.clone(), i }))
            .collect();
        trail::exclusion_query(&reasons, items.len(), || items.first().cloned());
        Ok(items)
    }

    fn items(&self, q: Query, name: ImmutableString) -> Result<Array, Box<EvalAltResult>> {
        let idx = self.matching(q, name.clone())?;
        let items: Array = idx.iter().map(|&i| self.item(q, i)).collect();
        trail::exclusion_query(&name, items.len(), || items.first().cloned());
        Ok(items)
    }

    /// The handle of item `i` of `q`'s list.
    fn item(&self, q: Query, i: usize) -> Dynamic {
        let enc = self.0.enc.clone();
        match q {
            Query::Diagnoses => Dynamic::from(DiagnosisRef { enc, i }),
            Query::Vitals => Dynamic::from(ObservationRef { enc, list: ObsList::Vitals, i }),
            Query::Labs => Dynamic::from(ObservationRef { enc, list: ObsList::Labs, i }),
            Query::Assessments => Dynamic::from(ObservationRef { enc, list: ObsList::Assessments, i }),
            Query::Orders | Query::DischargeMeds => Dynamic::from(OrderRef { enc, i }),
            Query::Given | Query::NotGiven => Dynamic::from(AdministrationRef { enc, i }),
            Query::Procedures => Dynamic::from(ProcedureRef { enc, i }),
            Query::Allergies => Dynamic::from(AllergyRef { enc, i }),
            Query::Notes => Dynamic::from(NoteRef { enc, i }),
        }
    }
}

fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> Dynamic {
    t.map_or(Dynamic::UNIT, |t| Dynamic::from(Time(t)))
}

type Res<T> = Result<T, Box<EvalAltResult>>;

pub fn register(engine: &mut Engine, _tz: Tz) {
    super::items::register(engine);
    engine.register_type_with_name::<EncounterView>("Encounter");

    engine.register_get("id", |v: &mut EncounterView| ImmutableString::from(v.0.enc.id.as_str()));
    engine.register_get("age", |v: &mut EncounterView| v.0.enc.patient.age_years as FLOAT);
    engine.register_get("sex", |v: &mut EncounterView| ImmutableString::from(v.0.enc.patient.sex.as_str()));
    engine.register_get("class", |v: &mut EncounterView| ImmutableString::from(v.0.enc.class.as_str()));
    engine.register_get("encounter_class", |v: &mut EncounterView| ImmutableString::from(v.0.enc.class.as_str()));
    engine.register_get("department", |v: &mut EncounterView| ImmutableString::from(v.0.enc.department.as_str()));
    engine.register_get("transferred_in", |v: &mut EncounterView| {
        let t = v.0.enc.transferred_in;
        trail::exclusion_field("enc.transferred_in", t, None);
        t
    });
    engine.register_get("disposition", |v: &mut EncounterView| {
        ImmutableString::from(v.0.enc.disposition.map_or("", |d| d.as_str()))
    });
    engine.register_get("arrival", |v: &mut EncounterView| Time(v.0.enc.arrival));
    engine.register_get("admission", |v: &mut EncounterView| opt_time(v.0.enc.admission));
    engine.register_get("discharge", |v: &mut EncounterView| opt_time(v.0.enc.discharge));
    engine.register_get("onset", |v: &mut EncounterView| opt_time(v.0.enc.onset));
    engine.register_get("last_known_well", |v: &mut EncounterView| opt_time(v.0.enc.last_known_well));
    engine.register_get("length_of_stay_days", |v: &mut EncounterView| {
        let e = &v.0.enc;
        e.discharge.map_or(Dynamic::UNIT, |d| {
            let start = e.admission.unwrap_or(e.arrival);
            Dynamic::from_float((d - start).num_seconds() as FLOAT / 86_400.0)
        })
    });

    let queries: [(&str, Query); 11] = [
        ("diagnoses", Query::Diagnoses),
        ("vitals", Query::Vitals),
        ("labs", Query::Labs),
        ("assessments", Query::Assessments),
        ("orders", Query::Orders),
        ("discharge_meds", Query::DischargeMeds),
        ("given", Query::Given),
        ("not_given", Query::NotGiven),
        ("procedures", Query::Procedures),
        ("allergies", Query::Allergies),
        ("notes", Query::Notes),
    ];
    for (name, q) in queries {
        engine.register_fn(name, move |v: &mut EncounterView, vs: ImmutableString| -> Res<Array> { v.items(q, vs) });
    }
    engine.register_fn(
        "not_given_for",
        |v: &mut EncounterView, drugs: ImmutableString, reasons: ImmutableString| -> Res<Array> {
            v.not_given_for(drugs, reasons)
        },
    );
    engine.register_fn("has_diagnosis", |v: &mut EncounterView, vs: ImmutableString| -> Res<bool> {
        let idx = v.matching(Query::Diagnoses, vs.clone())?;
        trail::exclusion_query(&vs, idx.len(), || idx.first().map(|&i| v.item(Query::Diagnoses, i)));
        Ok(!idx.is_empty())
    });
    engine.register_fn("principal_diagnosis", |v: &mut EncounterView, vs: ImmutableString| -> Res<bool> {
        let idx = v.matching(Query::Diagnoses, vs)?;
        Ok(idx.iter().any(|&i| v.0.enc.diagnoses[i].rank == DiagnosisRank::Principal))
    });
    // memo(key, || expr): the value of `expr`, computed once per request and pack and shared
    // by every rule of the pack that asks for the same key (e.g. SEP-1 shock presentation).
    engine.register_fn("memo", |ctx: NativeCallContext, key: ImmutableString, f: FnPtr| -> Res<Dynamic> {
        let state = ctx.tag().and_then(|t| t.read_lock::<CallState>().map(|s| (s.view.clone(), s.pack.clone())));
        let Some((Some(view), pack)) = state else {
            return f.call_within_context(&ctx, ());
        };
        if let Some(v) = view.memo_get(&pack, &key) {
            return Ok(v);
        }
        // What the computation asks about implausible items is kept with its value, so
        // that every rule reading the memo is charged with it (see `take_implausible_asked`).
        let outer = view.take_implausible_asked();
        let recording = trail::MemoRecording::start();
        let v: Dynamic = f.call_within_context(&ctx, ())?;
        let steps = recording.finish();
        trail::replay(&steps);
        let inner = view.take_implausible_asked();
        view.add_implausible_asked(&outer);
        view.add_implausible_asked(&inner);
        view.memo_put(pack, key, v.clone(), inner, steps);
        Ok(v)
    });
    engine.register_fn("field_evidence", |field: ImmutableString| -> Res<FieldEvidence> {
        if !EVIDENCE_FIELDS.contains(&field.as_str()) {
            return Err(format!("unknown encounter field '{field}' (one of: {})", EVIDENCE_FIELDS.join(", ")).into());
        }
        Ok(FieldEvidence { field })
    });
}
