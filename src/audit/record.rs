//! What is recorded per decision, built from the request and the decision, and
//! minimised: no patient id, no EMR encounter id (a keyed-HMAC pseudonym
//! instead), no clinical values, messages or evidence values — only references
//! (item type and id) to the items a finding was based on. The full request is
//! sealed apart (`requests` table) for replay.

use prost::Message;
use sha2::Digest;

use super::{keys::KeyRing, keys::Sealed, AuditError};
use crate::proto::v1 as pb;

/// One finding, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FindingRow {
    pub rule_id: String,
    pub rule_version: String,
    pub pack: String,
    pub measure: String,
    /// Measure set the rule implements ("CMS", "NHC-2022", ...; the pack for a finding
    /// without one, e.g. the engine's own).
    pub measure_set: String,
    /// Item within the set ("AMI-8a", "4.1.1.3", ...; the rule id for a finding without one).
    pub measure_id: String,
    /// `FindingStatus` name without prefix, lower case: met, not_met, excluded, pending, error, not_applicable.
    pub status: String,
    pub exclusion_reason: String,
    pub deadline_us: Option<i64>,
    pub missing: Vec<String>,
    /// Evidence references "item_type/item_id".
    pub evidence: Vec<String>,
}

/// One risk score, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RiskRow {
    pub model_id: String,
    pub model_version: String,
    pub status: String,
    pub probability: f64,
    pub band: String,
    /// Names of the features that were imputed.
    pub imputed: Vec<String>,
}

/// The LLM draft's provenance, as recorded (not its text).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DraftRow {
    pub model: String,
    pub template_version: String,
    pub prompt_hash: String,
    pub status: String,
    pub latency_ms: i64,
}

/// A card of the decision: which source it came from (feedback is resolved through it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CardRef {
    pub card_id: String,
    pub source_id: String,
    pub source_version: String,
}

/// Everything recorded for one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub id: String,
    pub request_id: String,
    pub recorded_us: i64,
    pub evaluated_us: i64,
    pub time_zone: String,
    pub caller: String,
    pub encounter_pid: String,
    pub encounter_class: String,
    pub trigger: String,
    pub department: String,
    pub arrival_us: Option<i64>,
    pub discharge_us: Option<i64>,
    pub request_hash: String,
    pub rule_set_version: String,
    pub cdssd_version: String,
    /// JSON: model versions in force.
    pub models: String,
    /// JSON: the decision's timings.
    pub timings: String,
    pub cards: Vec<CardRef>,
    pub findings: Vec<FindingRow>,
    pub risks: Vec<RiskRow>,
    pub draft: Option<DraftRow>,
    pub request: Sealed,
}

/// A recorded decision read back (the sealed request included; opening it is a PHI read).
pub type StoredDecision = DecisionRecord;

/// One line of an encounter's history.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionSummary {
    pub id: String,
    pub evaluated_us: i64,
    pub trigger: String,
    pub department: String,
    pub rule_set_version: String,
    pub findings: i64,
}

/// Clinician feedback on one card of a recorded decision.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRecord {
    pub id: String,
    pub decision_id: String,
    pub card_id: String,
    /// Rule or model id of the card (resolved from the decision).
    pub source_id: String,
    pub source_version: String,
    pub department: String,
    /// "accepted" or "overridden".
    pub outcome: String,
    /// Coded override reason ("" when accepted).
    pub reason_code: String,
    /// The free-text comment, sealed (it may name the patient).
    pub comment: Sealed,
    pub user_role: String,
    pub time_us: i64,
    pub recorded_us: i64,
}

/// A read of PHI-bearing records (replay, not-met lists, worksheets, decisions with their request).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord {
    pub id: String,
    pub time_us: i64,
    /// Who read: the caller identity, or the OS user for the CLI.
    pub actor: String,
    /// What kind of read: "replay", "report_not_met", "decision_request", "export_nhc"...
    pub action: String,
    /// What was read: a decision id, an encounter pseudonym or a period.
    pub subject: String,
    pub records: i64,
}

impl AccessRecord {
    pub fn now(actor: &str, action: &str, subject: &str, records: i64) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            time_us: super::now_us(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            records,
        }
    }
}

fn ts_us(t: &Option<pbjson_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
}

/// A proto enum name without its prefix, lower case ("FINDING_STATUS_NOT_MET" → "not_met").
pub fn enum_label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

impl FindingRow {
    pub fn from_pb(f: &pb::Finding) -> Self {
        Self {
            rule_id: f.rule_id.clone(),
            rule_version: f.rule_version.clone(),
            pack: f.pack.clone(),
            measure: f.measure.clone(),
            measure_set: if f.measure_set.is_empty() { f.pack.clone() } else { f.measure_set.clone() },
            measure_id: if f.measure_id.is_empty() { f.rule_id.clone() } else { f.measure_id.clone() },
            status: enum_label(f.status().as_str_name(), "FINDING_STATUS_"),
            exclusion_reason: f.exclusion_reason.clone(),
            deadline_us: ts_us(&f.deadline),
            missing: f.missing_data.clone(),
            evidence: f.evidence.iter().map(|e| format!("{}/{}", e.item_type, e.item_id)).collect(),
        }
    }
}

impl DecisionRecord {
    /// The record of `decision`, answered to `req` for `caller`; the request sealed with the current key.
    pub fn build(
        keys: &KeyRing,
        req: &pb::EvaluateRequest,
        decision: &pb::Decision,
        caller: &str,
        time_zone: &str,
    ) -> Result<Self, AuditError> {
        let id = uuid::Uuid::new_v4().to_string();
        let bytes = req.encode_to_vec();
        let enc = req.encounter.clone().unwrap_or_default();
        let versions = decision.versions.clone().unwrap_or_default();
        let timings = decision.timings.unwrap_or_default();
        let s = decision.suggestion.as_ref();
        let asked = s.is_some_and(|s| s.status() != pb::SuggestionStatus::Disabled);
        Ok(Self {
            request: keys.seal(&id, &bytes)?,
            recorded_us: super::now_us(),
            evaluated_us: ts_us(&decision.evaluation_time).unwrap_or_else(super::now_us),
            time_zone: time_zone.to_string(),
            caller: caller.to_string(),
            encounter_pid: keys.pseudonym(&enc.id),
            encounter_class: enum_label(enc.encounter_class().as_str_name(), "ENCOUNTER_CLASS_"),
            trigger: enum_label(decision.trigger().as_str_name(), "TRIGGER_"),
            department: enc.department.clone(),
            arrival_us: ts_us(&enc.arrival_time),
            discharge_us: ts_us(&enc.discharge_time),
            request_hash: hex::encode(sha2::Sha256::digest(&bytes)),
            rule_set_version: versions.rule_set.clone(),
            cdssd_version: versions.cdssd.clone(),
            models: serde_json::to_string(
                &versions.models.iter().map(|m| (m.model_id.as_str(), m.version.as_str())).collect::<Vec<_>>(),
            )
            .expect("strings serialise"),
            timings: format!(
                "{{\"validation_us\":{},\"rules_us\":{},\"risk_us\":{},\"llm_us\":{},\"total_us\":{}}}",
                timings.validation_us, timings.rules_us, timings.risk_us, timings.llm_us, timings.total_us
            ),
            cards: decision
                .cards
                .iter()
                .map(|c| {
                    let src = c.source.clone().unwrap_or_default();
                    CardRef { card_id: c.uuid.clone(), source_id: src.id, source_version: src.version }
                })
                .collect(),
            findings: decision.findings.iter().map(FindingRow::from_pb).collect(),
            risks: decision
                .risks
                .iter()
                .map(|r| RiskRow {
                    model_id: r.model_id.clone(),
                    model_version: r.model_version.clone(),
                    status: enum_label(r.status().as_str_name(), "RISK_STATUS_"),
                    probability: r.probability,
                    band: enum_label(r.band().as_str_name(), "RISK_BAND_"),
                    imputed: r.features.iter().filter(|f| f.imputed).map(|f| f.name.clone()).collect(),
                })
                .collect(),
            draft: s.filter(|_| asked).map(|s| DraftRow {
                model: s.model.clone(),
                template_version: s.template_version.clone(),
                prompt_hash: s.prompt_hash.clone(),
                status: enum_label(s.status().as_str_name(), "SUGGESTION_STATUS_"),
                latency_ms: i64::from(s.latency_ms),
            }),
            request_id: decision.request_id.clone(),
            id,
        })
    }

    /// Open the sealed request (a PHI read: the caller records it).
    pub fn open_request(&self, keys: &KeyRing) -> Result<pb::EvaluateRequest, AuditError> {
        let bytes = keys.open(&self.id, &self.request)?;
        pb::EvaluateRequest::decode(bytes.as_slice())
            .map_err(|e| AuditError::Corrupt(format!("request {}: {e}", self.id)))
    }
}
