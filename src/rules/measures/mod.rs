//! The measure catalogue (`rules/MEASURES.md`, `cdssd rules measures`): every rule by
//! measure set and item, then one table per pack with the rule's titles (en, zh-CN), set /
//! item / edition, rule version, number of test cases, source quality, time zero and window.
//! Generated, never written by hand, from a compiled rule set: each rule's `meta()`, the
//! header comment lines the loader keeps ([`crate::rules::header`]), its test file, the pack
//! titles and the set notes of `measure_sets.toml` ([`sets`]). `tests/it/measures.rs` and
//! `cdssd rules measures --check` fail when the committed file differs.
use std::collections::BTreeSet;

use crate::locale::Locale;
use crate::rules::header::Header;
use crate::rules::load::RuleSet;

mod render;
pub mod sets;
#[cfg(test)]
mod tests;

pub use render::natural;
pub use sets::{SetNote, SetNotes};

/// Where the catalogue is committed, relative to the repository root.
pub const PATH: &str = "rules/MEASURES.md";

/// One rule's row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub id: String,
    pub title_en: String,
    pub title_zh: String,
    /// `measure_set`, `measure_id`, `measure_version`.
    pub set: String,
    pub item: String,
    pub version: String,
    /// `measure`: the citation in words.
    pub measure: String,
    /// The rule's own version.
    pub rule_version: String,
    pub cases: usize,
    pub header: Header,
}

/// One pack: id, title (`pack.toml`) and its rules by id.
#[derive(Debug, Clone, Default)]
pub struct PackRows {
    pub id: String,
    pub title: String,
    pub rows: Vec<Row>,
}

/// What the document is made of, in its order (packs by id, rules by id).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub packs: Vec<PackRows>,
    pub notes: SetNotes,
}

impl Catalogue {
    /// The rows of `set`, with the set notes `notes`.
    pub fn of(set: &RuleSet, notes: SetNotes) -> Self {
        let mut packs: Vec<PackRows> = set
            .packs
            .iter()
            .map(|p| {
                let mut rows: Vec<Row> = p.rules.iter().map(|r| row(set, r)).collect();
                rows.sort_by(|a, b| a.id.cmp(&b.id));
                PackRows { id: p.id.clone(), title: p.title.clone(), rows }
            })
            .filter(|p| !p.rows.is_empty())
            .collect();
        packs.sort_by(|a, b| a.id.cmp(&b.id));
        Self { packs, notes }
    }

    pub fn render(&self) -> String {
        render::document(self)
    }
}

fn row(set: &RuleSet, r: &crate::rules::load::Rule) -> Row {
    let m = &r.meta;
    let title = |l: Locale| m.title.0.get(&l).cloned().unwrap_or_else(|| render::NOT_STATED.to_string());
    Row {
        id: m.id.clone(),
        title_en: title(Locale::En),
        title_zh: title(Locale::ZhCn),
        set: m.measure_set.clone(),
        item: m.measure_id.clone(),
        version: m.measure_version.clone(),
        measure: m.measure.clone(),
        rule_version: m.version.clone(),
        cases: set.tests.iter().filter(|t| t.rule_id == m.id).map(|t| t.cases.len()).sum(),
        header: r.header.clone(),
    }
}

/// The catalogue of `set`, with the set notes of `<set.root>/measure_sets.toml`; `Err`: every
/// problem with that file.
pub fn generate(set: &RuleSet) -> Result<String, Vec<String>> {
    let path = set.root.join(sets::FILE);
    let src = std::fs::read_to_string(&path).map_err(|e| {
        vec![format!("{}: {e} (it holds a note on each measure set the rules name, in en and zh-CN)", path.display())]
    })?;
    let used: BTreeSet<&str> = set.rules().map(|r| r.meta.measure_set.as_str()).collect();
    let notes = sets::parse(&src, &used.into_iter().collect::<Vec<_>>())?;
    Ok(Catalogue::of(set, notes).render())
}

/// `rules check` warnings, in `l`: rules whose header comment states no time zero or no
/// window (a warning, like a missing test case: the set still loads; `--strict` fails on it).
pub fn header_warnings(set: &RuleSet, l: Locale) -> Vec<String> {
    let mut out = Vec::new();
    for r in set.rules() {
        let mut missing = Vec::new();
        if r.header.time_zero.is_none() {
            missing.push(l.pick("`// Time zero:`（或 `// 时间零点：`）", "`// Time zero:`"));
        }
        if r.header.window.is_none() {
            missing.push(l.pick("`// Window:`（或 `// 时间窗：`）", "`// Window:`"));
        }
        if missing.is_empty() {
            continue;
        }
        out.push(match l {
            Locale::ZhCn => format!(
                "{}:1: 文件头注释缺少 {} 一行：指标目录 {PATH} 的时间零点和时间窗取自这里",
                r.path,
                missing.join(" 和 ")
            ),
            Locale::En => format!(
                "{}:1: the header comment has no {} line ({PATH} takes time zero and window from it)",
                r.path,
                missing.join(" and no ")
            ),
        });
    }
    out
}

/// The first line (1-based) where `a` and `b` differ, with each one's text there (`None`: past
/// its end); `None` when they are equal.
pub fn first_difference<'a>(a: &'a str, b: &'a str) -> Option<(usize, Option<&'a str>, Option<&'a str>)> {
    if a == b {
        return None;
    }
    let (mut x, mut y) = (a.split('\n'), b.split('\n'));
    let mut n = 0;
    loop {
        n += 1;
        match (x.next(), y.next()) {
            (Some(p), Some(q)) if p == q => continue,
            (p, q) => return Some((n, p, q)),
        }
    }
}
