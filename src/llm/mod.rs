//! The drafted diagnostic suggestion from an OpenAI-compatible LLM. The client
//! lands with the LLM issue; until then the suggestion reports `disabled`.

use crate::{config::Settings, decision, decision::FastPart, pipeline::EvalContext, proto::v1 as pb};

/// The LLM client.
#[derive(Debug, Default)]
pub struct LlmService {}

impl LlmService {
    pub fn new(_settings: &Settings) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Draft a suggestion for the encounter and the fast part's findings and risks.
    pub async fn draft(
        &self,
        _ctx: &EvalContext,
        _fast: &FastPart,
        _deltas: Option<tokio::sync::mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        decision::suggestion_with_status(pb::SuggestionStatus::Disabled, "no LLM client in this build")
    }
}
