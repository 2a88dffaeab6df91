//! The knowledge base (知识库): short passages the project wrote from the
//! public guidelines and measure specifications the rules cite, each in zh-CN
//! and en, with its source, section, version, review status and the value sets
//! it speaks about (`kb/*.toml`, format in `kb/README.md`).
//!
//! [`load_dir`] builds an [`Index`] all-or-nothing: a file that does not parse
//! is reported with `path:line:col` and no index is built. The index in force
//! is held by the LLM's asset store (`llm::assets`), which reloads it together
//! with the prompt templates (one reload path, one watcher thread), so a
//! request carries one [`Snapshot`] of both and retrieves from it
//! ([`retrieve`]): BM25 ([`bm25`]) over jieba-segmented text and value-set tags.

pub mod bm25;
pub mod passage;
pub mod retrieve;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;

pub use bm25::is_cjk;
pub use passage::Passage;
pub use retrieve::{RetrievalQuery, Retrieved};

pub use crate::locale::Locale;

/// The passages in force and their BM25 index.
#[derive(Debug, Default)]
pub struct Index {
    pub passages: Vec<Arc<Passage>>,
    pub(crate) bm25: bm25::Bm25,
    /// First 12 hex of the SHA-256 over the files (name and content), "" when empty.
    pub version: String,
}

impl Index {
    /// Build from parsed passages; duplicate ids are an error at the second one.
    pub fn build(passages: Vec<Passage>, version: String) -> Result<Self, Vec<Diagnostic>> {
        let mut seen = HashSet::new();
        let dups: Vec<Diagnostic> = passages
            .iter()
            .filter(|p| !seen.insert(p.id.clone()))
            .map(|p| Diagnostic::file(p.file.clone(), format!("duplicate passage id `{}`", p.id)))
            .collect();
        if !dups.is_empty() {
            return Err(dups);
        }
        let docs: Vec<Vec<String>> = passages.iter().map(retrieve::document_tokens).collect();
        Ok(Self { bm25: bm25::Bm25::build(&docs), passages: passages.into_iter().map(Arc::new).collect(), version })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Passage>> {
        self.passages.iter().find(|p| p.id == id)
    }
}

/// The index one request uses from start to end.
pub type Snapshot = Arc<Index>;

/// Load every `*.toml` of `dir` (sorted by name) into one index; all problems of all files are reported.
pub fn load_dir(dir: &Path, known_valuesets: Option<&HashSet<String>>) -> Result<Index, Vec<Diagnostic>> {
    let io = |e: std::io::Error| vec![Diagnostic::file(dir.display().to_string(), format!("cannot read: {e}"))];
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    let mut passages = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        let shown = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(src) => {
                hash.update(f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default().as_bytes());
                hash.update([0]);
                hash.update(src.as_bytes());
                match passage::parse_file(&shown, &src, known_valuesets) {
                    Ok(mut p) => passages.append(&mut p),
                    Err(mut e) => errors.append(&mut e),
                }
            }
            Err(e) => errors.push(Diagnostic::file(shown, format!("cannot read: {e}"))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let version = if files.is_empty() { String::new() } else { hex::encode(hash.finalize())[..12].to_string() };
    Index::build(passages, version)
}

#[cfg(test)]
mod tests;
