//! Nothing accepted passes silently: items of the lists rules read whose codings are all
//! in code systems that no loaded value set lists can never be matched by any rule. Each
//! becomes a `DataQualityNotice` (bilingual, no clinical value), counted by list and code
//! system (`cdssd_data_quality_notices_total`); items of the denominator lists (diagnoses,
//! procedures) also give one QC card (see `decision::cards::card_for_data_quality`).
use crate::encounter::{Code, CodeSystem, Encounter, DENOMINATOR_LISTS};
use crate::proto::v1 as pb;
use crate::rules::valueset::ValueSets;

/// The system as value sets name it: ICD-10 editions are one family.
fn family(system: &CodeSystem) -> &str {
    match system {
        CodeSystem::Icd10Cm => "ICD-10",
        other => other.name(),
    }
}

/// Metric label of a code system: its canonical name, or `LOCAL` for any local system
/// (a bounded set: local system names come from the configuration, not the request).
pub fn system_label(system: &CodeSystem) -> &'static str {
    match system {
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
        CodeSystem::Local(_) => "LOCAL",
    }
}

/// Notices for every item none of whose codings is in a system some value set lists.
pub fn unmatched_codes(enc: &Encounter, sets: &ValueSets) -> Vec<pb::DataQualityNotice> {
    let used = |c: &Code| sets.uses_system(family(&c.system));
    let mut out = Vec::new();
    let mut check = |list: &'static str, id: &str, codes: &[Code]| {
        if codes.is_empty() || codes.iter().any(used) {
            return;
        }
        let system = codes[0].system.name().to_string();
        crate::metrics::data_quality_notice(list, system_label(&codes[0].system));
        let denominator = DENOMINATOR_LISTS.contains(&list);
        let consequence_en =
            if denominator { " Measures that depend on it may be missing or wrongly not applicable." } else { "" };
        let consequence_zh =
            if denominator { "依赖该项的质控指标可能缺失或被误判为不适用。" } else { "" };
        out.push(pb::DataQualityNotice {
            kind: pb::DataQualityKind::UnmatchedCode as i32,
            list: list.to_string(),
            field: format!("encounter.{list}"),
            item_id: id.to_string(),
            code_system: system.clone(),
            text_en: format!(
                "{list}/{id} is coded only in {system}, which no loaded value set or local-code mapping lists: no rule can read it.{consequence_en}"
            ),
            text_zh: format!("{list}/{id} 仅以 {system} 编码，未被任何已加载的值集或本地编码映射收录：规则无法识别该项。{consequence_zh}"),
            rule_ids: Vec::new(),
        });
    };
    for d in &enc.diagnoses {
        check("diagnoses", &d.id, &d.codings);
    }
    for (list, obs) in [("vitals", &enc.vitals), ("labs", &enc.labs), ("assessments", &enc.assessments)] {
        for o in obs {
            check(list, &o.id, &o.codings);
        }
    }
    for o in &enc.medication_orders {
        check("medication_orders", &o.id, &o.codes);
    }
    for a in &enc.administrations {
        check("medication_administrations", &a.id, &a.codes);
    }
    for p in &enc.procedures {
        check("procedures", &p.id, &p.codings);
    }
    for a in &enc.allergies {
        check("allergies", &a.id, &a.substance_codings);
    }
    out
}
