//! Local-code mapping tables: parsing with `path:line:col` errors, compilation into the
//! value sets, the unused-system warning, the unmapped-code notice and tally, and loading
//! with the rule set.
use std::collections::BTreeMap;
use std::path::Path;

use super::mapping::{compile_into, parse_mapping, unused_local_systems};
use super::valueset::{parse_value_set, ValueSets};
use crate::encounter::{from_proto, Limits};
use crate::proto::v1 as pb;

const LOCAL: &[&str] = &["HIS-DRUG", "LIS"];

fn locals() -> Vec<String> {
    LOCAL.iter().map(|s| s.to_string()).collect()
}

fn sets() -> ValueSets {
    let mut out = ValueSets::default();
    for (name, body) in [
        ("aspirin", "[[include]]\nsystem = \"ATC\"\ncodes = [\"B01AC06\"]\n"),
        ("statin", "[[include]]\nsystem = \"ATC\"\nprefixes = [\"C10AA\"]\n"),
        ("lactate", "[[include]]\nsystem = \"LOINC\"\ncodes = [\"2524-7\"]\n"),
        ("sepsis", "[[include]]\nsystem = \"ICD-10\"\ncodes = [\"A41.9\"]\n"),
    ] {
        let src = format!("name = \"{name}\"\n{body}");
        out.insert(parse_value_set(&format!("valuesets/{name}.toml"), &src, &locals()).unwrap()).unwrap();
    }
    out
}

const DRUGS: &str = r#"name = "his_drugs"
system = "HIS-DRUG"
description = "test"

[[map]]
code = "yp0001"
display = "阿司匹林肠溶片"
to = ["ATC:B01AC06"]

[[map]]
code = "YP0002"
to = ["http://www.whocc.no/atc:C10AA05"]

[[map]]
code = "YP0003"
value_sets = ["sepsis"]

[[map]]
code = "YP0004"
to = ["ATC:N02BE01"]
"#;

fn compiled() -> ValueSets {
    let mut vs = sets();
    let t = parse_mapping("mappings/his_drugs.toml", DRUGS, &locals(), &vs).unwrap();
    let m = compile_into(vec![t], &mut vs).unwrap();
    vs.set_mappings(m);
    vs
}

#[test]
fn mapped_local_codes_join_the_sets_of_their_targets() {
    let vs = compiled();
    let m = |set: &str, code: &str| vs.get(set).unwrap().matches("HIS-DRUG", code);
    assert!(m("aspirin", "YP0001") && m("aspirin", "yp0001 "), "case and white space as for any code");
    assert!(m("statin", "YP0002"), "a URI system; a prefix of the set");
    assert!(m("sepsis", "YP0003"), "named value set");
    assert!(!m("aspirin", "YP0002") && !m("statin", "YP0001"));
    assert!(!m("aspirin", "YP0004"), "paracetamol is in no set");
    assert!(!vs.get("aspirin").unwrap().matches("LIS", "YP0001"), "another local system");
    assert!(vs.knows_local("HIS-DRUG", "YP0004"), "mapped, although no set needs it");
    assert!(!vs.knows_local("HIS-DRUG", "YP9999"));
    assert!(vs.uses_system("HIS-DRUG"));
    assert_eq!(vs.mappings().len(), 4);
}

fn err(src: &str) -> Vec<String> {
    parse_mapping("mappings/t.toml", src, &locals(), &sets()).unwrap_err().iter().map(ToString::to_string).collect()
}

#[test]
fn table_errors_have_their_position() {
    let head = "name = \"t\"\nsystem = \"HIS-DRUG\"\n";
    assert_eq!(
        err("name = \"t\"\nsystem = \"NOPE\"\n[[map]]\ncode = \"A\"\nto = [\"ATC:B01AC06\"]\n"),
        ["mappings/t.toml:2:10: unknown code system 'NOPE': a mapping table's system must be a configured local system (encounter.local_code_systems: HIS-DRUG, LIS) or a standard one (RXNORM, SNOMED-CT ...)"]
    );
    // A terminology map between standard systems: codes checked in their system, targets elsewhere.
    assert_eq!(
        err("name = \"t\"\nsystem = \"RXNORM\"\n[[map]]\ncode = \"A1\"\nto = [\"ATC:B01AC06\"]\n"),
        ["mappings/t.toml:4:8: code 'A1' is not an RxNorm concept id (digits)"]
    );
    assert_eq!(
        err("name = \"t\"\nsystem = \"ATC\"\n[[map]]\ncode = \"B01AC06\"\nto = [\"ATC:B01AC07\"]\n"),
        ["mappings/t.toml:5:7: target 'ATC:B01AC07' is in the table's own system ATC"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nto = [\"ATC:B01AC6\"]\n")),
        ["mappings/t.toml:5:7: target code 'B01AC6' is not an ATC code like B01AC06"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nto = [\"XYZ:1\"]\n")),
        ["mappings/t.toml:5:7: unknown code system 'XYZ' in target 'XYZ:1'"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nto = [\"B01AC06\"]\n")),
        ["mappings/t.toml:5:7: target 'B01AC06' must look like \"ATC:B01AC06\" (SYSTEM:CODE)"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nto = [\"LIS:1\"]\n")),
        ["mappings/t.toml:5:7: target 'LIS:1' is in local system 'LIS': map to standard codes or value sets"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nvalue_sets = [\"asprin\"]\n")),
        ["mappings/t.toml:5:15: unknown value set 'asprin' (files in rules/valuesets/)"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A B\"\nvalue_sets = [\"aspirin\"]\n")),
        ["mappings/t.toml:4:8: code 'A B' contains white space or control characters"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\nvalue_sets = [\"aspirin\"]\n[[map]]\ncode = \"a\"\nvalue_sets = [\"statin\"]\n")),
        ["mappings/t.toml:7:8: code 'A' is already mapped at line 3"]
    );
    assert_eq!(
        err(&format!("{head}[[map]]\ncode = \"A\"\n")),
        ["mappings/t.toml:4:8: code 'A' maps to nothing: give `to` and/or `value_sets`"]
    );
    assert_eq!(err("name = \"t\"\nsystem = \"LIS\"\n"), ["mappings/t.toml:1:1: mapping table has no [[map]] rows"]);
    assert!(err("name = \"u\"\nsystem = \"LIS\"\n[[map]]\ncode = \"A\"\nvalue_sets = [\"aspirin\"]\n")[0]
        .starts_with("mappings/t.toml:1:8: mapping name 'u' must match the file name 't.toml'"));
    assert!(err(&format!("{head}[[map]]\ncode = \"A\"\nvalue_set = [\"aspirin\"]\n"))[0]
        .starts_with("mappings/t.toml:5:1: "));
}

#[test]
fn a_code_mapped_by_two_tables_is_an_error() {
    let vs = sets();
    let a = parse_mapping(
        "mappings/a.toml",
        "name = \"a\"\nsystem = \"LIS\"\n[[map]]\ncode = \"K1\"\nto = [\"LOINC:2524-7\"]\n",
        &locals(),
        &vs,
    )
    .unwrap();
    let b = parse_mapping(
        "mappings/b.toml",
        "name = \"b\"\nsystem = \"lis\"\n[[map]]\ncode = \"k1\"\nto = [\"LOINC:2524-7\"]\n",
        &locals(),
        &vs,
    )
    .unwrap();
    let errs = compile_into(vec![a, b], &mut sets()).unwrap_err();
    assert_eq!(errs[0].to_string(), "mappings/b.toml:1:1: code 'K1' of LIS is also mapped in mappings/a.toml");
}

#[test]
fn a_configured_local_system_nothing_uses_is_a_warning() {
    let vs = compiled();
    assert_eq!(
        unused_local_systems(&locals(), &vs),
        ["encounter.local_code_systems: 'LIS' is configured but no mapping table (rules/mappings/) or value set lists it: its codes reach no rule"]
    );
}

fn limits() -> Limits {
    Limits {
        max_items_per_list: 100,
        max_text_bytes: 1000,
        max_note_bytes: 1000,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: locals(),
    }
}

fn order(id: &str, codes: Vec<pb::Coding>) -> pb::MedicationOrder {
    pb::MedicationOrder {
        id: id.into(),
        codes,
        name: "x".into(),
        status: pb::OrderStatus::Active as i32,
        order_time: Some(pbjson_types::Timestamp { seconds: 1_772_440_000, nanos: 0 }),
        ..Default::default()
    }
}

#[test]
fn an_unmapped_local_code_gives_a_notice_and_is_listed_until_mapped() {
    let now = chrono::DateTime::from_timestamp(1_772_450_000, 0).unwrap();
    let c = |s: &str, code: &str| pb::Coding { system: s.into(), code: code.into(), display: String::new() };
    let e = pb::Encounter {
        id: "e".into(),
        patient: Some(pb::Patient { id: "p".into(), age_years: Some(70), ..Default::default() }),
        encounter_class: pb::EncounterClass::Inpatient as i32,
        arrival_time: Some(pbjson_types::Timestamp { seconds: 1_772_430_000, nanos: 0 }),
        medication_orders: vec![
            order("mapped", vec![c("HIS-DRUG", "YP0001")]),
            order("unmapped", vec![c("HIS-DRUG", "ZZ-UNMAPPED-7")]),
            order("also-atc", vec![c("HIS-DRUG", "ZZ-UNMAPPED-8"), c("ATC", "B01AC06")]),
        ],
        ..Default::default()
    };
    let enc = from_proto(&e, &limits(), now).expect("valid");
    let vs = compiled();
    let notices = super::quality::unmatched_codes(&enc, &vs);
    assert_eq!(notices.iter().map(|n| n.item_id.as_str()).collect::<Vec<_>>(), ["unmapped"]);
    assert!(notices[0].text_en.contains("no local-code mapping table (rules/mappings/)"), "{}", notices[0].text_en);
    assert!(notices[0].text_zh.contains("映射表"));
    // The notice names the local coding, so that QC staff can add the row.
    assert!(notices[0].text_en.contains("HIS-DRUG code ZZ-UNMAPPED-7"), "{}", notices[0].text_en);
    assert!(notices[0].text_zh.contains("HIS-DRUG 编码 ZZ-UNMAPPED-7 加入映射表"), "{}", notices[0].text_zh);
    let listed = |vs: &ValueSets| -> Vec<String> {
        super::unmapped::list(vs).0.into_iter().filter(|s| s.code.starts_with("ZZ-UNMAPPED")).map(|s| s.code).collect()
    };
    assert_eq!(
        listed(&vs),
        ["ZZ-UNMAPPED-7", "ZZ-UNMAPPED-8"],
        "every unmapped local coding, with another coding or not"
    );
    // A reload that maps one: it is no longer listed.
    let mut vs2 = sets();
    let src = "name = \"more\"\nsystem = \"HIS-DRUG\"\n[[map]]\ncode = \"zz-unmapped-7\"\nto = [\"ATC:B01AC06\"]\n";
    let t = parse_mapping("mappings/more.toml", src, &locals(), &vs2).unwrap();
    let m = compile_into(vec![t], &mut vs2).unwrap();
    vs2.set_mappings(m);
    assert_eq!(listed(&vs2), ["ZZ-UNMAPPED-8"]);
    assert!(super::quality::unmatched_codes(&enc, &vs2).iter().all(|n| n.item_id != "unmapped"));
}

#[test]
fn tables_load_with_the_rule_set_and_errors_reject_it() {
    let compiler =
        super::load::Compiler::new(super::engine::RuleLimits::default(), chrono_tz::Asia::Shanghai, limits());
    let mut files = BTreeMap::new();
    files.insert(
        "valuesets/aspirin.toml".to_string(),
        "name = \"aspirin\"\n[[include]]\nsystem = \"ATC\"\ncodes = [\"B01AC06\"]\n".to_string(),
    );
    files.insert(
        "mappings/his_drugs.toml".to_string(),
        "name = \"his_drugs\"\nsystem = \"HIS-DRUG\"\n[[map]]\ncode = \"YP1\"\nto = [\"ATC:B01AC06\"]\n".to_string(),
    );
    let set = compiler.compile_files(Path::new("r"), files.clone()).expect("loads");
    assert!(set.value_sets.get("aspirin").unwrap().matches("HIS-DRUG", "YP1"));
    assert!(set.packs.is_empty(), "mappings/ is not a pack");
    assert_eq!(set.warnings.len(), 1, "LIS is unused: {:?}", set.warnings);
    let before = set.version.clone();
    files.insert(
        "mappings/his_drugs.toml".to_string(),
        "name = \"his_drugs\"\nsystem = \"HIS-DRUG\"\n[[map]]\ncode = \"YP1\"\nto = [\"ATC:B01AC07\"]\n".to_string(),
    );
    let set = compiler.compile_files(Path::new("r"), files.clone()).expect("loads");
    assert_ne!(set.version, before, "a table is part of the version");
    assert!(!set.value_sets.get("aspirin").unwrap().matches("HIS-DRUG", "YP1"));
    files.insert(
        "mappings/his_drugs.toml".to_string(),
        "name = \"his_drugs\"\nsystem = \"HIS-DRUG\"\n[[map]]\ncode = \"YP1\"\nvalue_sets = [\"nope\"]\n".to_string(),
    );
    let errs = compiler.compile_files(Path::new("r"), files).unwrap_err();
    assert_eq!(
        errs.0[0].to_string(),
        "mappings/his_drugs.toml:5:15: unknown value set 'nope' (files in rules/valuesets/)"
    );
}
