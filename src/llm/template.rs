//! The editable prompt templates (`prompts/draft.toml` in English,
//! `prompts/draft.zh-CN.toml` in Simplified Chinese; the request's locale picks one).
//!
//! A file has `version`, `system` and `user`; both texts may use the
//! placeholders in [`PLACEHOLDERS`]. The version recorded with each draft is
//! `"<version>+<first 8 hex of the file's SHA-256>"`, so an edit shows even
//! when the author forgot to bump `version`. The files are hot-reloaded with
//! the knowledge base by [`super::assets::AssetStore`] (all or nothing).

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;

/// The English template compiled into the binary (used when `llm.prompt_template` is "").
pub const EMBEDDED_TEMPLATE: &str = include_str!("../../prompts/draft.toml");
/// The Simplified Chinese template compiled into the binary (`llm.prompt_template_zh` = "").
pub const EMBEDDED_TEMPLATE_ZH: &str = include_str!("../../prompts/draft.zh-CN.toml");

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] =
    &["schema", "schema_outline", "patient", "items", "findings", "risks", "notes", "passages"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    version: String,
    system: String,
    user: String,
}

/// A loaded prompt template.
#[derive(Debug, Clone)]
pub struct PromptTemplate {
    /// `"<version>+<hash8>"`.
    pub version: String,
    pub system: String,
    pub user: String,
}

/// Values for the placeholders.
pub type Vars<'a> = [(&'a str, &'a str)];

impl PromptTemplate {
    /// Parse and check a template; `path` is used in error messages only.
    pub fn parse(path: &str, src: &str) -> Result<Self, Diagnostic> {
        let err = |offset: usize, message: String| Diagnostic::at_offset(path, src, offset, message);
        let file: TemplateFile = toml::from_str(src).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            err(offset, e.message().to_string())
        })?;
        if file.version.trim().is_empty() {
            return Err(err(0, "`version` must not be empty".into()));
        }
        // Every placeholder in the texts must be a known one.
        for text in [&file.system, &file.user] {
            let mut rest = 0;
            while let Some(i) = text[rest..].find("{{") {
                let start = rest + i;
                let Some(j) = text[start..].find("}}") else {
                    let at = src.find(&text[start..]).unwrap_or(0);
                    return Err(err(at, "unclosed `{{`".into()));
                };
                let token = &text[start..start + j + 2];
                let name = token[2..token.len() - 2].trim();
                if !PLACEHOLDERS.contains(&name) {
                    let at = src.find(token).unwrap_or(0);
                    return Err(err(at, format!("unknown placeholder `{token}` (known: {})", PLACEHOLDERS.join(", "))));
                }
                rest = start + j + 2;
            }
        }
        let hash = hex::encode(Sha256::digest(src.as_bytes()));
        Ok(Self {
            version: format!("{}+{}", file.version.trim(), &hash[..8]),
            system: file.system.trim().to_string(),
            user: file.user.trim().to_string(),
        })
    }

    /// The embedded default template of `locale`.
    pub fn embedded(locale: crate::locale::Locale) -> Self {
        match locale {
            crate::locale::Locale::En => Self::parse("<embedded prompts/draft.toml>", EMBEDDED_TEMPLATE),
            crate::locale::Locale::ZhCn => Self::parse("<embedded prompts/draft.zh-CN.toml>", EMBEDDED_TEMPLATE_ZH),
        }
        .expect("the embedded templates are valid")
    }

    /// Read and parse a template file.
    pub fn read(p: &Path) -> Result<Self, Diagnostic> {
        let shown = p.display().to_string();
        let src =
            std::fs::read_to_string(p).map_err(|e| Diagnostic::file(shown.clone(), format!("cannot read: {e}")))?;
        Self::parse(&shown, &src)
    }

    /// Fill the placeholders of `text`.
    pub fn render(text: &str, vars: &Vars<'_>) -> String {
        let mut out = String::with_capacity(text.len() + vars.iter().map(|(_, v)| v.len()).sum::<usize>());
        let mut rest = text;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find("}}") {
                Some(j) => {
                    let name = after[..j].trim();
                    out.push_str(vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap_or(""));
                    rest = &after[j + 2..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}
