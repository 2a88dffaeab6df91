//! The LLM's editable assets — the prompt templates (en, zh-CN) and the knowledge
//! base (`kb/`) — held together and reloaded together, all or nothing.
//!
//! A request takes one [`Assets`] snapshot (`AssetStore::current`, a pointer load,
//! no file I/O) when the pipeline prepares it, and its prompt, retrieval and
//! citation checks all use that snapshot. One watcher thread per store
//! ([`AssetStore::spawn_watch`]) compares the files' modification times and sizes
//! every [`POLL`] and reloads when one changed; [`AssetStore::reload`] does the same
//! at once. A reload with any problem (a template or a passage file that does not
//! parse, a duplicate passage id) keeps everything in force and reports every
//! problem with `path:line:col`.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, Weak},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;

use super::template::PromptTemplate;
use crate::{kb, locale::Locale};

/// How often the watcher thread looks at the files' metadata.
pub const POLL: Duration = Duration::from_millis(250);

/// Where the assets come from (`[llm]` prompt_template, prompt_template_zh, knowledge_base).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// English template; `None`: the copy compiled into the binary.
    pub template_en: Option<PathBuf>,
    /// Simplified Chinese template; `None`: the compiled-in copy.
    pub template_zh: Option<PathBuf>,
    /// Knowledge-base directory; `None`: no knowledge base (every retrieval is empty).
    pub knowledge_base: Option<PathBuf>,
}

impl Sources {
    /// From `[llm]` (an empty string is `None`).
    pub fn from_settings(s: &crate::config::LlmSettings) -> Self {
        let path = |p: &str| (!p.trim().is_empty()).then(|| PathBuf::from(p.trim()));
        Self {
            template_en: path(&s.prompt_template),
            template_zh: path(&s.prompt_template_zh),
            knowledge_base: path(&s.knowledge_base),
        }
    }
}

/// One consistent set of templates and knowledge base.
#[derive(Debug)]
pub struct Assets {
    pub en: Arc<PromptTemplate>,
    pub zh: Arc<PromptTemplate>,
    pub kb: kb::Snapshot,
}

impl Assets {
    /// The template of `locale`.
    pub fn template(&self, locale: Locale) -> &Arc<PromptTemplate> {
        match locale {
            Locale::En => &self.en,
            Locale::ZhCn => &self.zh,
        }
    }

    /// Load everything from `sources`; every problem of every file is returned.
    pub fn load(sources: &Sources) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut template = |path: &Option<PathBuf>, locale: Locale| match path {
            None => Some(PromptTemplate::embedded(locale)),
            Some(p) => PromptTemplate::read(p).map_err(|e| problems.push(e.to_string())).ok(),
        };
        let en = template(&sources.template_en, Locale::En);
        let zh = template(&sources.template_zh, Locale::ZhCn);
        let index = match &sources.knowledge_base {
            None => Some(kb::Index::default()),
            Some(dir) => kb::load_dir(dir, None).map_err(|e| problems.extend(e.iter().map(|e| e.to_string()))).ok(),
        };
        match (en, zh, index) {
            (Some(en), Some(zh), Some(index)) if problems.is_empty() => {
                Ok(Self { en: Arc::new(en), zh: Arc::new(zh), kb: Arc::new(index) })
            }
            _ => Err(problems),
        }
    }

    /// The compiled-in templates and no knowledge base.
    pub fn embedded() -> Self {
        Self {
            en: Arc::new(PromptTemplate::embedded(Locale::En)),
            zh: Arc::new(PromptTemplate::embedded(Locale::ZhCn)),
            kb: Arc::new(kb::Index::default()),
        }
    }
}

type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn file_stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn stamp(sources: &Sources) -> Stamp {
    let mut v: Stamp = Vec::new();
    for p in [&sources.template_en, &sources.template_zh].into_iter().flatten() {
        v.push((p.clone(), file_stamp(p)));
    }
    if let Some(dir) = &sources.knowledge_base {
        v.push((dir.clone(), None));
        v.extend(kb::stamp(dir).into_iter().map(|(p, t, n)| (p, Some((t, n)))));
    }
    v
}

/// The assets in force.
#[derive(Debug)]
pub struct AssetStore {
    sources: Sources,
    current: ArcSwap<Assets>,
    /// The files' metadata when the assets in force (or the last failed attempt) were read.
    seen: Mutex<Stamp>,
}

impl AssetStore {
    /// Load from `sources`; fails with every problem found.
    pub fn load(sources: Sources) -> Result<Self, Vec<String>> {
        kb::bm25::warm_up();
        let seen = stamp(&sources);
        let assets = Assets::load(&sources)?;
        Ok(Self { sources, current: ArcSwap::from_pointee(assets), seen: Mutex::new(seen) })
    }

    /// The snapshot in force (no file I/O).
    pub fn current(&self) -> Arc<Assets> {
        self.current.load_full()
    }

    /// Reload now, all or nothing: on any problem everything in force stays.
    pub fn reload(&self) -> Result<Arc<Assets>, Vec<String>> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = stamp(&self.sources);
        match Assets::load(&self.sources) {
            Ok(a) => {
                let a = Arc::new(a);
                tracing::info!(
                    template_en = %a.en.version,
                    template_zh = %a.zh.version,
                    knowledge_base = %a.kb.version,
                    passages = a.kb.passages.len(),
                    "llm prompt templates and knowledge base reloaded"
                );
                self.current.store(a.clone());
                Ok(a)
            }
            Err(problems) => {
                for p in problems.iter().take(20) {
                    tracing::warn!(problem = %p, "llm assets not reloaded; the templates and knowledge base in force stay");
                }
                Err(problems)
            }
        }
    }

    /// Reload when a file changed since the last look; `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<Arc<Assets>, Vec<String>>> {
        let now = stamp(&self.sources);
        let changed = *self.seen.lock().unwrap_or_else(|p| p.into_inner()) != now;
        changed.then(|| self.reload())
    }

    /// Start the watcher thread (when any asset comes from a file). It holds a weak
    /// reference and ends once the store is dropped.
    pub fn spawn_watch(self: &Arc<Self>) {
        let s = &self.sources;
        if s.template_en.is_none() && s.template_zh.is_none() && s.knowledge_base.is_none() {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("cdssd-llm-assets".into()).spawn(move || loop {
            std::thread::sleep(POLL);
            match weak.upgrade() {
                Some(store) => {
                    let _ = store.reload_if_changed();
                }
                None => return,
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the llm asset watcher; edits need a restart");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSAGE: &str = r#"
[[passage]]
id = "pneumonia.severity"
valuesets = ["cap"]
source = "Example guideline 2019"
section = "Severity"
version = "2019"
title.en = "Severity score"
title.zh-CN = "严重程度评分"
text.en = "Grade pneumonia with CURB-65."
text.zh-CN = "使用CURB-65评估肺炎严重程度。"
"#;

    fn sources(dir: &Path) -> Sources {
        Sources { template_en: Some(dir.join("draft.toml")), template_zh: None, knowledge_base: Some(dir.join("kb")) }
    }

    #[test]
    fn a_broken_edit_of_either_part_keeps_everything_and_a_good_one_replaces_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kb")).unwrap();
        std::fs::write(dir.path().join("kb/a.toml"), PASSAGE).unwrap();
        std::fs::write(dir.path().join("draft.toml"), super::super::template::EMBEDDED_TEMPLATE).unwrap();
        let store = AssetStore::load(sources(dir.path())).expect("loads");
        let v1 = store.current();
        assert_eq!(v1.kb.passages.len(), 1);
        assert!(store.reload_if_changed().is_none(), "nothing changed");

        // A good template edit together with a passage file that does not parse: nothing is taken.
        let edited = super::super::template::EMBEDDED_TEMPLATE.replace("version = \"2.0.0\"", "version = \"2.1.0\"");
        std::fs::write(dir.path().join("draft.toml"), &edited).unwrap();
        std::fs::write(dir.path().join("kb/b.toml"), PASSAGE.replace("pneumonia.severity", "pneumonia.other")).unwrap();
        std::fs::write(dir.path().join("kb/c.toml"), "[[passage]]\nid = \n").unwrap();
        let e = store.reload_if_changed().expect("changed").unwrap_err();
        assert!(e.iter().any(|e| e.contains("c.toml:2:")), "{e:?}");
        assert_eq!(store.current().en.version, v1.en.version, "the template in force stays");
        assert_eq!(store.current().kb.version, v1.kb.version, "the index in force stays");

        std::fs::remove_file(dir.path().join("kb/c.toml")).unwrap();
        let v2 = store.reload_if_changed().expect("changed").expect("good edit");
        assert!(v2.en.version.starts_with("2.1.0+"), "{}", v2.en.version);
        assert_eq!(v2.kb.passages.len(), 2);
        assert_eq!(v1.kb.passages.len(), 1, "a snapshot taken earlier is unchanged");

        // A duplicate id across files is refused as a whole; so is a broken template.
        std::fs::write(dir.path().join("kb/d.toml"), PASSAGE).unwrap();
        assert!(store.reload().unwrap_err()[0].contains("duplicate passage id"));
        std::fs::remove_file(dir.path().join("kb/d.toml")).unwrap();
        std::fs::write(dir.path().join("draft.toml"), "version = \"3\"\nsystem = \"{{nope}}\"\nuser = \"u\"\n")
            .unwrap();
        let e = store.reload().unwrap_err();
        assert!(e[0].contains("draft.toml:") && e[0].contains("unknown placeholder"), "{e:?}");
        assert_eq!(store.current().kb.passages.len(), 2);
        assert!(store.current().en.version.starts_with("2.1.0+"));
    }

    #[test]
    fn the_watcher_thread_picks_up_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kb")).unwrap();
        std::fs::write(dir.path().join("kb/a.toml"), PASSAGE).unwrap();
        std::fs::write(dir.path().join("draft.toml"), super::super::template::EMBEDDED_TEMPLATE).unwrap();
        let store = Arc::new(AssetStore::load(sources(dir.path())).expect("loads"));
        store.spawn_watch();
        std::fs::write(dir.path().join("kb/b.toml"), PASSAGE.replace("pneumonia.severity", "pneumonia.other")).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while store.current().kb.passages.len() != 2 {
            assert!(std::time::Instant::now() < until, "not reloaded within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
