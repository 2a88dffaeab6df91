//! The editable prompt template (`prompts/draft.toml`), hot-reloaded.
//!
//! The file has `version`, `system` and `user`; both texts may use the
//! placeholders in [`PLACEHOLDERS`]. The version recorded with each draft is
//! `"<version>+<first 8 hex of the file's SHA-256>"`, so an edit shows even
//! when the author forgot to bump `version`. The store re-checks the file's
//! modification time and size at most once per [`RECHECK`]; a file that fails
//! to load is reported and the template in force stays.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The template compiled into the binary (used when `llm.prompt_template` is "").
pub const EMBEDDED_TEMPLATE: &str = include_str!("../../prompts/draft.toml");

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["schema", "schema_outline", "patient", "items", "findings", "risks", "notes"];

/// How often the file's metadata is checked for changes.
pub const RECHECK: Duration = Duration::from_secs(1);

/// A template that could not be loaded, with `path:line:col` where known.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct TemplateError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

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
    pub fn parse(path: &str, src: &str) -> Result<Self, TemplateError> {
        let err = |offset: usize, message: String| {
            let (line, column) = line_col(src, offset);
            TemplateError { path: path.to_string(), line, column, message }
        };
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

    /// The embedded default template.
    pub fn embedded() -> Self {
        Self::parse("<embedded prompts/draft.toml>", EMBEDDED_TEMPLATE).expect("the embedded template is valid")
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

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[derive(Debug)]
struct Watch {
    checked: Instant,
    stamp: Option<(SystemTime, u64)>,
}

/// The template in force, reloaded from its file when it changes.
#[derive(Debug)]
pub struct TemplateStore {
    path: Option<PathBuf>,
    current: ArcSwap<PromptTemplate>,
    watch: Mutex<Watch>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TemplateStore {
    /// Load from `path` (None: the embedded template). Fails when the file is missing or invalid.
    pub fn load(path: Option<PathBuf>) -> Result<Self, TemplateError> {
        let template = match &path {
            None => PromptTemplate::embedded(),
            Some(p) => Self::read(p)?,
        };
        let stamp = path.as_deref().and_then(stamp);
        Ok(Self {
            path,
            current: ArcSwap::from_pointee(template),
            watch: Mutex::new(Watch { checked: Instant::now(), stamp }),
        })
    }

    fn read(p: &Path) -> Result<PromptTemplate, TemplateError> {
        let shown = p.display().to_string();
        let src = std::fs::read_to_string(p).map_err(|e| TemplateError {
            path: shown.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        PromptTemplate::parse(&shown, &src)
    }

    /// The template in force, after reloading it if its file changed.
    pub fn current(&self) -> Arc<PromptTemplate> {
        if let Some(path) = &self.path {
            let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            if w.checked.elapsed() >= RECHECK {
                w.checked = Instant::now();
                let now = stamp(path);
                if now != w.stamp {
                    w.stamp = now;
                    match Self::read(path) {
                        Ok(t) => {
                            tracing::info!(version = %t.version, "llm prompt template reloaded");
                            self.current.store(Arc::new(t));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "llm prompt template not reloaded; previous one stays in force")
                        }
                    }
                }
            }
        }
        self.current.load_full()
    }

    /// Reload now regardless of the recheck interval (tests, admin).
    pub fn reload(&self) -> Result<Arc<PromptTemplate>, TemplateError> {
        if let Some(path) = &self.path {
            let t = Self::read(path)?;
            self.current.store(Arc::new(t));
            let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            w.stamp = stamp(path);
            w.checked = Instant::now();
        }
        Ok(self.current.load_full())
    }
}
