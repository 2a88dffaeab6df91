//! One knowledge-base file (`kb/*.toml`): `[[passage]]` tables, parsed and
//! checked with `path:line:col` for every problem found.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::Locale;
use crate::diagnostic::Diagnostic;

/// Review status shown wherever an unreviewed passage is cited.
pub const UNREVIEWED_EN: &str = "project-written summary, not clinically reviewed";
/// The same in Simplified Chinese.
pub const UNREVIEWED_ZH: &str = "项目编写的摘要，未经临床审核";

/// A text in both languages of the product.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Bilingual {
    pub en: String,
    #[serde(rename = "zh-CN")]
    pub zh_cn: String,
}

impl Bilingual {
    /// The text in `locale`.
    pub fn get(&self, locale: Locale) -> &str {
        match locale {
            Locale::En => &self.en,
            Locale::ZhCn => &self.zh_cn,
        }
    }
}

/// A passage written by the project from a public guideline or measure specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// Stable id, `<topic>.<name>` (cited by drafts).
    pub id: String,
    /// Ids of the value sets (`rules/valuesets/*.toml`) the passage speaks about.
    pub valuesets: Vec<String>,
    /// Citation of the guideline(s) or specification(s) summarised.
    pub source: String,
    /// Section of the source.
    pub section: String,
    /// Version or year of the source.
    pub version: String,
    pub title: Bilingual,
    pub text: Bilingual,
    /// Named clinical reviewer and date, once signed.
    pub reviewed_by: Option<String>,
    pub reviewed_on: Option<String>,
    /// File it came from (for messages).
    pub file: String,
}

impl Passage {
    /// "project-written summary, not clinically reviewed" until a reviewer signs.
    pub fn review_status(&self, locale: Locale) -> String {
        match (&self.reviewed_by, &self.reviewed_on, locale) {
            (Some(who), Some(on), Locale::En) => format!("clinically reviewed by {who} on {on}"),
            (Some(who), Some(on), Locale::ZhCn) => format!("已由{who}于{on}完成临床审核"),
            (_, _, Locale::En) => UNREVIEWED_EN.to_string(),
            (_, _, Locale::ZhCn) => UNREVIEWED_ZH.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    passage: Vec<Spanned<PassageToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PassageToml {
    id: Spanned<String>,
    valuesets: Spanned<Vec<Spanned<String>>>,
    source: Spanned<String>,
    section: Spanned<String>,
    version: Spanned<String>,
    title: Spanned<Bilingual>,
    text: Spanned<Bilingual>,
    #[serde(default)]
    reviewed_by: Option<Spanned<String>>,
    #[serde(default)]
    reviewed_on: Option<Spanned<String>>,
}

/// Parse one file; `known_valuesets` (when given) are the value-set ids a tag may name.
/// Every problem is reported, each with `path:line:col`.
pub fn parse_file(
    path: &str,
    src: &str,
    known_valuesets: Option<&HashSet<String>>,
) -> Result<Vec<Passage>, Vec<Diagnostic>> {
    let err = |offset: usize, message: String| Diagnostic::at_offset(path, src, offset, message);
    let file: FileToml = toml::from_str(src)
        .map_err(|e| vec![err(e.span().map(|s| s.start).unwrap_or(0), e.message().trim().to_string())])?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for p in file.passage {
        let at = p.span().start;
        let p = p.into_inner();
        let id = p.id.get_ref().trim();
        let valid_id = id.split('.').count() == 2
            && id
                .split('.')
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        if !valid_id {
            errors.push(err(p.id.span().start, format!("passage id `{id}` must be `<topic>.<name>` in lower case")));
        }
        for (field, value) in [("source", &p.source), ("section", &p.section), ("version", &p.version)] {
            if value.get_ref().trim().is_empty() {
                errors.push(err(value.span().start, format!("`{field}` must not be empty")));
            }
        }
        for (field, value) in [("title", &p.title), ("text", &p.text)] {
            let b = value.get_ref();
            if b.en.trim().is_empty() || b.zh_cn.trim().is_empty() {
                errors.push(err(value.span().start, format!("`{field}` needs both `en` and `zh-CN`")));
            }
            if !b.zh_cn.trim().is_empty() && !b.zh_cn.chars().any(super::is_cjk) {
                errors.push(err(value.span().start, format!("`{field}.zh-CN` has no Chinese text")));
            }
        }
        if p.valuesets.get_ref().is_empty() {
            errors.push(err(p.valuesets.span().start, "`valuesets` must name at least one value set".into()));
        }
        if let Some(known) = known_valuesets {
            for v in p.valuesets.get_ref() {
                if !known.contains(v.get_ref()) {
                    errors.push(err(
                        v.span().start,
                        format!("unknown value set `{}` (see rules/valuesets/)", v.get_ref()),
                    ));
                }
            }
        }
        match (&p.reviewed_by, &p.reviewed_on) {
            (Some(_), None) | (None, Some(_)) => {
                errors.push(err(at, "`reviewed_by` and `reviewed_on` go together".into()))
            }
            (Some(by), Some(_)) if by.get_ref().trim().is_empty() => {
                errors.push(err(by.span().start, "`reviewed_by` must name the reviewer".into()))
            }
            _ => {}
        }
        out.push(Passage {
            id: id.to_string(),
            valuesets: p.valuesets.into_inner().into_iter().map(Spanned::into_inner).collect(),
            source: p.source.into_inner().trim().to_string(),
            section: p.section.into_inner().trim().to_string(),
            version: p.version.into_inner().trim().to_string(),
            title: trimmed(p.title.into_inner()),
            text: trimmed(p.text.into_inner()),
            reviewed_by: p.reviewed_by.map(|s| s.into_inner().trim().to_string()),
            reviewed_on: p.reviewed_on.map(|s| s.into_inner().trim().to_string()),
            file: path.to_string(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn trimmed(b: Bilingual) -> Bilingual {
    Bilingual { en: b.en.split_whitespace().collect::<Vec<_>>().join(" "), zh_cn: b.zh_cn.trim().to_string() }
}
