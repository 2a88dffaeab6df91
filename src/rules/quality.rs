//! Nothing accepted passes silently: items of the lists rules read whose codings are all
//! in code systems that no loaded value set lists can never be matched by any rule. Each
//! becomes a `DataQualityNotice` (bilingual; it names the item by list/id and its coding by
//! system and code, never a result or free text), counted by list and code
//! system (`cdssd_data_quality_notices_total`); items of the denominator lists (diagnoses,
//! procedures) also give one QC card (see `decision::cards::card_for_data_quality`).
use crate::encounter::{Code, CodeSystem, Encounter, DENOMINATOR_LISTS};
use crate::proto::v1 as pb;
use crate::rules::valueset::{normalize_code, ValueSets};

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

/// A local coding that is a gap in the tables (see `ValueSets::local_gap`).
fn local_gap(c: &Code, sets: &ValueSets) -> bool {
    match &c.system {
        CodeSystem::Local(s) => sets.local_gap(s, &normalize_code(s, &c.code)),
        _ => false,
    }
}

/// Can a rule read this coding? Its system is listed by some value set and it is no
/// [`local_gap`].
fn usable(c: &Code, sets: &ValueSets) -> bool {
    sets.uses_system(family(&c.system)) && !local_gap(c, sets)
}

/// Notices for every item none of whose codings a rule can read (see [`usable`]); every
/// [`local_gap`] coding is also recorded in the process-wide list of unmapped local codes
/// (`AdminService.ListUnmappedCodes`), whether or not the item has another coding.
pub fn unmatched_codes(enc: &Encounter, sets: &ValueSets) -> Vec<pb::DataQualityNotice> {
    let mut out = Vec::new();
    let mut check = |list: &'static str, id: &str, codes: &[Code]| {
        let mut unmapped: Option<&Code> = None;
        for c in codes.iter().filter(|c| local_gap(c, sets)) {
            let s = c.system.name();
            super::unmapped::record(list, s, &normalize_code(s, &c.code));
            if sets.mappings().maps_system(s) {
                unmapped.get_or_insert(c);
            }
        }
        if codes.is_empty() || codes.iter().any(|c| usable(c, sets)) {
            return;
        }
        let system = codes[0].system.name().to_string();
        crate::metrics::data_quality_notice(
            crate::metrics::DataQualityKind::UnmatchedCode,
            list,
            system_label(&codes[0].system),
        );
        let denominator = DENOMINATOR_LISTS.contains(&list);
        let consequence_en =
            if denominator { " Measures that depend on it may be missing or wrongly not applicable." } else { "" };
        let consequence_zh =
            if denominator { "依赖该项的质控指标可能缺失或被误判为不适用。" } else { "" };
        // The notice names the coding (system and code as sent): QC staff need it to add a
        // mapping row, and a dictionary code is no patient identifier. Only the notice says it;
        // the metric is labelled by list and system family.
        let (text_en, text_zh) = match unmapped {
            Some(c) => {
                let (s, code) = (c.system.name(), c.code.trim());
                (
                    format!(
                        "{list}/{id} is coded only in {system}; its {s} code {code} is in no local-code mapping table (rules/mappings/) or value set: no rule can read it.{consequence_en} QC staff: add {s} code {code} to a mapping table."
                    ),
                    format!(
                        "{list}/{id} 仅以 {system} 编码，其 {s} 本地编码 {code} 未收录于任何本地编码映射表（rules/mappings/）或值集：规则无法识别该项。{consequence_zh}请质控人员将 {s} 编码 {code} 加入映射表。"
                    ),
                )
            }
            None => {
                let code = codes[0].code.trim();
                (
                    format!(
                        "{list}/{id} is coded only in {system} (code {code}), which no loaded value set or local-code mapping lists: no rule can read it.{consequence_en}"
                    ),
                    format!(
                        "{list}/{id} 仅以 {system} 编码（编码 {code}），未被任何已加载的值集或本地编码映射收录：规则无法识别该项。{consequence_zh}"
                    ),
                )
            }
        };
        out.push(pb::DataQualityNotice {
            kind: pb::DataQualityKind::UnmatchedCode as i32,
            list: list.to_string(),
            field: format!("encounter.{list}"),
            item_id: id.to_string(),
            code_system: system.clone(),
            text_en,
            text_zh,
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

/// Notices for the observations left out as physiologically impossible
/// (`Encounter::implausible`), each naming the rules whose findings became missing data
/// because of it (`findings`: the request's, whose `missing_data` name `list/id`). The
/// texts give the quantity and its plausible range, never the value.
pub fn implausible_values(enc: &Encounter, findings: &[pb::Finding]) -> Vec<pb::DataQualityNotice> {
    enc.implausible
        .iter()
        .map(|i| {
            let q = i.quantity;
            let item = format!("{}/{}", i.list, i.item_id);
            let system = i.codings.first().map_or(&CodeSystem::Loinc, |c| &c.system);
            crate::metrics::data_quality_notice(crate::metrics::DataQualityKind::ImplausibleValue, i.list, system_label(system));
            let rule_ids: Vec<String> =
                findings.iter().filter(|f| f.missing_data.contains(&item)).map(|f| f.rule_id.clone()).collect();
            let (lo, hi, unit) = (q.plausible.0, q.plausible.1, q.canonical);
            pb::DataQualityNotice {
                kind: pb::DataQualityKind::ImplausibleValue as i32,
                list: i.list.to_string(),
                field: i.field.clone(),
                item_id: i.item_id.clone(),
                code_system: system.name().to_string(),
                text_en: format!(
                    "{item}: the {} value is outside what is physiologically possible ({lo}–{hi} {unit}) and was left out of evaluation; {} finding(s) that needed it are reported as missing data. Check the value at its source (unit slip, artefact).",
                    q.name,
                    rule_ids.len()
                ),
                text_zh: format!(
                    "{item}：{} 数值超出生理可能范围（{lo}–{hi} {unit}），已排除在评估之外；需要该值的 {} 项质控结果报告为缺少数据。请在源系统核实该值（单位错误或伪差）。",
                    q.name_zh,
                    rule_ids.len()
                ),
                rule_ids,
            }
        })
        .collect()
}
