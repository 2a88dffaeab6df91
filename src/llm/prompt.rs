//! The de-identified prompt.
//!
//! What goes in: sex, age in whole years (`90+` above 89), encounter class,
//! department, and every item with its time relative to arrival (`T+35 min`),
//! code, value, unit and reference range; the QC findings and risk scores of
//! the fast part; free-text notes only when `llm.include_notes` is on, after
//! [`super::scrub`]. What never goes in: patient, encounter and item ids,
//! birth date, race, absolute dates or times. Items are shown under aliases
//! (`labs/3`, 1-based position in the encounter's list) that the draft cites
//! and [`super::validate::ground`] maps back to the encounter's ids. All texts
//! coming from the EMR (code displays, drug names, rule messages) are scrubbed.

use std::fmt::Write;

use super::{scrub::scrub, scrub::scrub_capped, template::PromptTemplate, validate::DraftSchema, validate::RefIndex};
use crate::{
    decision::FastPart,
    encounter::{self as enc, Encounter, Observation, Time},
    proto::v1 as pb,
};

/// Options of the prompt builder, from `[llm]` ([`PromptOptions::from_settings`]: the one
/// source of their defaults is the embedded configuration).
#[derive(Debug, Clone)]
pub struct PromptOptions {
    /// `llm.include_notes`.
    pub include_notes: bool,
    /// Items shown per list (observations: the most recent; others: the first):
    /// `llm.max_prompt_items_per_list`.
    pub max_items_per_list: usize,
    /// Characters of each note kept (after scrubbing): [`MAX_NOTE_CHARS`].
    pub max_note_chars: usize,
}

/// Characters of one free-text note kept in the prompt (after scrubbing); a fixed bound of
/// the prompt builder, not a setting.
pub const MAX_NOTE_CHARS: usize = 1500;

impl PromptOptions {
    /// The options `[llm]` sets.
    pub fn from_settings(llm: &crate::config::LlmSettings) -> Self {
        Self {
            include_notes: llm.include_notes,
            max_items_per_list: llm.max_prompt_items_per_list,
            max_note_chars: MAX_NOTE_CHARS,
        }
    }
}

/// A rendered prompt and the alias index of the references it shows.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub system: String,
    pub user: String,
    pub refs: RefIndex,
    pub template_version: String,
}

/// Time relative to arrival: `T+35 min`, `T-2 h 10 min`, `T+3 d 4 h`.
pub fn relative(t: Time, arrival: Time) -> String {
    let mins = (t - arrival).num_minutes();
    let sign = if mins < 0 { '-' } else { '+' };
    let m = mins.unsigned_abs();
    if m < 120 {
        format!("T{sign}{m} min")
    } else if m < 72 * 60 {
        format!("T{sign}{} h {} min", m / 60, m % 60)
    } else {
        format!("T{sign}{} d {} h", m / 1440, (m % 1440) / 60)
    }
}

/// Age as shown to the LLM: whole years, `90+` above 89 (HIPAA Safe Harbor).
pub fn age_text(age_years: f64) -> String {
    if !age_years.is_finite() || age_years < 0.0 {
        "unknown".into()
    } else if age_years >= 90.0 {
        "90+".into()
    } else if age_years < 1.0 {
        "under 1".into()
    } else {
        format!("{}", age_years.floor() as u32)
    }
}

fn code(c: &enc::Code) -> String {
    let display = scrub(c.display.trim());
    if display.is_empty() {
        format!("{} {}", c.system.name(), scrub(&c.code))
    } else {
        format!("{} ({} {})", display, c.system.name(), scrub(&c.code))
    }
}

fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

struct Builder {
    arrival: Time,
    refs: RefIndex,
    out: String,
    max: usize,
}

impl Builder {
    /// Render one list: `keep_last` shows the most recent items when capped.
    fn list<T>(
        &mut self,
        title: &str,
        list: &str,
        items: &[T],
        keep_last: bool,
        line: impl Fn(&T) -> (String, String),
    ) {
        if items.is_empty() {
            return;
        }
        if !title.is_empty() {
            let _ = writeln!(self.out, "{title}:");
        }
        let n = items.len();
        let (from, to) = if n <= self.max {
            (0, n)
        } else if keep_last {
            (n - self.max, n)
        } else {
            (0, self.max)
        };
        if from > 0 {
            let _ = writeln!(self.out, "- ({from} earlier items not shown)");
        }
        for (i, item) in items.iter().enumerate().take(to).skip(from) {
            let (id, text) = line(item);
            let alias = format!("{list}/{}", i + 1);
            let _ = writeln!(self.out, "- [{alias}] {text}");
            self.refs.insert(alias, format!("{list}/{id}"));
        }
        if to < n {
            let _ = writeln!(self.out, "- ({} more items not shown)", n - to);
        }
    }

    fn observation(&self, o: &Observation) -> (String, String) {
        let value = match &o.value {
            enc::ObsValue::Quantity { value, unit } => format!("{} {}", num(*value), scrub(unit)),
            enc::ObsValue::Text(t) => scrub_capped(t, 80),
        };
        let mut text = format!("{} {} = {}", relative(o.time, self.arrival), code(&o.code), value);
        // The model keeps reference ranges in the sender's unit while values of known
        // quantities are converted to the canonical unit: show ranges only where both agree.
        let converted = o.code.system == enc::CodeSystem::Loinc && enc::units::known(&o.code.code).is_some();
        if let Some(r) = o.reference_range.as_ref().filter(|_| !converted) {
            match (r.low, r.high) {
                (Some(l), Some(h)) => {
                    let _ = write!(text, " (reference {}–{})", num(l), num(h));
                }
                (None, Some(h)) => {
                    let _ = write!(text, " (reference ≤ {})", num(h));
                }
                (Some(l), None) => {
                    let _ = write!(text, " (reference ≥ {})", num(l));
                }
                (None, None) => {}
            }
        }
        (o.id.clone(), text)
    }
}

fn dose(d: &Option<enc::Dose>) -> String {
    d.as_ref().map(|d| format!(" {} {}", num(d.value), scrub(&d.unit))).unwrap_or_default()
}

fn drug(name: &str, codes: &[enc::Code]) -> String {
    let name = scrub(name.trim());
    match (name.is_empty(), codes.first()) {
        (false, _) => name,
        (true, Some(c)) => code(c),
        (true, None) => "unnamed drug".into(),
    }
}

/// `NotGiven` / `not_given` → `not given`.
fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c == '_' {
            out.push(' ');
        } else if c.is_uppercase() {
            if i > 0 && !out.ends_with(' ') {
                out.push(' ');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Render the patient line, the items, the findings, the risks and the notes.
pub fn build(
    template: &PromptTemplate,
    schema: &DraftSchema,
    e: &Encounter,
    fast: &FastPart,
    opts: &PromptOptions,
    passages: &str,
) -> Prompt {
    let a = e.arrival;
    let mut patient = format!(
        "sex {}; age {}; {} encounter; department {}; transferred in: {}",
        e.patient.sex.as_str(),
        age_text(e.patient.age_years),
        e.class.as_str(),
        if e.department.trim().is_empty() { "not given".to_string() } else { scrub(e.department.trim()) },
        if e.transferred_in { "yes" } else { "no" }
    );
    patient.push_str("\narrival T+0 min");
    for (label, t) in [
        ("symptom onset", e.onset),
        ("last known well", e.last_known_well),
        ("admission", e.admission),
        ("discharge", e.discharge),
    ] {
        if let Some(t) = t {
            let _ = write!(patient, "; {label} {}", relative(t, a));
        }
    }
    if let Some(d) = e.disposition {
        let _ = write!(patient, "; discharge disposition {}", lower(d.as_str()));
    }

    let mut b = Builder { arrival: a, refs: RefIndex::new(), out: String::new(), max: opts.max_items_per_list.max(1) };
    b.list("Diagnoses", "diagnoses", &e.diagnoses, false, |d| {
        let rank = match d.rank {
            enc::DiagnosisRank::Principal => "principal",
            enc::DiagnosisRank::Secondary => "secondary",
            enc::DiagnosisRank::Admitting => "admitting",
            enc::DiagnosisRank::Unspecified => "rank not given",
        };
        let poa = match d.poa {
            enc::PresentOnAdmission::Yes => ", present on admission",
            enc::PresentOnAdmission::No => ", not present on admission",
            _ => "",
        };
        (d.id.clone(), format!("{} — {rank}{poa}", code(&d.code)))
    });
    let vitals: Vec<(String, String)> = e.vitals.iter().map(|o| b.observation(o)).collect();
    let labs: Vec<(String, String)> = e.labs.iter().map(|o| b.observation(o)).collect();
    let assessments: Vec<(String, String)> = e.assessments.iter().map(|o| b.observation(o)).collect();
    b.list("Vital signs", "vitals", &vitals, true, Clone::clone);
    b.list("Laboratory results", "labs", &labs, true, Clone::clone);
    b.list("Assessments and scores", "assessments", &assessments, true, Clone::clone);
    b.list("Medication orders", "medication_orders", &e.medication_orders, false, |m| {
        let mut t = format!(
            "{} order {}{} {} {} ({})",
            relative(m.time, a),
            drug(&m.name, &m.codes),
            dose(&m.dose),
            scrub(&m.route),
            scrub(&m.frequency),
            lower(&format!("{:?}", m.status))
        );
        if m.discharge {
            t.push_str(", discharge medication");
        }
        (m.id.clone(), t)
    });
    b.list("Medications given", "medication_administrations", &e.administrations, false, |m| {
        let mut t = format!(
            "{} {}{} {} {}",
            relative(m.time, a),
            drug(&m.name, &m.codes),
            dose(&m.dose),
            scrub(&m.route),
            lower(&format!("{:?}", m.status))
        );
        if let Some(r) = &m.reason_not_given {
            let _ = write!(t, " (reason: {})", code(r));
        }
        (m.id.clone(), t)
    });
    b.list("Procedures", "procedures", &e.procedures, false, |p| {
        let end = p.end.map(|t| format!(" to {}", relative(t, a))).unwrap_or_default();
        (p.id.clone(), format!("{}{end} {}", relative(p.time, a), code(&p.code)))
    });
    b.list("Allergies and contraindications", "allergies", &e.allergies, false, |x| {
        let reaction = x.reaction.as_ref().map(|r| format!(" — {}", code(r))).unwrap_or_default();
        (x.id.clone(), format!("{}: {}{reaction}", lower(&format!("{:?}", x.kind)), code(&x.substance)))
    });
    let items = if b.out.is_empty() { "(none)".to_string() } else { std::mem::take(&mut b.out) };

    // Only findings that say something about this patient: the not-applicable ones (most of
    // the 43 on any encounter) would crowd the relevant ones out of the capped list.
    let findings: Vec<&pb::Finding> =
        fast.findings.iter().filter(|f| f.status() != pb::FindingStatus::NotApplicable).collect();
    b.list("", "findings", &findings, false, |f| {
        let sev = f.severity().as_str_name().trim_start_matches("SEVERITY_").to_lowercase();
        let status = f.status().as_str_name().trim_start_matches("FINDING_STATUS_").to_lowercase();
        (f.rule_id.clone(), format!("{} — {status} ({sev}): {}", scrub(&f.title), scrub_capped(&f.message, 200)))
    });
    let findings = if b.out.is_empty() { "(none)".to_string() } else { std::mem::take(&mut b.out) };
    b.list("", "risks", &fast.risks, false, |r| {
        let text = match r.status() {
            pb::RiskStatus::Ok => format!(
                "{}: {:.1} % risk of {} within {} — {} band",
                r.model_id,
                r.probability * 100.0,
                scrub(&r.outcome),
                scrub(&r.horizon),
                r.band().as_str_name().trim_start_matches("RISK_BAND_").to_lowercase()
            ),
            _ => format!("{}: not scored ({})", r.model_id, scrub_capped(&r.message, 120)),
        };
        (r.model_id.clone(), text)
    });
    let risks = if b.out.is_empty() { "(none)".to_string() } else { std::mem::take(&mut b.out) };

    let notes = if !opts.include_notes {
        "(notes not included)".to_string()
    } else if e.notes.is_empty() {
        "(none)".to_string()
    } else {
        let n = opts.max_note_chars;
        b.list("", "notes", &e.notes, true, |x| {
            let kind = x.kind.as_ref().map(|k| format!(" {}", code(k))).unwrap_or_default();
            (x.id.clone(), format!("{}{kind}: {}", relative(x.time, a), scrub_capped(&x.text, n)))
        });
        std::mem::take(&mut b.out)
    };

    let vars: [(&str, &str); 8] = [
        ("schema", &schema.minified),
        ("schema_outline", schema.outline),
        ("patient", &patient),
        ("items", items.trim_end()),
        ("findings", findings.trim_end()),
        ("risks", risks.trim_end()),
        ("notes", notes.trim_end()),
        ("passages", passages.trim_end()),
    ];
    Prompt {
        system: PromptTemplate::render(&template.system, &vars),
        user: PromptTemplate::render(&template.user, &vars),
        refs: b.refs,
        template_version: template.version.clone(),
    }
}

/// The principal diagnoses coded in ICD-10 (for the cross-check).
pub fn principal_icd10(e: &Encounter) -> Vec<String> {
    e.diagnoses
        .iter()
        .filter(|d| d.rank == enc::DiagnosisRank::Principal && d.code.system.is_icd10())
        .map(|d| d.code.code.clone())
        .collect()
}
