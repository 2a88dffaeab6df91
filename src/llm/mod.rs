//! The drafted diagnostic suggestion from an OpenAI-compatible LLM
//! (llama.cpp server, vLLM, Ollama, a contracted vendor).
//!
//! [`LlmService::draft`] builds a de-identified prompt ([`prompt`], [`scrub`])
//! from the encounter and the fast part's findings and risks using the
//! editable template ([`template`], `prompts/draft.toml`), asks for JSON that
//! follows the published schema (`src/llm/draft.schema.json`), validates every
//! answer ([`validate`]) and returns a [`pb::DraftSuggestion`] whose status is
//! `ok | timeout | unavailable | invalid | circuit_open | disabled`, never an error.
//! Transport: [`client`] (non-streaming and SSE), guarded by a [`breaker`], a
//! concurrency limit, retries of transient failures inside the deadline and
//! an optional [`cache`] keyed by the prompt hash.

pub mod breaker;
pub mod cache;
pub mod client;
pub mod degenerate;
pub mod icd10;
pub mod prompt;
pub mod scrub;
mod service;
pub mod sse;
pub mod template;
#[cfg(test)]
mod tests;
pub mod validate;

pub use service::{LlmService, Prepared};

use crate::{config::Settings, decision::FastPart, evaluation::Evaluation, proto::v1 as pb};

impl LlmService {
    /// Build the service from the settings (`[llm]`).
    pub fn new(settings: &Settings) -> Result<Self, String> {
        Self::with_llm_settings(&settings.llm)
    }

    /// Draft a suggestion for the encounter and the fast part's findings and
    /// risks, answering by the request's deadline at the latest.
    pub async fn draft(
        &self,
        ev: &Evaluation,
        fast: &FastPart,
        deltas: Option<tokio::sync::mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        self.draft_for(&ev.encounter, fast, ev.deadline, deltas).await
    }
}
