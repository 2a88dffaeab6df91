//! The measure catalogue `rules/MEASURES.md` is exactly what `cdssd rules measures` generates
//! from the shipped rules: a rule's measure set, item or edition, title, version, test cases
//! or header (time zero, window, source quality) changed without regenerating it fails here,
//! and so does a hand edit of the file.
use std::path::Path;
use std::process::{Command, Output};

use crate::{rules::copy_tree, support::root};

fn cdssd(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CDSSD_CONFIG")
        .env("CDSSD__METRICS__LISTEN", "")
        .env(crate::rules::SLOW_OK.0, crate::rules::SLOW_OK.1)
        .output()
        .expect("cdssd runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Every shipped rule id, from the file system (not from the catalogue).
fn shipped_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for pack in std::fs::read_dir(root().join("rules")).unwrap().flatten() {
        let Ok(files) = std::fs::read_dir(pack.path()) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".rhai").filter(|s| *s != "lib") {
                ids.push(format!("{}.{stem}", pack.file_name().to_string_lossy()));
            }
        }
    }
    ids.sort();
    ids
}

#[test]
fn the_committed_catalogue_is_what_the_rules_give_and_lists_every_rule_once() {
    let (code, out) = cdssd(&root(), &["rules", "measures", "rules", "--check", "rules/MEASURES.md"]);
    assert_eq!(
        code, 0,
        "rules/MEASURES.md is out of date; run `cargo run -- rules measures rules --out rules/MEASURES.md`:\n{out}"
    );
    assert!(out.contains("rules/MEASURES.md: up to date"), "{out}");

    let text = std::fs::read_to_string(root().join("rules/MEASURES.md")).unwrap();
    let ids = shipped_ids();
    assert_eq!(ids.len(), crate::support::shipped_rule_count());
    let set_at = text.find("\n## By measure set").expect("a By measure set section");
    let tables_at = text[set_at + 1..].find("\n## ").map(|i| i + set_at + 1).expect("pack tables");
    let (by_set, tables) = (&text[set_at..tables_at], &text[tables_at..]);
    assert!(by_set.starts_with("\n## By measure set"), "{by_set}");
    let rows: Vec<&str> = tables.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), ids.len(), "one table row per shipped rule, no other");
    for id in &ids {
        let cell = format!("`{id}`");
        assert_eq!(rows.iter().filter(|r| r.starts_with(&format!("| {cell} |"))).count(), 1, "{id}: one table row");
        assert_eq!(by_set.matches(&cell).count(), 1, "{id}: listed once under its measure set");
    }
    // Every shipped header states its time zero and window: no cell says "not stated" there.
    for r in &rows {
        let cells: Vec<&str> = r.split(" | ").collect();
        let n = cells.len();
        assert!(cells[n - 2] != "—" && cells[n - 1] != "— |", "time zero and window stated: {r}");
    }
    assert!(text.contains("- **NHC-2015**: ") && text.contains("重症医学专业医疗质量控制指标（2015 年版）"));
}

#[test]
fn a_rule_change_without_regeneration_fails_the_check_and_a_header_gap_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(&root().join("rules"), &repo.join("rules"));
    copy_tree(&root().join("examples/encounters"), &repo.join("examples/encounters"));
    let edit = |path: &str, from: &str, to: &str| {
        let file = repo.join("rules").join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{path}: {from}");
        std::fs::write(&file, text.replace(from, to)).unwrap();
    };
    edit("stemi/door_to_device_90.rhai", "measure_id: \"AMI-8a\"", "measure_id: \"AMI-8b\"");

    let (code, out) = cdssd(&repo, &["rules", "measures", "--rules", "rules", "--check", "rules/MEASURES.md"]);
    assert_eq!(code, 1, "{out}");
    let committed = std::fs::read_to_string(root().join("rules/MEASURES.md")).unwrap();
    let line = committed.lines().position(|l| l.contains("AMI-8a")).expect("the item is listed") + 1;
    assert!(
        out.contains(&format!(
            "rules/MEASURES.md: out of date from line {line}; regenerate it with `cdssd rules measures"
        )),
        "{out}"
    );
    assert!(out.contains("AMI-8a") && out.contains("AMI-8b"), "both versions of the line are shown: {out}");

    // A header without its time zero: `rules check` warns (in the reader's language), --strict fails,
    // and the catalogue says the header does not state it.
    edit("stemi/aspirin_arrival.rhai", "// Time zero: hospital arrival. ", "// ");
    let (code, out) = cdssd(&repo, &["rules", "check", "rules", "--strict", "--locale", "en"]);
    assert_eq!(code, 1, "{out}");
    let warning = "warning: stemi/aspirin_arrival.rhai:1: the header comment has no `// Time zero:` line";
    assert!(out.contains(warning), "{out}");
    assert_eq!(out.matches("warning: ").count(), 1, "no other warning: {out}");
    let (code, out) = cdssd(&repo, &["rules", "measures", "rules", "--out", "rules/MEASURES.md"]);
    assert_eq!(code, 0, "{out}");
    let fresh = std::fs::read_to_string(repo.join("rules/MEASURES.md")).unwrap();
    let row = fresh.lines().find(|l| l.starts_with("| `stemi.aspirin_arrival` |")).unwrap();
    assert!(row.ends_with(" | — | [T-24 h, T+24 h] inclusive; pending until T+24 h. |"), "{row}");
    assert!(
        fresh.contains("  - AMI-8b (v4.4a): `stemi.door_to_device_90` (CMS AMI-8a)\n"),
        "the citation says more now"
    );
    let (code, out) = cdssd(&repo, &["rules", "measures", "rules", "--check", "rules/MEASURES.md"]);
    assert_eq!(code, 0, "what --out writes, --check accepts: {out}");
}
