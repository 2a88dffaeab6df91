//! The knowledge base (知识库): short passages the project wrote from the
//! public guidelines and measure specifications the rules cite, each in zh-CN
//! and en, with its source, section, version, review status and the value sets
//! it speaks about (`kb/*.toml`, format in `kb/README.md`).
//!
//! [`KnowledgeBase`] holds the [`Index`] in force (arc-swap) and reloads it
//! all-or-nothing when a file changes (checked at most once per [`RECHECK`] on
//! access, like the prompt template) or on [`KnowledgeBase::reload`]: a file
//! that does not parse is reported with `path:line:col` and the old index
//! stays. A request takes one [`Snapshot`] and retrieves from it ([`retrieve`]):
//! BM25 ([`bm25`]) over jieba-segmented text and value-set tags.

pub mod bm25;
pub mod passage;
pub mod retrieve;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

pub use bm25::is_cjk;
pub use passage::{KbError, Passage};
pub use retrieve::{RetrievalQuery, Retrieved};

/// How often the directory is checked for changes on access.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The languages of the product's texts (BCP-47 `zh-CN`, `en`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    ZhCn,
}

impl Locale {
    /// Parse a BCP-47 tag (`zh-CN`, `zh-Hans-CN`, `zh`, `en`, `en-US`; case-insensitive).
    pub fn parse(tag: &str) -> Option<Self> {
        let t = tag.trim().to_ascii_lowercase().replace('_', "-");
        match t.as_str() {
            "en" | "en-us" | "en-gb" => Some(Self::En),
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" => Some(Self::ZhCn),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }
}

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
    pub fn build(passages: Vec<Passage>, version: String) -> Result<Self, Vec<KbError>> {
        let mut seen = HashSet::new();
        let dups: Vec<KbError> = passages
            .iter()
            .filter(|p| !seen.insert(p.id.clone()))
            .map(|p| KbError {
                path: p.file.clone(),
                line: 0,
                column: 0,
                message: format!("duplicate passage id `{}`", p.id),
            })
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
pub fn load_dir(dir: &Path, known_valuesets: Option<&HashSet<String>>) -> Result<Index, Vec<KbError>> {
    let io = |e: std::io::Error| {
        vec![KbError { path: dir.display().to_string(), line: 0, column: 0, message: format!("cannot read: {e}") }]
    };
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
            Err(e) => errors.push(KbError { path: shown, line: 0, column: 0, message: format!("cannot read: {e}") }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let version = if files.is_empty() { String::new() } else { hex::encode(hash.finalize())[..12].to_string() };
    Index::build(passages, version)
}

#[derive(Debug)]
struct Watch {
    checked: Instant,
    stamp: Vec<(PathBuf, SystemTime, u64)>,
}

fn stamp(dir: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut v: Vec<(PathBuf, SystemTime, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.modified().ok()?, m.len()))
        })
        .collect();
    v.sort();
    v
}

/// The knowledge base in force, hot-reloaded all-or-nothing from its directory.
#[derive(Debug)]
pub struct KnowledgeBase {
    dir: Option<PathBuf>,
    known_valuesets: Option<HashSet<String>>,
    current: ArcSwap<Index>,
    watch: Mutex<Watch>,
}

impl KnowledgeBase {
    /// Load from `dir` (None: no knowledge base, every retrieval is empty). Fails on any problem.
    pub fn load(dir: Option<PathBuf>, known_valuesets: Option<HashSet<String>>) -> Result<Self, Vec<KbError>> {
        bm25::warm_up();
        let index = match &dir {
            Some(d) => load_dir(d, known_valuesets.as_ref())?,
            None => Index::default(),
        };
        let stamp = dir.as_deref().map(stamp).unwrap_or_default();
        Ok(Self {
            dir,
            known_valuesets,
            current: ArcSwap::from_pointee(index),
            watch: Mutex::new(Watch { checked: Instant::now(), stamp }),
        })
    }

    /// The directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The index in force, after reloading it if a file changed (checked at most once per [`RECHECK`]).
    pub fn snapshot(&self) -> Snapshot {
        if let Some(dir) = &self.dir {
            let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            if w.checked.elapsed() >= RECHECK {
                w.checked = Instant::now();
                let now = stamp(dir);
                if now != w.stamp {
                    w.stamp = now;
                    drop(w);
                    let _ = self.reload();
                }
            }
        }
        self.current.load_full()
    }

    /// Reload now, all-or-nothing: on any problem the index in force stays and the problems are returned.
    pub fn reload(&self) -> Result<Snapshot, Vec<KbError>> {
        let Some(dir) = &self.dir else { return Ok(self.current.load_full()) };
        match load_dir(dir, self.known_valuesets.as_ref()) {
            Ok(index) => {
                tracing::info!(version = %index.version, passages = index.passages.len(), "knowledge base reloaded");
                let index = Arc::new(index);
                self.current.store(index.clone());
                let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
                w.stamp = stamp(dir);
                Ok(index)
            }
            Err(errors) => {
                for e in errors.iter().take(20) {
                    tracing::warn!(error = %e, "knowledge base not reloaded; the previous index stays in force");
                }
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests;
