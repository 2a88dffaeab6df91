//! The request mix: the example encounters (each with a fitting evaluation
//! time and trigger) and generated variations of one encounter scaled to a
//! given number of events (items across all of the encounter's lists).

use std::path::Path;

use anyhow::Context;
use cdssd::proto::v1 as pb;
use pbjson_types::Timestamp;

/// One request of the mix.
#[derive(Clone, Debug)]
pub struct Work {
    /// File stem or `<stem>-x<events>`.
    pub name: String,
    pub req: pb::EvaluateRequest,
    /// Items across all lists of the encounter.
    pub events: usize,
    /// Encoded request size in bytes.
    pub bytes: usize,
}

impl Work {
    fn new(name: String, mut req: pb::EvaluateRequest) -> Self {
        let enc = req.encounter.as_ref().expect("built with an encounter");
        let events = count_events(enc);
        let eval = evaluation_time(enc);
        req.evaluation_time = Some(Timestamp { seconds: eval, nanos: 0 });
        if req.trigger == 0 {
            let t = if enc.discharge_time.is_some() { pb::Trigger::Discharge } else { pb::Trigger::PeriodicReview };
            req.trigger = t as i32;
        }
        let bytes = prost::Message::encoded_len(&req);
        Self { name, req, events, bytes }
    }

    /// The same request with the LLM mode set.
    pub fn with_llm(&self, mode: pb::LlmMode) -> pb::EvaluateRequest {
        let mut r = self.req.clone();
        r.options.get_or_insert_with(Default::default).llm = mode as i32;
        r
    }
}

/// Every `*.json` encounter in `dir`, sorted by name.
pub fn examples(dir: &Path) -> anyhow::Result<Vec<Work>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let req = cdssd::encounter::request_from_json(&text)?;
        let stem = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        out.push(Work::new(stem, req));
    }
    anyhow::ensure!(!out.is_empty(), "no example encounters in {}", dir.display());
    Ok(out)
}

/// Items across all lists.
pub fn count_events(e: &pb::Encounter) -> usize {
    e.diagnoses.len()
        + e.vitals.len()
        + e.labs.len()
        + e.medication_orders.len()
        + e.medication_administrations.len()
        + e.procedures.len()
        + e.assessments.len()
        + e.allergies.len()
        + e.notes.len()
}

fn secs(t: &Option<Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| t.seconds)
}

/// Latest instant recorded anywhere in the encounter.
fn latest(e: &pb::Encounter) -> i64 {
    let mut all = vec![secs(&e.arrival_time), secs(&e.admission_time), secs(&e.discharge_time)];
    all.extend(e.diagnoses.iter().map(|d| secs(&d.recorded_time)));
    for o in e.vitals.iter().chain(&e.labs).chain(&e.assessments) {
        all.extend([secs(&o.effective_time), secs(&o.issued_time)]);
    }
    for m in &e.medication_orders {
        all.extend([secs(&m.order_time), secs(&m.end_time)]);
    }
    for m in &e.medication_administrations {
        all.extend([secs(&m.start_time), secs(&m.end_time)]);
    }
    for p in &e.procedures {
        all.extend([secs(&p.start_time), secs(&p.end_time)]);
    }
    all.extend(e.allergies.iter().map(|a| secs(&a.recorded_time)));
    all.extend(e.notes.iter().map(|n| secs(&n.authored_time)));
    all.into_iter().flatten().max().unwrap_or(0)
}

/// One hour after discharge (retrospective), or five minutes after the last
/// item of an encounter in progress (the snapshot the example describes).
fn evaluation_time(e: &pb::Encounter) -> i64 {
    match secs(&e.discharge_time) {
        Some(d) => d.max(latest(e)) + 3600,
        None => latest(e) + 300,
    }
}

/// `base` with `n` events: fewer by keeping the diagnoses and the first vitals
/// and labs (an early snapshot); more by replicating vitals, labs, medication
/// administrations and assessments with fresh ids at times spread over the stay.
pub fn scaled(base: &Work, n: usize) -> Work {
    let mut req = base.req.clone();
    let eval = req.evaluation_time.as_ref().map(|t| t.seconds).unwrap_or(0);
    let enc = req.encounter.as_mut().expect("built with an encounter");
    let have = count_events(enc);
    if n < have {
        let mut keep = n.saturating_sub(enc.diagnoses.len());
        let (nv, nl) = (enc.vitals.len(), enc.labs.len());
        let v = nv.min(keep - nl.min(keep / 2));
        keep -= v;
        enc.vitals.truncate(v);
        enc.labs.truncate(keep.min(nl));
        enc.medication_orders.clear();
        enc.medication_administrations.clear();
        enc.procedures.clear();
        enc.assessments.clear();
        enc.allergies.clear();
        enc.notes.clear();
        enc.discharge_time = None;
        enc.discharge_disposition = 0;
        req.evaluation_time = None;
        req.trigger = 0;
    } else {
        grow(enc, n - have, eval);
    }
    let name = format!("{}-x{}", base.name, n);
    if let Some(e) = req.encounter.as_mut() {
        e.id = format!("{}-x{n}", e.id);
    }
    Work::new(name, req)
}

fn grow(enc: &mut pb::Encounter, extra: usize, eval: i64) {
    let arrival = secs(&enc.arrival_time).unwrap_or(eval - 86_400);
    // Spread over [arrival, eval - 2 h] so that shifted durations stay in the past.
    let span = (eval - 7200 - arrival).max(60);
    let (vitals, labs, admins, asms) =
        (enc.vitals.clone(), enc.labs.clone(), enc.medication_administrations.clone(), enc.assessments.clone());
    let clip = |t: Option<Timestamp>| t.map(|t| Timestamp { seconds: t.seconds.min(eval - 60), nanos: 0 });
    let at = |k: usize| arrival + (k as i64 + 1) * span / (extra as i64 + 1);
    let shift = |t: &Option<Timestamp>, from: Option<i64>, to: i64| {
        clip(t.as_ref().map(|t| Timestamp { seconds: t.seconds - from.unwrap_or(t.seconds) + to, nanos: 0 }))
    };
    for k in 0..extra {
        let to = at(k);
        match k % 4 {
            0 | 1 if !vitals.is_empty() || !labs.is_empty() => {
                let to_vitals = (k % 4 == 0 && !vitals.is_empty()) || labs.is_empty();
                let src = if to_vitals { &vitals } else { &labs };
                let mut o = src[k / 4 % src.len()].clone();
                let from = secs(&o.effective_time);
                o.id = format!("{}-g{k}", o.id);
                o.issued_time = shift(&o.issued_time, from, to);
                o.effective_time = shift(&o.effective_time, from, to);
                if to_vitals {
                    enc.vitals.push(o)
                } else {
                    enc.labs.push(o)
                }
            }
            2 if !admins.is_empty() => {
                let mut m = admins[k / 4 % admins.len()].clone();
                let from = secs(&m.start_time);
                m.id = format!("{}-g{k}", m.id);
                m.start_time = shift(&m.start_time, from, to);
                m.end_time = shift(&m.end_time, from, to);
                enc.medication_administrations.push(m);
            }
            _ if !asms.is_empty() => {
                let mut o = asms[k / 4 % asms.len()].clone();
                let from = secs(&o.effective_time);
                o.id = format!("{}-g{k}", o.id);
                o.issued_time = shift(&o.issued_time, from, to);
                o.effective_time = shift(&o.effective_time, from, to);
                enc.assessments.push(o);
            }
            _ => {
                let mut o = vitals.first().or(labs.first()).cloned().unwrap_or_default();
                let from = secs(&o.effective_time);
                o.id = format!("{}-g{k}", o.id);
                o.effective_time = shift(&o.effective_time, from, to);
                o.issued_time = shift(&o.issued_time, from, to);
                enc.vitals.push(o);
            }
        }
    }
}
