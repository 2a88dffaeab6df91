//! The QC authoring guides cannot rot. Their code blocks are checked against the files
//! they quote, and the Chinese guide's walk-through is carried out as the reader would:
//! its new files are written into a copy of `rules/`, its commands run with the real
//! binary, and the output it shows must be what the binary prints.
//!
//! Convention (stated at the top of `rules/README.zh-CN.md`), in a fence's info string:
//! - `file=PATH`: an excerpt of the shipped file PATH (relative to the repository root).
//!   Its lines appear in PATH in the same order and contiguously, except across an
//!   elision line (`…`, `// …`, `# …` or `...`, alone on the line); the block may drop an
//!   indent common to all its lines.
//! - `new=PATH`: walk-through, a file the reader creates (it must not be shipped).
//! - `run`: walk-through, commands the reader types, one `cdssd …` per line (or `cp FROM TO`,
//!   copying a shipped file under `examples/` into the reader's `rules/`); each must exit
//!   0, or 1 when the info string also says `fails` (exactly the runs after a mistake).
//! - `output`: what the preceding `run` block printed (the same excerpt rules, no indent;
//!   `…` inside a line stands for text that changes from run to run).
//! - `diff=PATH`: walk-through, a deliberate mistake: the `-` line of PATH becomes the `+`
//!   line; it is undone (as the guide tells the reader) once the failing run's output is shown.
//!
//! In the Chinese guide every ```rhai and ```toml block must carry `file=` or `new=`; in the
//! English guide the blocks that carry `file=` are checked the same way.

use std::{path::Path, process::Command};

use cdssd::{locale::Locale, rules::test_report};

use crate::{rules::copy_tree, support::root};

const ZH: &str = "rules/README.zh-CN.md";
const EN: &str = "rules/README.md";

/// One fenced code block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// Language and keys after the opening fence (` ```rhai file=rules/x.rhai `).
    info: String,
    lines: Vec<String>,
    /// 1-based line of the opening fence.
    line: usize,
}

impl Block {
    fn lang(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }

    /// Value of `key=VALUE` in the info string.
    fn key(&self, key: &str) -> Option<&str> {
        self.info.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    fn flag(&self, word: &str) -> bool {
        self.info.split_whitespace().skip(1).any(|w| w == word)
    }
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some(Block { info, lines: Vec::new(), line: i + 1 });
            }
            None => {}
            Some(b) if fence => out.push(b),
            Some(mut b) => {
                b.lines.push(line.to_string());
                open = Some(b);
            }
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "…" | "// …" | "# …" | "...")
}

/// Whether `block` is an excerpt of `hay` (see the module comment). With `indent`, every
/// line of the block may be found behind one common whitespace prefix.
fn excerpt_of(block: &[String], hay: &[&str], indent: bool) -> Result<(), String> {
    let pieces: Vec<Vec<&str>> = block
        .split(|l| is_elision(l))
        .map(|p| p.iter().map(|l| l.trim_end()).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .collect();
    if pieces.is_empty() {
        return Err("the block is empty".into());
    }
    let hay: Vec<&str> = hay.iter().map(|l| l.trim_end()).collect();
    // The candidate prefixes: those that put the block's first line on some line of `hay`.
    let first = pieces[0][0];
    let mut prefixes: Vec<&str> = vec![""];
    if indent {
        for h in &hay {
            if let Some(p) = h.strip_suffix(first) {
                if p.chars().all(char::is_whitespace) && !prefixes.contains(&p) {
                    prefixes.push(p);
                }
            }
        }
    }
    let matches_at = |piece: &[&str], at: usize, prefix: &str| {
        at + piece.len() <= hay.len()
            && piece.iter().zip(&hay[at..]).all(|(b, h)| match h.strip_prefix(prefix) {
                _ if b.is_empty() => h.is_empty(),
                Some(h) if !indent && b.contains('…') => wildcard_match(b, h),
                Some(h) => h == *b,
                None => false,
            })
    };
    'prefix: for prefix in prefixes {
        let mut from = 0;
        for piece in &pieces {
            match (from..hay.len()).find(|&at| matches_at(piece, at, prefix)) {
                Some(at) => from = at + piece.len(),
                None => continue 'prefix,
            }
        }
        return Ok(());
    }
    // Name the first line that is nowhere in the file, for the message.
    for line in pieces.iter().flatten().filter(|l| !l.is_empty()) {
        if !hay.iter().any(|h| h.trim() == line.trim()) {
            return Err(format!("this line is not in the file: {line:?}"));
        }
    }
    Err("its lines are in the file, but not in this order and contiguously (or not indented alike)".into())
}

/// In an `output` block, `…` inside a line stands for text that differs from run to run
/// (a version hash, counts of the whole rule set).
fn wildcard_match(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Check every `file=` block of `guide`; returns how many were checked.
fn check_excerpts(guide: &str, every_code_block: bool) -> usize {
    let md = read(guide);
    let mut problems = Vec::new();
    let mut checked = 0;
    for b in blocks(&md) {
        let code = matches!(b.lang(), "rhai" | "toml");
        match b.key("file") {
            Some(path) => {
                let Ok(text) = std::fs::read_to_string(root().join(path)) else {
                    problems.push(format!("{guide}:{}: quotes {path}, which does not exist", b.line));
                    continue;
                };
                let hay: Vec<&str> = text.lines().collect();
                if let Err(e) = excerpt_of(&b.lines, &hay, true) {
                    problems.push(format!("{guide}:{}: not an excerpt of {path}: {e}", b.line));
                }
                checked += 1;
            }
            None if code && every_code_block && b.key("new").is_none() => problems.push(format!(
                "{guide}:{}: a ```{} block must name the shipped file it quotes (file=PATH) or be a walk-through file (new=PATH)",
                b.line,
                b.lang()
            )),
            None => {}
        }
    }
    assert!(
        problems.is_empty(),
        "update the guide to the file it quotes (or the file back), then rerun:\n{}",
        problems.join("\n")
    );
    checked
}

#[test]
fn every_code_block_of_the_chinese_guide_is_a_shipped_file_or_the_walk_through() {
    let n = check_excerpts(ZH, true);
    // The five worked patterns, the value set, the test cases: well above a handful.
    assert!(n >= 10, "only {n} excerpts checked in {ZH}");
}

#[test]
fn every_relative_link_of_the_chinese_guide_leads_to_a_file() {
    let md = read(ZH);
    let mut dead = Vec::new();
    for (i, line) in md.lines().enumerate() {
        for part in line.split("](").skip(1) {
            let target = part.split(')').next().unwrap_or("");
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") {
                continue;
            }
            if !root().join("rules").join(path).exists() {
                dead.push(format!("{ZH}:{}: {target}", i + 1));
            }
        }
    }
    assert!(dead.is_empty(), "links to files that do not exist:\n{}", dead.join("\n"));
}

#[test]
fn the_english_guide_quotes_shipped_files_exactly() {
    let n = check_excerpts(EN, false);
    // The worked rule and its declared outcomes.
    assert!(n >= 2, "only {n} blocks of {EN} name the shipped file they quote");
    assert!(read(EN).contains("README.zh-CN.md"), "{EN} links the Chinese guide");
    assert!(read("README.md").contains("rules/README.zh-CN.md"), "README.md links the Chinese guide");
}

#[test]
fn excerpt_matching_can_fail() {
    let file = ["fn a() {", "    let x = 1;", "    let y = 2;", "    x + y", "}"];
    let ok = |b: &[&str]| excerpt_of(&b.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &file, true);
    assert!(ok(&["let x = 1;", "let y = 2;"]).is_ok(), "a de-indented excerpt");
    assert!(ok(&["fn a() {", "    // …", "}"]).is_ok(), "an elision");
    assert!(ok(&["let y = 2;", "let x = 1;"]).is_err(), "order matters");
    assert!(ok(&["let x = 1;", "x + y"]).is_err(), "contiguous without an elision");
    assert!(ok(&["let x = 10;"]).is_err(), "a changed line");
    assert!(ok(&["let x = 1;", "    let y = 2;"]).is_err(), "indented alike");
    let out = ["rules/: OK — version 1a2b, 7 packs, 3 warning(s).", "", "9 passed, 0 failed, 9 cases"];
    let shown = |b: &[&str]| excerpt_of(&b.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &out, false);
    assert!(shown(&["rules/: OK — version …, 7 packs, … warning(s)."]).is_ok(), "a wildcard in an output line");
    assert!(shown(&["rules/: OK — version …, 8 packs, … warning(s)."]).is_err(), "the rest of the line is exact");
    assert!(shown(&["9 passed, 0 failed, … cases", "…"]).is_ok());
    assert!(shown(&["    9 passed, 0 failed, 9 cases"]).is_err(), "no indent in output");
}

/// `cdssd ARGS…` in `cwd`, as a QC officer runs it from the repository root.
fn cdssd_in(cwd: &Path, line: &str) -> (i32, String) {
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args.first(), Some(&"cdssd"), "a walk-through command starts with cdssd: {line}");
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(&args[1..])
        .current_dir(cwd)
        .env_remove("CDSSD_CONFIG")
        .env("CDSSD__METRICS__LISTEN", "")
        .env(crate::rules::SLOW_OK.0, crate::rules::SLOW_OK.1)
        .env("NO_COLOR", "1")
        .output()
        .expect("cdssd runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The rule id of `rules/<pack>/<file>.rhai`.
fn rule_id(path: &str) -> Option<String> {
    let p = Path::new(path.strip_prefix("rules/")?);
    let pack = p.parent()?.to_str()?;
    let stem = p.file_stem()?.to_str()?;
    (p.extension()? == "rhai" && !pack.contains('/') && stem != "lib").then(|| format!("{pack}.{stem}"))
}

#[test]
fn the_chinese_guide_walk_through_passes_as_written() {
    let md = read(ZH);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(&root().join("rules"), &repo.join("rules"));
    copy_tree(&root().join("examples/encounters"), &repo.join("examples/encounters"));

    let mut new_rules: Vec<String> = Vec::new();
    let mut new_tests: Vec<(String, usize)> = Vec::new();
    let mut new_files: Vec<String> = Vec::new(); // relative to rules/, as messages name them
    let mut last: Option<(String, bool, String)> = None; // command, whether it had to fail, output
    let mut undo: Vec<(std::path::PathBuf, String)> = Vec::new(); // files a deliberate mistake changed
    let (mut runs, mut outputs, mut diffs, mut failing_checks) = (0, 0, 0, 0);
    for b in blocks(&md) {
        let at = format!("{ZH}:{}", b.line);
        if let Some(path) = b.key("new") {
            assert!(path.starts_with("rules/"), "{at}: a walk-through file lies under rules/");
            assert!(!root().join(path).exists(), "{at}: {path} is shipped; the walk-through adds a file that is not");
            let dest = repo.join(path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, b.lines.join("\n") + "\n").unwrap();
            new_files.push(path["rules/".len()..].to_string());
            if let Some(id) = rule_id(path) {
                new_rules.push(id);
            } else if path.contains("/tests/") && path.ends_with(".toml") {
                let cases = b.lines.iter().filter(|l| l.trim() == "[[case]]").count();
                new_tests.push((path.to_string(), cases));
            }
        } else if let Some(path) = b.key("diff") {
            let minus: Vec<&str> = b.lines.iter().filter_map(|l| l.strip_prefix('-')).collect();
            let plus: Vec<&str> = b.lines.iter().filter_map(|l| l.strip_prefix('+')).collect();
            assert!(minus.len() == 1 && plus.len() == 1, "{at}: a diff block has one '-' and one '+' line");
            let dest = repo.join(path);
            let text = std::fs::read_to_string(&dest).unwrap_or_else(|e| panic!("{at}: {path}: {e}"));
            let hits = text.lines().filter(|l| *l == minus[0]).count();
            assert_eq!(hits, 1, "{at}: the '-' line occurs once in {path}");
            let changed: Vec<&str> = text.lines().map(|l| if l == minus[0] { plus[0] } else { l }).collect();
            std::fs::write(&dest, changed.join("\n") + "\n").unwrap();
            undo.push((dest, text));
            diffs += 1;
        } else if b.lang() == "sh" && b.flag("run") {
            let fails = b.flag("fails");
            assert_eq!(fails, !undo.is_empty(), "{at}: a command fails exactly when it follows a deliberate mistake");
            for line in b.lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                if let Some(args) = line.strip_prefix("cp ") {
                    // Copying a shipped example into the reader's rules/ (e.g. a local variant).
                    let (from, to) = args.split_once(' ').unwrap_or_else(|| panic!("{at}: `cp FROM TO`: {line}"));
                    assert!(from.starts_with("examples/") && to.starts_with("rules/"), "{at}: cp examples/… rules/…");
                    assert!(root().join(from).is_file(), "{at}: {from} is shipped");
                    let dest = if to.ends_with('/') {
                        repo.join(to).join(Path::new(from).file_name().unwrap())
                    } else {
                        repo.join(to)
                    };
                    std::fs::copy(root().join(from), &dest).unwrap_or_else(|e| panic!("{at}: {line}: {e}"));
                    let dest_rel = dest.strip_prefix(&repo).unwrap().to_str().unwrap().to_string();
                    if let Some(id) = rule_id(&dest_rel) {
                        new_rules.push(id);
                    } else if dest_rel.contains("/tests/") && dest_rel.ends_with(".toml") {
                        let cases = read(from).lines().filter(|l| l.trim() == "[[case]]").count();
                        new_tests.push((dest_rel, cases));
                    }
                    continue;
                }
                let (code, out) = cdssd_in(&repo, line);
                assert_eq!(code, if fails { 1 } else { 0 }, "{at}: `{line}` exited {code}:\n{out}");
                if !fails && line.contains("rules check") {
                    // No warning about the reader's new files: their cases are complete.
                    for l in out.lines().filter(|l| l.starts_with("warning")) {
                        assert!(
                            !new_files.iter().any(|f| l.contains(f.as_str())),
                            "{at}: a warning about a new file: {l}"
                        );
                    }
                }
                failing_checks += usize::from(fails && line.contains("rules check"));
                last = Some((line.to_string(), fails, out));
            }
            runs += 1;
        } else if b.flag("output") {
            let (cmd, failed, out) =
                last.take().unwrap_or_else(|| panic!("{at}: an output block without a run block before it"));
            let hay: Vec<&str> = out.lines().collect();
            if let Err(e) = excerpt_of(&b.lines, &hay, false) {
                panic!("{at}: the guide shows output `{cmd}` does not print ({e}); it printed:\n{out}");
            }
            outputs += 1;
            // The new rule's own cases ran, all of them, and reached every outcome.
            if cmd.contains(" test") && !failed {
                let filter = cmd.split_whitespace().skip_while(|w| *w != "--filter").nth(1);
                for id in new_rules.iter().filter(|id| filter.is_none_or(|f| id.contains(f))) {
                    let (pack, stem) = id.split_once('.').unwrap();
                    let cases = new_tests.iter().find(|(p, _)| *p == format!("rules/{pack}/tests/{stem}.toml"));
                    let (_, n) = cases.unwrap_or_else(|| panic!("{at}: no walk-through test file for {id}"));
                    let ran = hay
                        .iter()
                        .filter(|l| l.split_whitespace().take(2).collect::<Vec<_>>() == ["ok", id.as_str()])
                        .count();
                    // One table row per case, plus the outcome-coverage row.
                    assert_eq!(ran, n + 1, "{at}: {id}: {n} cases and the coverage row are ok:\n{out}");
                    // The walk-through runs in the embedded default locale, zh-CN.
                    let rows = hay.iter().take_while(|l| !l.is_empty()).filter(|l| l.starts_with("ok ")).count();
                    assert!(out.contains(&test_report::totals(rows, 0, Locale::ZhCn)), "{at}: {out}");
                    assert!(
                        hay.iter().any(|l| l.starts_with("ok") && l.contains(id) && l.ends_with("(100 %)")),
                        "{out}"
                    );
                }
            }
            // The guide tells the reader to undo the mistake once its output has been read.
            if failed {
                for (path, text) in undo.drain(..).rev() {
                    std::fs::write(path, text).unwrap();
                }
            }
        }
    }
    assert!(!new_rules.is_empty() && !new_tests.is_empty(), "the walk-through adds a rule and its test cases");
    assert!(
        runs >= 3 && outputs == runs,
        "every command of the walk-through shows its output ({runs} runs, {outputs} outputs)"
    );
    assert!(diffs >= 1 && failing_checks >= 1, "a deliberate mistake whose `rules check` fails as shown");
    assert!(undo.is_empty(), "the walk-through ends with its files as they should be");
}

/// §8's table of common errors is the list `rules check` explains them from
/// (`src/rules/hints.rs`), row for row.
#[test]
fn the_chinese_guides_error_table_is_the_list_rules_check_explains_from() {
    let md = read(ZH);
    let table = cdssd::rules::hints::guide_table();
    assert!(md.contains(&table), "rules/README.zh-CN.md §8 must hold exactly this table:\n{table}");
    assert_eq!(table.lines().count(), cdssd::rules::hints::HINTS.len() + 2);
}
