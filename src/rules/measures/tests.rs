//! The catalogue's layout: sets in the known order with their notes, items in natural order,
//! one row per rule with what its header does not state shown as such, cells kept on one line.
use super::*;

fn rule(id: &str, set: &str, item: &str, measure: &str) -> Row {
    Row {
        id: id.into(),
        title_en: format!("{id} title"),
        title_zh: format!("{id} 标题"),
        set: set.into(),
        item: item.into(),
        version: "v1".into(),
        measure: measure.into(),
        rule_version: "1.0.0".into(),
        cases: 3,
        header: Header {
            time_zero: Some("hospital arrival".into()),
            window: Some("90 min | inclusive".into()),
            source_quality: None,
        },
    }
}

fn catalogue() -> Catalogue {
    let note = |en: &str, zh: &str| SetNote { en: en.into(), zh: zh.into() };
    let mut a = rule("a.late", "CMS", "AMI-10", "CMS AMI-10");
    a.header = Header { time_zero: None, window: None, source_quality: Some("reconstructed".into()) };
    let packs = vec![
        PackRows {
            id: "a".into(),
            title: "Pack A".into(),
            rows: vec![a, rule("a.one", "CMS", "AMI-2", "CMS AMI-2"), rule("a.two", "CMS", "AMI-2", "CMS/TJC AMI-2")],
        },
        PackRows {
            id: "b".into(),
            title: "Pack B".into(),
            rows: vec![
                rule("b.x", "NHC-2022", "4.43.1.2", "NHC-2022 4.43.1.2"),
                rule("b.y", "NHC-2022", "4.9.1.3", "NHC-2022 4.9.1.3"),
            ],
        },
    ];
    let notes = SetNotes::from([
        ("CMS".to_string(), note("US chart-abstracted", "美国病历摘录指标")),
        ("SCIP".to_string(), note("Surgical care", "外科")),
        ("NHC-2022".to_string(), note("Review standard 2022", "三级医院评审标准（2022 年版）")),
    ]);
    Catalogue { packs, notes }
}

#[test]
fn sets_in_the_known_order_items_in_natural_order_with_the_citation_when_it_says_more() {
    let doc = catalogue().render();
    let at = |s: &str| doc.find(s).unwrap_or_else(|| panic!("{s:?} in\n{doc}"));
    // NHC-2022 comes before CMS (names::MEASURE_SETS), SCIP (noted, no rule) after both.
    assert!(at("- **NHC-2022**") < at("- **CMS**") && at("- **CMS**") < at("- **SCIP**"));
    assert!(doc.contains("- **SCIP**: Surgical care · 外科 No rule. 无规则。\n"));
    assert!(!doc.contains("**TJC**"), "a set with neither a note nor a rule is left out");
    assert!(doc.contains("  - 4.9.1.3 (v1): `b.y`\n  - 4.43.1.2 (v1): `b.x`\n"), "4.9 before 4.43:\n{doc}");
    assert!(doc.contains("  - AMI-2 (v1): `a.one`, `a.two` (CMS/TJC AMI-2)\n  - AMI-10 (v1): `a.late`\n"), "{doc}");
    assert!(doc.contains("- **CMS**: US chart-abstracted · 美国病历摘录指标 3 rule(s) · 3 条规则:\n"));
    assert!(doc.contains("5 rules in 2 packs.\n15 test cases."));
}

#[test]
fn one_row_per_rule_with_unstated_header_entries_marked_and_pipes_escaped() {
    let doc = catalogue().render();
    assert!(doc.contains("## a: Pack A\n\n| Rule 规则 |"));
    assert!(doc.contains(
        "| `a.late` | a.late title | a.late 标题 | CMS / AMI-10 / v1 | 1.0.0 | 3 | reconstructed | — | — |\n"
    ));
    assert!(doc.contains("| `a.one` | a.one title | a.one 标题 | CMS / AMI-2 / v1 | 1.0.0 | 3 | — | hospital arrival | 90 min \\| inclusive |\n"));
    assert_eq!(doc.matches("| `").count(), 5, "one row per rule");
    assert!(doc.ends_with("|\n") && !doc.ends_with("\n\n"));
    assert_eq!(doc, catalogue().render(), "the same input gives the same bytes");
}

#[test]
fn natural_order_compares_digit_runs_as_numbers() {
    let mut ids = vec!["AMI-10", "AMI-2", "AMI-1", "4.43.1.2", "4.9.1.3", "4.1.1.1", "STK-10", "STK-1", "STK"];
    ids.sort_by(|a, b| natural(a, b));
    assert_eq!(ids, ["4.1.1.1", "4.9.1.3", "4.43.1.2", "AMI-1", "AMI-2", "AMI-10", "STK", "STK-1", "STK-10"]);
    assert_eq!(natural("a01", "a1"), "a01".cmp("a1"), "equal numbers: the text decides, so the order is total");
}

#[test]
fn the_first_differing_line_is_named() {
    assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
    assert_eq!(first_difference("a\nb\nc\n", "a\nB\nc\n"), Some((2, Some("b"), Some("B"))));
    assert_eq!(first_difference("a\n", "a\nb\n"), Some((2, Some(""), Some("b"))));
    assert_eq!(first_difference("a", "a\n"), Some((2, None, Some(""))));
}
