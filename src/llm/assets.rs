//! The LLM's editable assets — the prompt templates (en, zh-CN) and the knowledge
//! base (`kb/`) — held together and reloaded together, all or nothing.
//!
//! A request takes one [`Assets`] snapshot (`AssetStore::current`, a pointer load,
//! no file I/O) when the pipeline prepares it, and its prompt, retrieval and
//! citation checks all use that snapshot. The store is a [`Reload`]: the one watcher
//! (`cdssd serve`), SIGHUP or a tool reloads it; building it starts no thread. A reload
//! with any problem (a template or a passage file that does not parse, a duplicate
//! passage id) keeps everything in force and reports every problem with `path:line:col`.

use std::{path::PathBuf, sync::Arc};

use super::template::PromptTemplate;
use crate::{
    diagnostic::Diagnostic,
    kb,
    locale::Locale,
    reload::{Cause, Component, Outcome, Reload, Slot},
};

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

    /// The files and the directory the assets are read from.
    pub fn paths(&self) -> Vec<PathBuf> {
        [&self.template_en, &self.template_zh, &self.knowledge_base].into_iter().flatten().cloned().collect()
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
    pub fn load(sources: &Sources) -> Result<Self, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut template = |path: &Option<PathBuf>, locale: Locale| match path {
            None => Some(PromptTemplate::embedded(locale)),
            Some(p) => PromptTemplate::read(p).map_err(|e| problems.push(e)).ok(),
        };
        let en = template(&sources.template_en, Locale::En);
        let zh = template(&sources.template_zh, Locale::ZhCn);
        let index = match &sources.knowledge_base {
            None => Some(kb::Index::default()),
            Some(dir) => kb::load_dir(dir, None).map_err(|e| problems.extend(e)).ok(),
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

    /// `en/zh-CN/knowledge base` versions (the outcome's version).
    pub fn version(&self) -> String {
        format!("{}/{}/{}", self.en.version, self.zh.version, self.kb.version)
    }
}

/// The assets in force.
#[derive(Debug)]
pub struct AssetStore {
    sources: Sources,
    slot: Slot<Assets>,
}

impl AssetStore {
    /// Load from `sources`; fails with every problem found.
    pub fn load(sources: Sources) -> Result<Self, Vec<Diagnostic>> {
        kb::bm25::warm_up();
        let assets = Assets::load(&sources)?;
        let version = assets.version();
        Ok(Self { sources, slot: Slot::new(Component::LlmAssets, assets, version, Vec::new()) })
    }

    /// The snapshot in force (no file I/O).
    pub fn current(&self) -> Arc<Assets> {
        self.slot.current()
    }
}

impl Reload for AssetStore {
    fn component(&self) -> Component {
        Component::LlmAssets
    }

    fn sources(&self) -> Vec<PathBuf> {
        self.sources.paths()
    }

    /// Reload now, all or nothing: on any problem everything in force stays.
    fn reload(&self, cause: Cause) -> Outcome {
        self.slot.reload(
            cause,
            || Assets::load(&self.sources),
            Assets::version,
            |old, new| old.version() == new.version(),
            |_, a| {
                tracing::info!(
                    template_en = %a.en.version,
                    template_zh = %a.zh.version,
                    knowledge_base = %a.kb.version,
                    passages = a.kb.passages.len(),
                    "llm prompt templates and knowledge base reloaded"
                )
            },
        )
    }

    fn last_outcome(&self) -> Outcome {
        self.slot.last()
    }

    fn attempts(&self) -> u64 {
        self.slot.attempts()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

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

    fn problems(o: &Outcome) -> Vec<String> {
        assert!(!o.loaded, "{o:?}");
        o.errors.iter().map(ToString::to_string).collect()
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
        let o = store.reload(Cause::Admin);
        assert!(o.loaded && !o.changed, "nothing changed: {o:?}");

        // A good template edit together with a passage file that does not parse: nothing is taken.
        let edited = super::super::template::EMBEDDED_TEMPLATE.replace("version = \"2.0.0\"", "version = \"2.1.0\"");
        std::fs::write(dir.path().join("draft.toml"), &edited).unwrap();
        std::fs::write(dir.path().join("kb/b.toml"), PASSAGE.replace("pneumonia.severity", "pneumonia.other")).unwrap();
        std::fs::write(dir.path().join("kb/c.toml"), "[[passage]]\nid = \n").unwrap();
        let e = problems(&store.reload(Cause::FileChange));
        assert!(e.iter().any(|e| e.contains("c.toml:2:")), "{e:?}");
        assert_eq!(store.current().en.version, v1.en.version, "the template in force stays");
        assert_eq!(store.current().kb.version, v1.kb.version, "the index in force stays");
        assert_eq!(store.last_outcome().version, v1.version());

        std::fs::remove_file(dir.path().join("kb/c.toml")).unwrap();
        let o = store.reload(Cause::FileChange);
        assert!(o.loaded && o.changed, "{o:?}");
        let v2 = store.current();
        assert!(v2.en.version.starts_with("2.1.0+"), "{}", v2.en.version);
        assert_eq!(v2.kb.passages.len(), 2);
        assert_eq!(v1.kb.passages.len(), 1, "a snapshot taken earlier is unchanged");

        // A duplicate id across files is refused as a whole; so is a broken template.
        std::fs::write(dir.path().join("kb/d.toml"), PASSAGE).unwrap();
        assert!(problems(&store.reload(Cause::Sighup))[0].contains("duplicate passage id"));
        std::fs::remove_file(dir.path().join("kb/d.toml")).unwrap();
        std::fs::write(dir.path().join("draft.toml"), "version = \"3\"\nsystem = \"{{nope}}\"\nuser = \"u\"\n")
            .unwrap();
        let e = problems(&store.reload(Cause::Sighup));
        assert!(e[0].contains("draft.toml:") && e[0].contains("unknown placeholder"), "{e:?}");
        assert_eq!(store.current().kb.passages.len(), 2);
        assert!(store.current().en.version.starts_with("2.1.0+"));
        assert_eq!(store.attempts(), 6);
    }

    #[test]
    fn the_sources_are_the_template_files_and_the_knowledge_base_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("kb")).unwrap();
        std::fs::write(dir.path().join("draft.toml"), super::super::template::EMBEDDED_TEMPLATE).unwrap();
        let store = AssetStore::load(sources(dir.path())).expect("loads");
        assert_eq!(store.sources(), vec![dir.path().join("draft.toml"), dir.path().join("kb")]);
        assert!(AssetStore::load(Sources::default()).unwrap().sources().is_empty(), "embedded: nothing to watch");
    }
}
