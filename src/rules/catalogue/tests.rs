//! The catalogue's sources: every contract field documented, the API tables in step with
//! the queries and getters the engine registers, and the query usage found in scripts.
use std::collections::HashSet;

use prost::Message;
use prost_types::source_code_info::Location;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet, SourceCodeInfo};

use super::api::{FIELDS, QUERIES};
use super::contract::Contract;
use crate::rules::api::encounter::{ENCOUNTER_PROPERTIES, TWO_VALUE_SET_METHODS, VALUE_SET_METHODS};

#[test]
fn every_field_of_the_contract_has_a_documentation_comment() {
    let contract = Contract::embedded();
    assert!(contract.messages.len() > 40, "the embedded descriptor set has the cdss.v1 messages");
    let t = contract.field("Observation", "effective_time").expect("Observation.effective_time");
    assert!(t.doc.starts_with("Clinically relevant time"), "comments are read: {:?}", t.doc);
    assert_eq!(t.type_name, "Timestamp");
    assert_eq!(contract.field("Encounter", "first_admission").unwrap().type_name, "optional bool");
    assert_eq!(contract.field("Encounter", "diagnoses").unwrap().type_name, "repeated Diagnosis");
    assert_eq!(contract.undocumented(), Vec::<String>::new(), "fields without a comment in proto/cdss/v1/*.proto");
}

/// A one-message descriptor set: field `a` with a comment, field `b` without.
fn descriptor_set() -> Vec<u8> {
    let field = |name: &str, n: i32| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(n),
        r#type: Some(prost_types::field_descriptor_proto::Type::String as i32),
        ..Default::default()
    };
    let loc = |path: Vec<i32>, c: &str| Location { path, leading_comments: Some(c.into()), ..Default::default() };
    let file = FileDescriptorProto {
        name: Some("cdss/v1/x.proto".into()),
        package: Some("cdss.v1".into()),
        message_type: vec![DescriptorProto {
            name: Some("X".into()),
            field: vec![field("a", 1), field("b", 2)],
            ..Default::default()
        }],
        source_code_info: Some(SourceCodeInfo {
            location: vec![loc(vec![4, 0], " An X.\n"), loc(vec![4, 0, 2, 0], " The a,\n of X.\n")],
        }),
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

#[test]
fn a_field_without_a_comment_is_reported() {
    let c = Contract::from_descriptor_set(&descriptor_set()).unwrap();
    assert_eq!(c.messages["X"].doc, "An X.");
    assert_eq!(c.field("X", "a").unwrap().doc, "The a, of X.");
    assert_eq!(c.undocumented(), ["X.b"]);
}

/// Names of the functions the rule engine registers (getters are `get$<property>`).
fn registered() -> HashSet<String> {
    let mut engine = rhai::Engine::new_raw();
    crate::rules::api::register(&mut engine, chrono_tz::UTC);
    engine.collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true).into_iter().collect()
}

#[test]
fn every_value_set_query_is_catalogued_and_registered() {
    let fns = registered();
    for m in VALUE_SET_METHODS.iter().chain(TWO_VALUE_SET_METHODS) {
        assert!(QUERIES.iter().any(|q| q.query == *m), "enc.{m}(vs) has no row in catalogue::api::QUERIES");
    }
    for q in QUERIES {
        assert!(fns.contains(q.query), "catalogued query '{}' is not registered", q.query);
        assert!(q.call.starts_with(&format!("enc.{}(", q.query)), "{}", q.call);
    }
}

/// The `.prop` and `enc.prop` names a FIELDS entry mentions.
fn props(script: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for (i, _) in script.match_indices('.') {
        let on_enc = script[..i].ends_with("enc");
        let on_item = i == 0 || !script[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let name: String = script[i + 1..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if (on_enc || on_item) && !name.is_empty() {
            out.push((on_enc, name));
        }
    }
    out
}

#[test]
fn every_script_property_the_catalogue_names_exists_and_every_enc_property_is_catalogued() {
    let fns = registered();
    let mut seen = HashSet::new();
    for (m, f, script) in FIELDS {
        for (on_enc, p) in props(script) {
            if on_enc {
                let known = ENCOUNTER_PROPERTIES.contains(&p.as_str()) || VALUE_SET_METHODS.contains(&p.as_str());
                assert!(known || fns.contains(&p), "{m}.{f}: enc.{p} is not a property or query of enc");
                seen.insert(p);
            } else {
                assert!(fns.contains(&format!("get${p}")), "{m}.{f}: no script property .{p} is registered");
            }
        }
    }
    for p in ENCOUNTER_PROPERTIES {
        assert!(seen.contains(*p), "enc.{p} is in no catalogue::api::FIELDS row");
    }
    assert_eq!(props(".value (x), .bound"), [(false, "value".to_string()), (false, "bound".to_string())]);
}

#[test]
fn a_helper_parameter_carries_only_its_own_function_queries() {
    let ast = rhai::Engine::new_raw()
        .compile(
            r#"
            fn a(enc, vs) { enc.labs(vs) }
            fn b(enc, vs) { enc.given(vs) }
            fn c(enc, x) { a(enc, x) }
            fn evaluate(enc) { a(enc, "x"); b(enc, "y"); c(enc, "z"); enc.not_given_for("d", "r"); enc.vitals("w") }
            "#,
        )
        .unwrap();
    let mut reads = std::collections::BTreeSet::new();
    super::usage::rule_reads(&ast, &mut reads);
    let got: Vec<(&str, &str)> = reads.iter().map(|(q, n)| (*q, n.as_str())).collect();
    assert_eq!(
        got,
        [("given", "y"), ("labs", "x"), ("labs", "z"), ("not_given", "d"), ("not_given_for", "r"), ("vitals", "w")]
    );
}

#[test]
fn usage_follows_helper_parameters_and_applies_to() {
    let settings = crate::config::Settings::embedded().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let set = crate::rules::service::compiler_from(&settings).compile_dir(&dir).expect("shipped rules compile");
    let usage = super::usage::usage(&set);
    let packs = |vs: &str, q: &str| -> Vec<String> {
        usage.get(vs).and_then(|m| m.get(q)).map(|p| p.iter().cloned().collect()).unwrap_or_default()
    };
    // Written as the argument: `enc.labs("lactate")`.
    assert_eq!(packs("lactate", "labs"), ["sepsis"]);
    // Through a helper's parameter: `ids(enc, "periop_first_line")` → `enc.given(vs)`.
    assert_eq!(packs("periop_first_line", "given"), ["periop"]);
    assert!(packs("periop_first_line", "labs").is_empty());
    // The reason argument of `enc.not_given_for(drugs, "reason_medical")`.
    assert!(!packs("reason_medical", "not_given_for").is_empty());
    // Every query found is catalogued.
    for (vs, queries) in &usage {
        for q in queries.keys() {
            assert!(super::api::query(q).is_some(), "{vs}: query {q}");
        }
    }
}
