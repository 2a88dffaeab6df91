//! The drafted diagnostic suggestion from an OpenAI-compatible LLM
//! (llama.cpp server, vLLM, Ollama, a contracted vendor).
//!
//! [`LlmService::draft`] retrieves the knowledge-base passages that fit the
//! encounter ([`crate::kb`]), builds a de-identified prompt ([`prompt`], [`scrub`])
//! from the encounter, the fast part's findings and risks and those passages
//! (with their ids, [`cite`]) using the editable template of the request's locale
//! ([`template`], `prompts/draft.toml`, `prompts/draft.zh-CN.toml`; both reloaded
//! with the knowledge base by [`assets`]), asks for JSON that follows the
//! published schema (`src/llm/draft.schema.json`, citations required), validates
//! every answer ([`validate`], [`degenerate`], [`cite`]) and returns a
//! [`pb::DraftSuggestion`] whose status is
//! `ok | timeout | unavailable | invalid | circuit_open | disabled`, never an error.
//! [`eval`] scores drafts against the committed cases (`cdssd llm eval`).
//! Transport: [`client`] (non-streaming and SSE), guarded by a [`breaker`], a
//! concurrency limit, retries of transient failures inside the deadline and
//! an optional [`cache`] keyed by the prompt hash.

pub mod assets;
pub mod breaker;
pub mod cache;
pub mod cite;
pub mod client;
pub mod degenerate;
pub mod eval;
pub mod icd10;
pub mod prompt;
pub mod scrub;
mod service;
pub mod sse;
pub mod template;
#[cfg(test)]
mod tests;
pub mod validate;

pub use assets::Assets;
pub use service::{DraftInput, LlmService, Prepared};

use std::sync::Arc;

use crate::{
    config::Settings, decision::FastPart, evaluation::Evaluation, locale::Locale, proto::v1 as pb,
    rules::valueset::ValueSets,
};

impl LlmService {
    /// Build the service from the settings (`[llm]`).
    pub fn new(settings: &Settings) -> Result<Self, String> {
        Self::with_llm_settings(&settings.llm)
    }

    /// Draft a suggestion for the encounter and the fast part's findings and
    /// risks in the request's locale, with the assets (templates, knowledge base) and
    /// value sets of the request's snapshot, answering by the request's deadline at the latest.
    pub async fn draft(
        &self,
        ev: &Evaluation,
        assets: Arc<Assets>,
        value_sets: Option<Arc<ValueSets>>,
        fast: &FastPart,
        deltas: Option<tokio::sync::mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        let input = DraftInput {
            encounter: ev.encounter.clone(),
            fast: Arc::new(fast.clone()),
            locale: ev.locale.as_deref().and_then(|t| Locale::parse(t).ok()).unwrap_or_default(),
            assets,
            value_sets,
        };
        self.draft_with(input, ev.deadline, deltas).await
    }
}
