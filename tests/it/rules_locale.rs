//! `cdssd rules check` on a broken copy of a pack prints Rhai's errors in the command's
//! locale (`--locale zh-CN` / `--locale en`), at the same `path:line:col`.
use std::process::Command;

use crate::rules::{copy_tree, fixture_dir, SLOW_OK};
use crate::support::root;

fn check(dir: &std::path::Path, locale: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["rules", "check", "--locale", locale])
        .arg(dir)
        .env("CDSSD__METRICS__LISTEN", "")
        .env("CDSSD__RULES__EXAMPLES_DIR", root().join("examples"))
        .env(SLOW_OK.0, SLOW_OK.1)
        .env_remove("CDSSD_CONFIG")
        .env_remove("CDSSD__RULES__DIR")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Insert `line` as the first statement of `fn evaluate` in `file`.
fn break_script(file: &std::path::Path, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("fn evaluate(enc) {\n"), "{}", file.display());
    std::fs::write(file, text.replacen("fn evaluate(enc) {\n", &format!("fn evaluate(enc) {{\n    {line}\n"), 1))
        .unwrap();
}

#[test]
fn rules_check_prints_script_errors_in_the_chosen_locale() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rules");
    copy_tree(&fixture_dir(), &dir);
    break_script(&dir.join("stemi/door_to_device.rhai"), "let zz = undefined_thing + 1;");
    break_script(&dir.join("stemi/aspirin_arrival.rhai"), "let q = (1 + 2;");

    let (code, zh) = check(&dir, "zh-CN");
    assert_eq!(code, 1, "{zh}");
    let (code, en) = check(&dir, "en");
    assert_eq!(code, 1, "{en}");
    let line = |out: &str, path: &str| out.lines().find(|l| l.starts_with(path)).unwrap_or("").to_string();
    let (d2d, asp) = ("stemi/door_to_device.rhai:19:", "stemi/aspirin_arrival.rhai:");
    assert!(line(&zh, d2d).contains("未定义的变量：undefined_thing"), "{zh}");
    assert!(line(&en, d2d).ends_with("Undefined variable: undefined_thing"), "{en}");
    assert!(line(&zh, asp).contains("此处缺少 ')'，与这个表达式中的 ( 配对"), "{zh}");
    assert!(line(&en, asp).contains("Expecting ')' for a matching ( in this expression"), "{en}");
    // The same positions in both, root cause first (file order), and the summary in each.
    let pos = |out: &str| {
        out.lines()
            .filter(|l| l.starts_with("stemi/"))
            .map(|l| l.split(": ").next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(pos(&zh), pos(&en));
    assert_eq!(pos(&zh).len(), 2, "{zh}");
    assert!(zh.contains("2 处错误，整个规则集将被拒绝"), "{zh}");
    assert!(en.contains("2 error(s); the rule set would be rejected"), "{en}");
}
