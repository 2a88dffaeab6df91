//! Finding constructors (`met`, `not_met`, `excluded`, `not_applicable`, `pending`,
//! `missing_data`) and the conversion of what a script returned into a [`Finding`].
use chrono_tz::Tz;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use super::encounter::evidence_of;
use super::time::Time;
use crate::encounter::Encounter;
use crate::locale::Locale;
use crate::rules::finding::{Evidence, Status};
use crate::rules::meta::RuleMeta;

/// What a rule's `evaluate(enc)` returns; built by the constructors, fields readable
/// and `missing` / `message` writable from scripts.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    /// The constructor that built it (`met`, `not_met`, … `missing_data`).
    pub kind: &'static str,
    /// The reason key (a declared outcome) or, for a legacy rule, the message itself.
    pub message: ImmutableString,
    /// Values for the text's `{placeholders}`.
    pub params: Map,
    pub evidence: Array,
    pub deadline: Option<Time>,
    pub reason: ImmutableString,
    pub missing: Array,
}

impl Outcome {
    fn new(status: Status, message: ImmutableString, evidence: Array) -> Self {
        let kind = crate::rules::meta::kind_of(status).unwrap_or("met");
        Self {
            status,
            kind,
            message,
            params: Map::new(),
            evidence,
            deadline: None,
            reason: ImmutableString::new(),
            missing: Array::new(),
        }
    }
    fn with(mut self, params: Map) -> Self {
        self.params = params;
        self
    }
}

/// The parts of a finding a script decides; the engine adds rule metadata and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResult {
    pub status: Status,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    pub exclusion_reason: String,
    pub missing_data: Vec<String>,
    /// Reason key of a declared outcome ("" for a legacy rule).
    pub reason_key: String,
}

/// Convert what `evaluate(enc)` returned. Errors are messages for QC staff. A rule that
/// declares outcomes has its message rendered from the declared text in `locale`.
pub fn script_result(
    value: Dynamic,
    tz: Tz,
    enc: &Encounter,
    meta: &RuleMeta,
    locale: Locale,
) -> Result<ScriptResult, String> {
    let type_name = value.type_name();
    let Some(o) = value.try_cast::<Outcome>() else {
        return Err(format!(
            "evaluate(enc) must return a finding built with met/not_met/excluded/not_applicable/pending/missing_data, not {}",
            friendly_type(type_name)
        ));
    };
    let mut evidence = Vec::with_capacity(o.evidence.len());
    for (i, item) in o.evidence.iter().enumerate() {
        match evidence_of(item, tz, enc, locale) {
            Some(e) => evidence.push(e),
            None if item.is_unit() => {} // e.g. first([]) of an empty query: nothing to cite
            None => {
                return Err(format!(
                    "evidence[{i}] is a {}; evidence must be encounter items or field_evidence(\"...\")",
                    friendly_type(item.type_name())
                ))
            }
        }
    }
    let mut missing_data = Vec::with_capacity(o.missing.len());
    for (i, m) in o.missing.iter().enumerate() {
        match m.clone().into_immutable_string() {
            Ok(s) => missing_data.push(s.to_string()),
            Err(t) => return Err(format!("missing[{i}] must be a string, not {}", friendly_type(t))),
        }
    }
    if o.status == Status::Pending && o.deadline.is_none() {
        return Err("pending(...) needs a deadline time".into());
    }
    let (message, reason_key) = if meta.keyed() {
        let Some(d) = meta.outcome(o.kind, &o.message) else {
            return Err(format!(
                "{}(\"{}\") is not an outcome declared in meta().outcomes.{}",
                o.kind, o.message, o.kind
            ));
        };
        (render(d.text.get(locale), &o.params, tz, locale), o.message.to_string())
    } else {
        (o.message.to_string(), String::new())
    };
    let exclusion_reason = if o.status == Status::Excluded { message.clone() } else { String::new() };
    Ok(ScriptResult {
        status: o.status,
        message,
        evidence,
        deadline: o.deadline.map(|t| t.0),
        exclusion_reason,
        missing_data,
        reason_key,
    })
}

/// Fill `{placeholders}` of `text` from `params`: times in the hospital zone, numbers
/// without needless decimals. A placeholder without a value is left as written.
pub fn render(text: &str, params: &Map, tz: Tz, locale: Locale) -> String {
    if params.is_empty() || !text.contains('{') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j) if params.contains_key(&after[..j]) => {
                out.push_str(&param_text(&params[&after[..j]], tz, locale));
                rest = &after[j + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn param_text(v: &Dynamic, tz: Tz, locale: Locale) -> String {
    if let Some(t) = v.read_lock::<Time>() {
        return super::time::display_short(tz, t.0);
    }
    if let Ok(f) = v.as_float() {
        return if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f:.1}") };
    }
    if let Ok(b) = v.as_bool() {
        return locale.pick(if b { "是" } else { "否" }, if b { "yes" } else { "no" }).to_string();
    }
    if v.is_unit() {
        return "—".to_string();
    }
    v.to_string()
}

fn friendly_type(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

fn deadline_arg(d: Dynamic) -> Result<Time, Box<EvalAltResult>> {
    let tn = d.type_name();
    d.try_cast::<Time>().ok_or_else(|| {
        format!(
            "pending(message, deadline, evidence): deadline must be a Time, not {} (was a time missing?)",
            friendly_type(tn)
        )
        .into()
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Outcome>("Finding");

    engine.register_fn("met", |m: ImmutableString, ev: Array| Outcome::new(Status::Met, m, ev));
    engine.register_fn("met", |m: ImmutableString| Outcome::new(Status::Met, m, Array::new()));
    engine.register_fn("not_met", |m: ImmutableString, ev: Array| Outcome::new(Status::NotMet, m, ev));
    engine.register_fn("not_met", |m: ImmutableString| Outcome::new(Status::NotMet, m, Array::new()));
    let excluded = |r: ImmutableString, ev: Array| {
        let mut o = Outcome::new(Status::Excluded, r.clone(), ev);
        o.reason = r;
        o
    };
    engine.register_fn("excluded", excluded);
    engine.register_fn("excluded", move |r: ImmutableString| excluded(r, Array::new()));
    engine.register_fn("not_applicable", |r: ImmutableString| Outcome::new(Status::NotApplicable, r, Array::new()));
    engine.register_fn(
        "pending",
        |m: ImmutableString, deadline: Dynamic, ev: Array| -> Result<Outcome, Box<EvalAltResult>> {
            let mut o = Outcome::new(Status::Pending, m, ev);
            o.deadline = Some(deadline_arg(deadline)?);
            Ok(o)
        },
    );
    // Keyed forms: a declared reason key, the values of its text's {placeholders}, evidence.
    engine.register_fn("met", |k: ImmutableString, p: Map, ev: Array| Outcome::new(Status::Met, k, ev).with(p));
    engine.register_fn("not_met", |k: ImmutableString, p: Map, ev: Array| Outcome::new(Status::NotMet, k, ev).with(p));
    engine.register_fn("excluded", move |k: ImmutableString, p: Map, ev: Array| excluded(k, ev).with(p));
    engine.register_fn("not_applicable", |k: ImmutableString, p: Map| {
        Outcome::new(Status::NotApplicable, k, Array::new()).with(p)
    });
    engine.register_fn(
        "pending",
        |k: ImmutableString, p: Map, deadline: Dynamic, ev: Array| -> Result<Outcome, Box<EvalAltResult>> {
            let mut o = Outcome::new(Status::Pending, k, ev).with(p);
            o.deadline = Some(deadline_arg(deadline)?);
            Ok(o)
        },
    );
    engine.register_fn("missing_data", |k: ImmutableString, p: Map, missing: Array| {
        let mut o = Outcome::new(Status::MissingData, k, Array::new()).with(p);
        o.kind = "missing_data";
        o.missing = missing;
        o
    });
    engine.register_fn("missing_data", |m: ImmutableString, missing: Array| {
        let mut o = Outcome::new(Status::MissingData, m, Array::new());
        o.kind = "missing_data";
        o.missing = missing;
        o
    });

    engine.register_get("status", |o: &mut Outcome| ImmutableString::from(o.status.as_str()));
    engine.register_get("message", |o: &mut Outcome| o.message.clone());
    engine.register_get("key", |o: &mut Outcome| o.message.clone());
    engine.register_get("evidence", |o: &mut Outcome| o.evidence.clone());
    engine.register_set("evidence", |o: &mut Outcome, ev: Array| o.evidence = ev);
    engine.register_get("deadline", |o: &mut Outcome| o.deadline.map_or(Dynamic::UNIT, Dynamic::from));
    engine.register_get("reason", |o: &mut Outcome| o.reason.clone());
    engine.register_get("missing", |o: &mut Outcome| o.missing.clone());
    engine.register_set("missing", |o: &mut Outcome, m: Array| o.missing = m);
}
