//! Knowledge-base files: parsing with `path:line:col`, the committed `kb/`
//! directory, retrieval in both languages (reload: `llm::assets`).

use std::collections::HashSet;

use super::{load_dir, passage::parse_file, Locale, RetrievalQuery};

const GOOD: &str = r#"
[[passage]]
id = "pneumonia.severity"
valuesets = ["cap", "curb65"]
source = "Example guideline 2019"
section = "Severity"
version = "2019"
title.en = "Severity score"
title.zh-CN = "严重程度评分"
text.en = "Grade pneumonia with CURB-65."
text.zh-CN = "使用CURB-65评估肺炎严重程度。"
"#;

fn repo_kb() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kb")
}

fn repo_valuesets() -> HashSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/valuesets");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn a_passage_parses_with_its_review_status_in_both_languages() {
    let p = parse_file("kb/x.toml", GOOD, None).expect("parses");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].id, "pneumonia.severity");
    assert_eq!(p[0].review_status(Locale::En), "project-written summary, not clinically reviewed");
    assert_eq!(p[0].review_status(Locale::ZhCn), "项目编写的摘要，未经临床审核");
    assert_eq!(p[0].text.get(Locale::ZhCn), "使用CURB-65评估肺炎严重程度。");
}

#[test]
fn problems_are_reported_with_path_line_and_column() {
    let e = parse_file("kb/bad.toml", "[[passage]]\nid = \"a.b\"\nvaluesets = [1]\n", None).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].to_string().starts_with("kb/bad.toml:3:"), "{}", e[0]);

    let bad = GOOD
        .replace("\"cap\", \"curb65\"", "\"cap\", \"no_such_set\"")
        .replace("使用CURB-65评估肺炎严重程度。", "only English");
    let known: HashSet<String> = ["cap".to_string(), "curb65".to_string()].into();
    let e = parse_file("kb/bad.toml", &bad, Some(&known)).unwrap_err();
    let text: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter().any(|t| t.starts_with("kb/bad.toml:4:") && t.contains("unknown value set `no_such_set`")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("`text.zh-CN` has no Chinese text")), "{text:?}");

    let e = parse_file("kb/bad.toml", &GOOD.replace("pneumonia.severity", "Pneumonia Severity"), None).unwrap_err();
    assert!(e[0].to_string().starts_with("kb/bad.toml:3:") && e[0].message.contains("<topic>.<name>"), "{}", e[0]);
    let e = parse_file("kb/bad.toml", &format!("{GOOD}\nreviewed_by = \"Dr. A\"\n"), None).unwrap_err();
    assert!(e[0].message.contains("go together"), "{}", e[0]);
}

#[test]
fn the_committed_knowledge_base_loads_and_covers_every_rule_pack() {
    let index = load_dir(&repo_kb(), Some(&repo_valuesets())).unwrap_or_else(|e| panic!("kb/ loads: {e:?}"));
    assert!(index.passages.len() >= 20, "{}", index.passages.len());
    assert_eq!(index.version.len(), 12);
    let topics: HashSet<&str> = index.passages.iter().filter_map(|p| p.id.split('.').next()).collect();
    for pack in ["stemi", "stroke", "sepsis", "pneumonia", "heart_failure", "vte", "periop"] {
        assert!(topics.contains(pack), "no passage for {pack}");
    }
    for p in &index.passages {
        assert!(p.text.zh_cn.chars().any(super::is_cjk) && !p.text.en.is_empty(), "{}", p.id);
        assert!(p.reviewed_by.is_none(), "{}: nobody has signed a review yet", p.id);
    }
}

#[test]
fn free_text_retrieval_finds_the_passage_in_either_language() {
    let index = load_dir(&repo_kb(), None).expect("loads");
    for (query, want) in [
        ("door-to-needle thrombolysis last known well", "stroke.thrombolysis"),
        ("静脉溶栓 末次正常", "stroke.thrombolysis"),
        ("CURB-65 severity pneumonia", "pneumonia.severity"),
        ("肺炎 严重程度 评分", "pneumonia.severity"),
        ("Padua Caprini risk assessment", "vte.risk_assessment"),
        ("切皮前 预防性抗菌药物", "periop.timing"),
    ] {
        let hits = index.retrieve(&RetrievalQuery::text(query), 3, 0.0);
        assert_eq!(
            hits.first().map(|h| h.passage.id.as_str()),
            Some(want),
            "{query}: {:?}",
            hits.iter().map(|h| &h.passage.id).collect::<Vec<_>>()
        );
    }
    assert!(index.retrieve(&RetrievalQuery::text("zzzz qqqq"), 3, 0.0).is_empty());
}
