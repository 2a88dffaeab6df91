//! Deterministic card ids: the same rule or model, on the same encounter, with the same
//! outcome, under the same rule-set / model version, always gets the same `Card.uuid`,
//! so an EMR can deduplicate cards across periodic reviews (a changed outcome or a new
//! rule-set version is a new card).

use uuid::Uuid;

/// The UUIDv5 namespace of cdssd cards (fixed once; changing it changes every id).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a9e_5d3b_4c8a_9e71_0b4d_c3a2_f015);

/// `kind` (rule / model / llm), the source id, the encounter, the outcome and the
/// version that produced it, as a UUIDv5 string.
pub fn card_id(kind: &str, source_id: &str, encounter_id: &str, outcome: &str, version: &str) -> String {
    uuid_v5(&[kind, source_id, encounter_id, outcome, version])
}

/// `Finding.finding_id`: rule `rule_id` on encounter `encounter_id`, as a UUIDv5 string; the
/// same for every outcome, rule version and rule-set version (never equal to a card id:
/// the first part differs).
pub fn finding_id(rule_id: &str, encounter_id: &str) -> String {
    uuid_v5(&["finding", rule_id, encounter_id])
}

fn uuid_v5(parts: &[&str]) -> String {
    // Length-prefixed parts, so that no two different tuples share a name.
    let name: String = parts.iter().map(|p| format!("{}:{p};", p.len())).collect();
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}
