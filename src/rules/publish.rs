//! `cdssd rules publish DRAFT LIVE`: put a checked draft in force in one step.
//!
//! The draft must compile and every one of its test cases must run and pass (whatever
//! `rules.require_passing_tests` says). It is then copied into a new generation directory
//! inside LIVE and made current by swapping one symlink, the way kubelet updates a
//! ConfigMap volume:
//!
//! ```text
//! LIVE/..2026_12_02_00_10_00.123456_<version>/   the files of the draft
//! LIVE/..data -> ..2026_12_02_00_10_00.123456_<version>
//! LIVE/stemi  -> ..data/stemi                     one link per top-level entry
//! ```
//!
//! The rules watcher already follows `..data` swaps (and skips dot-entries), so it sees one
//! change and reloads the whole new set; the previous generation is kept (for a rollback by
//! hand), older ones are removed. The staged copy is compiled and its cases run again from
//! its place in LIVE before the swap, so base encounters the daemon would not find there
//! refuse the publication instead of a reload.
//!
//! Like `cdssd rules test`, a draft in which a rule that declares its outcomes has cases
//! reaching fewer than all of them (below 100 % outcome coverage) is refused, each
//! unreached `status:key` named. [`Coverage::Allow`] (`--allow-incomplete-coverage`)
//! publishes it anyway; the gaps are then returned in [`Published::uncovered`] and printed
//! with the publication, so the exception is on record.
use std::path::{Path, PathBuf};

use super::error::RulesError;
use super::load::Compiler;
use crate::diagnostic::Text;

/// The current generation's link inside LIVE.
pub const DATA_LINK: &str = "..data";

/// A publication that went through.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: String,
    /// The new generation directory (inside LIVE).
    pub generation: PathBuf,
    pub cases: u32,
    pub packs: usize,
    /// Rules below 100 % outcome coverage published with [`Coverage::Allow`]:
    /// `rule_id: status:key, …` (empty when coverage was complete).
    pub uncovered: Vec<String>,
}

/// What to do with a draft below 100 % outcome coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coverage {
    /// Refuse it (the default).
    #[default]
    Require,
    /// Publish it anyway, the unreached outcomes reported with the publication.
    Allow,
}

/// Why nothing was published.
#[derive(Debug)]
pub enum PublishError {
    /// Wrong arguments (exit 64): no such draft, LIVE inside DRAFT, …
    Usage(Text),
    /// The draft (or LIVE) failed a check (exit 1); every problem, one per line.
    Refused(Vec<Text>),
}

/// Check `draft`, then swap it into `live` (see the module documentation).
pub fn publish(compiler: &Compiler, draft: &Path, live: &Path, coverage: Coverage) -> Result<Published, PublishError> {
    if !draft.is_dir() {
        let d = draft.display();
        return Err(PublishError::Usage(Text::both(
            format!("草稿 {d} 不是目录"),
            format!("draft {d} is not a directory"),
        )));
    }
    let draft_abs =
        draft.canonicalize().map_err(|e| PublishError::Usage(format!("{}: {e}", draft.display()).into()))?;
    if live.exists() && !live.is_dir() {
        let l = live.display();
        return Err(PublishError::Usage(Text::both(
            format!("生效目录 {l} 不是目录"),
            format!("live {l} is not a directory"),
        )));
    }
    if let Ok(live_abs) = live.canonicalize() {
        if live_abs.starts_with(&draft_abs) || draft_abs.starts_with(&live_abs) {
            let (d, l) = (draft.display(), live.display());
            return Err(PublishError::Usage(Text::both(
                format!("草稿 {d} 和生效目录 {l} 必须是两个独立的目录（互不包含）"),
                format!("draft {d} and live {l} must be separate directories (neither inside the other)"),
            )));
        }
    }
    let checked = check(compiler, draft, &Text::both("草稿", "the draft"))?;
    if !checked.uncovered.is_empty() && coverage == Coverage::Require {
        let mut lines: Vec<Text> = checked
            .uncovered
            .iter()
            .map(|u| {
                Text::both(
                    format!("结果覆盖率低于 100 %：{u}（没有用例达到）"),
                    format!("outcome coverage below 100 %: {u} (no case reaches it)"),
                )
            })
            .collect();
        let n = checked.uncovered.len();
        lines.push(Text::both(
            format!(
                "草稿：{n} 条规则的结果覆盖率低于 100 %；为每个未达到的结果补一个用例（cdssd rules test 会列出），\
                 或用 --allow-incomplete-coverage 照样发布"
            ),
            format!(
                "the draft: {n} rule(s) below 100 % outcome coverage; add a case for each unreached outcome (cdssd rules \
                 test shows them), or publish anyway with --allow-incomplete-coverage"
            ),
        ));
        return Err(PublishError::Refused(lines));
    }
    std::fs::create_dir_all(live).map_err(|e| {
        let l = live.display();
        refused(Text::both(format!("无法创建 {l}：{e}"), format!("cannot create {l}: {e}")))
    })?;
    check_layout(live)?;

    let name = format!("..{}_{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S%.6f"), checked.version);
    let generation = live.join(&name);
    copy_tree(draft, &generation).map_err(|e| {
        let _ = std::fs::remove_dir_all(&generation);
        let g = generation.display();
        refused(Text::both(format!("无法把草稿复制到 {g}：{e}"), format!("cannot copy the draft into {g}: {e}")))
    })?;
    // Checked again where it will live: a base encounter found next to the draft but not
    // from LIVE would otherwise fail the daemon's reload.
    let l = live.display();
    let staged = match check(compiler, &generation, &Text::both(format!("{l} 中的副本"), format!("the copy in {l}")))
    {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&generation);
            return Err(e);
        }
    };
    swap(live, &name).map_err(|e| {
        let _ = std::fs::remove_dir_all(&generation);
        refused(Text::both(format!("无法切换 {l}/{DATA_LINK}：{e}"), format!("cannot swap {l}/{DATA_LINK}: {e}")))
    })?;
    Ok(Published {
        version: staged.version,
        generation,
        cases: staged.cases,
        packs: staged.packs,
        uncovered: checked.uncovered,
    })
}

struct Checked {
    version: String,
    cases: u32,
    packs: usize,
    /// `rule_id: status:key, …` per rule with declared outcomes its cases do not all reach.
    uncovered: Vec<String>,
}

fn refused(line: Text) -> PublishError {
    PublishError::Refused(vec![line])
}

/// Compile `dir` and run its cases; every problem as a line.
fn check(compiler: &Compiler, dir: &Path, what: &Text) -> Result<Checked, PublishError> {
    let (wz, we) = (what.pick(crate::locale::Locale::ZhCn), &what.en);
    let located = |e: &crate::diagnostic::Diagnostic| {
        Text::both(e.render(crate::locale::Locale::ZhCn), e.render(crate::locale::Locale::En))
    };
    let set = match compiler.compile_dir(dir) {
        Ok(set) => set,
        Err(RulesError::Load(errs)) => {
            let mut lines: Vec<Text> = errs.0.iter().map(located).collect();
            let n = errs.0.len();
            lines.push(Text::both(format!("{wz}无法编译：{n} 处错误"), format!("{we} does not compile: {n} error(s)")));
            return Err(PublishError::Refused(lines));
        }
        Err(e) => return Err(refused(Text::both(format!("{wz}：{e}"), format!("{we}: {e}")))),
    };
    let v = &set.verification;
    if !v.all_passed() || v.total() == 0 {
        let mut lines: Vec<Text> = v.load_errors().iter().map(located).collect();
        if v.total() == 0 {
            lines.push(Text::both(
                format!("{wz}没有测试用例：无法证明它能正确工作"),
                format!("{we} has no test cases: nothing shows that it works"),
            ));
        }
        let (passed, total, not_found) = (v.passed(), v.total(), v.not_found());
        lines.push(Text::both(
            format!("{wz}：{total} 个测试用例中 {passed} 个通过（{not_found} 个未运行：找不到基础病例）"),
            format!("{we}: {passed} of {total} test cases passed ({not_found} not run: base encounter not found)"),
        ));
        return Err(PublishError::Refused(lines));
    }
    let uncovered = set
        .rules()
        .filter_map(|r| {
            let u = v.unreached(&r.meta);
            (!u.is_empty()).then(|| format!("{}: {}", r.meta.id, u.join(", ")))
        })
        .collect();
    Ok(Checked { version: set.version.clone(), cases: v.total(), packs: set.packs.len(), uncovered })
}

/// LIVE must be empty or a published layout: every visible entry a link into `..data`.
fn check_layout(live: &Path) -> Result<(), PublishError> {
    let entries = std::fs::read_dir(live).map_err(|e| refused(format!("{}: {e}", live.display()).into()))?;
    let mut foreign = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let into_data = std::fs::read_link(entry.path()).is_ok_and(|t| t.starts_with(DATA_LINK));
        if !into_data {
            foreign.push(name);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let (l, names) = (live.display(), foreign.join(", "));
    Err(refused(Text::both(
        format!(
            "{l} 不是发布过的规则目录：{names} 不是指向 {DATA_LINK} 的链接。请先发布到一个空的（或新的）目录，\
             再把 rules.dir 指向它；就地替换文件会让守护进程加载到只复制了一半的规则集"
        ),
        format!(
            "{l} is not a published rules directory: {names} {} not a link into {DATA_LINK}. Publish into an empty (or new) \
             directory once and point rules.dir at it; replacing files in place would let the daemon load a half-copied set",
            if foreign.len() == 1 { "is" } else { "are" }
        ),
    )))
}

/// Copy a directory tree, skipping dot-entries and editor backups (`~`), following links.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n.starts_with('.') || n.ends_with('~') {
            continue;
        }
        let src = entry.path();
        let meta = std::fs::metadata(&src)?;
        if meta.is_dir() {
            copy_tree(&src, &to.join(&name))?;
        } else if meta.is_file() {
            std::fs::copy(&src, to.join(&name))?;
        }
    }
    Ok(())
}

/// Make `generation` current: links for its top-level entries, then one atomic rename of
/// a new `..data` link over the old one; then drop links and generations no longer used.
fn swap(live: &Path, generation: &str) -> std::io::Result<()> {
    let data = live.join(DATA_LINK);
    let previous = std::fs::read_link(&data).ok();
    let names: Vec<std::ffi::OsString> =
        std::fs::read_dir(live.join(generation))?.flatten().map(|e| e.file_name()).collect();
    for name in &names {
        let link = live.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(&Path::new(DATA_LINK).join(name), &link)?;
        }
    }
    let tmp = live.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(Path::new(generation), &tmp)?;
    std::fs::rename(&tmp, &data)?;
    for entry in std::fs::read_dir(live)?.flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n.starts_with('.') {
            let old_generation = n.starts_with("..")
                && n != DATA_LINK
                && n != generation
                && previous.as_deref() != Some(Path::new(&name))
                && entry.file_type().is_ok_and(|t| t.is_dir());
            if old_generation {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if !names.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "rules publish needs symbolic links (Unix)"))
}
