//! `cdssd rules publish` checks outcome coverage as `cdssd rules test` does: a draft in
//! which a rule with declared outcomes has no case reaching one of them is refused, the
//! unreached `status:key` named, LIVE untouched; `--allow-incomplete-coverage` publishes it
//! anyway and says so in its output.

use std::{path::Path, process::Command};

use crate::rules::copy_tree;
use crate::support::root;

/// The shipped stroke pack with the value sets and mappings it needs, in `<tmp>/draft`.
fn stroke_draft(tmp: &Path) -> std::path::PathBuf {
    let draft = tmp.join("draft");
    for dir in ["valuesets", "mappings", "stroke"] {
        copy_tree(&root().join("rules").join(dir), &draft.join(dir));
    }
    draft
}

/// Drop every case of `file` whose expectation is `expect`.
fn drop_cases(file: &Path, expect: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let parts: Vec<&str> = text.split("[[case]]\n").collect();
    let kept: Vec<&str> = parts.iter().copied().filter(|c| !c.contains(&format!("expect = \"{expect}\""))).collect();
    assert!(kept.len() < parts.len(), "{}: has a {expect} case", file.display());
    std::fs::write(file, kept.join("[[case]]\n")).unwrap();
}

fn publish(draft: &Path, live: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["rules", "publish", "--locale", "en"])
        .arg(draft)
        .arg(live)
        .args(extra)
        .env("CDSSD__METRICS__LISTEN", "")
        .env("CDSSD__RULES__EXAMPLES_DIR", root().join("examples"))
        .env(crate::rules::SLOW_OK.0, crate::rules::SLOW_OK.1)
        .env_remove("CDSSD_CONFIG")
        .env_remove("CDSSD__RULES__DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn publish_refuses_a_draft_below_full_outcome_coverage_unless_told_and_then_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let draft = stroke_draft(tmp.path());
    let live = tmp.path().join("live");

    // Every case still passes, but no case of door_to_ct_nhc reaches its pending outcome.
    drop_cases(&draft.join("stroke/tests/door_to_ct_nhc.toml"), "pending");
    let (code, out) = publish(&draft, &live, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("outcome coverage below 100 %: stroke.door_to_ct_nhc: pending:due (no case reaches it)"),
        "{out}"
    );
    assert!(out.contains("1 rule(s) below 100 % outcome coverage"), "{out}");
    assert!(out.contains("--allow-incomplete-coverage"), "the way out is named: {out}");
    assert!(out.contains("not published"), "{out}");
    assert!(!live.join("..data").exists(), "LIVE untouched");

    // Anyway, on request: published, and the gap is in the output.
    let (code, out) = publish(&draft, &live, &["--allow-incomplete-coverage"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "published WITH INCOMPLETE OUTCOME COVERAGE (--allow-incomplete-coverage): stroke.door_to_ct_nhc: pending:due unreached"
        ),
        "{out}"
    );
    assert!(std::fs::read_link(live.join("..data")).is_ok(), "{out}");

    // Complete again: published without any such line.
    copy_tree(&root().join("rules/stroke/tests"), &draft.join("stroke/tests"));
    let (code, out) = publish(&draft, &live, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("INCOMPLETE"), "{out}");
}
