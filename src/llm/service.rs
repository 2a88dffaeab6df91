//! One draft, end to end: de-identified prompt → cache → breaker →
//! concurrency slot → HTTP call(s) with retries inside the deadline →
//! validation → grounding and cross-checks → [`pb::DraftSuggestion`].
//!
//! Invariants: never panics or errors (every outcome is a status); never
//! outlives the caller's deadline; logs carry statuses and error kinds only,
//! never prompt or response text.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use super::{
    assets::{AssetStore, Assets, Sources},
    breaker::{Breaker, BreakerState},
    cache::TtlCache,
    cite,
    client::{ApiKey, CallError, ChatClient},
    degenerate,
    prompt::{self, Prompt, PromptOptions},
    validate::{self, DraftSchema, InvalidOutput},
};
use crate::{
    config::LlmSettings,
    decision::FastPart,
    encounter::Encounter,
    kb::{RetrievalQuery, Retrieved},
    locale::Locale,
    metrics,
    proto::v1 as pb,
    rules::valueset::ValueSets,
};

/// A prompt rendered and serialised, ready to send, with the passages it shows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub prompt: Prompt,
    /// The chat-completions body (without `stream`).
    pub body: Value,
    /// SHA-256 (hex) of the body: the prompt hash and cache key.
    pub hash: String,
    /// The knowledge-base passages retrieved for the request and shown in the prompt.
    pub retrieved: Vec<Retrieved>,
    /// The locale of the template, the passages and the expected draft.
    pub locale: Locale,
    /// Version of the knowledge base retrieved from.
    pub kb_version: String,
}

/// What one draft is made from: the request's data and the snapshots it carries.
#[derive(Debug, Clone)]
pub struct DraftInput {
    pub encounter: Arc<Encounter>,
    pub fast: Arc<FastPart>,
    pub locale: Locale,
    /// The prompt templates and knowledge base of the request's snapshot.
    pub assets: Arc<Assets>,
    /// The value sets of the request's rule set (retrieval tags); `None`: words only.
    pub value_sets: Option<Arc<ValueSets>>,
}

/// The CPU-bound parts (prompt, retrieval, validation), shared with the blocking pool.
#[derive(Debug)]
struct Core {
    settings: LlmSettings,
    schema: DraftSchema,
    prompt_options: PromptOptions,
}

/// The LLM part of cdssd.
#[derive(Debug)]
pub struct LlmService {
    core: Arc<Core>,
    client: ChatClient,
    breaker: Breaker,
    cache: TtlCache<pb::DraftSuggestion>,
    slots: Arc<Semaphore>,
    assets: Arc<AssetStore>,
}

fn read_key(s: &LlmSettings) -> Result<ApiKey, String> {
    if !s.api_key_file.trim().is_empty() {
        let key = std::fs::read_to_string(s.api_key_file.trim())
            .map_err(|e| format!("llm.api_key_file: cannot read the API key file: {}", e.kind()))?;
        return Ok(ApiKey::new(Some(key)));
    }
    if s.api_key_env.trim().is_empty() {
        return Ok(ApiKey::new(None));
    }
    Ok(ApiKey::new(std::env::var(s.api_key_env.trim()).ok()))
}

fn suggestion(status: pb::SuggestionStatus, message: impl Into<String>) -> pb::DraftSuggestion {
    crate::decision::suggestion_with_status(status, message)
}

impl Core {
    /// Retrieve the passages, render the de-identified prompt and the request body.
    fn prepare(&self, input: &DraftInput) -> Prepared {
        let query = RetrievalQuery::from_encounter(&input.encounter, &input.fast, input.value_sets.as_deref());
        let retrieved = input.assets.kb.retrieve(&query, self.settings.kb_top_k, self.settings.kb_min_score);
        let template = input.assets.template(input.locale);
        let passages = cite::render(&retrieved, input.locale);
        let prompt =
            prompt::build(template, &self.schema, &input.encounter, &input.fast, &self.prompt_options, &passages);
        let body = json!({
            "model": self.settings.model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "cdssd_draft_v2", "strict": true, "schema": self.schema.json},
            },
        });
        let hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
        Prepared { prompt, body, hash, retrieved, locale: input.locale, kb_version: input.assets.kb.version.clone() }
    }

    /// Validate a response's content and turn it into the suggestion (status OK):
    /// schema, degenerate output, citations, encounter references, cross-checks.
    fn accept(
        &self,
        prepared: &Prepared,
        input: &DraftInput,
        content: &str,
    ) -> Result<pb::DraftSuggestion, InvalidOutput> {
        let raw = self.schema.check(content)?;
        degenerate::check(&raw, &prepared.prompt.system, &prepared.prompt.user).map_err(InvalidOutput::Degenerate)?;
        let verdict = cite::check(&raw, &prepared.retrieved, prepared.locale)?;
        let (differentials, mut flags) = validate::ground(&raw, &prepared.prompt.refs);
        flags.extend(verdict.flags.iter().cloned());
        let differentials: Vec<pb::Differential> = differentials
            .into_iter()
            .zip(&verdict.keep_differential)
            .filter(|(_, keep)| **keep)
            .map(|(d, _)| d)
            .collect();
        let differentials = validate::supported(differentials, &mut flags)?;
        let recommendations: Vec<pb::Recommendation> = raw
            .next_steps
            .iter()
            .zip(&verdict.keep_step)
            .filter(|(_, keep)| **keep)
            .map(|(s, _)| pb::Recommendation { text: s.step.clone(), citations: s.citations.clone() })
            .collect();
        let principal = prompt::principal_icd10(&input.encounter);
        flags.extend(validate::cross_check(&raw, &principal, &input.fast.risks, &|i| format!("risks/{}", i + 1)));
        Ok(pb::DraftSuggestion {
            status: pb::SuggestionStatus::Ok as i32,
            draft: true,
            model: self.settings.model.clone(),
            summary: raw.summary,
            differentials,
            next_steps: recommendations.iter().map(|r| r.text.clone()).collect(),
            red_flags: raw.red_flags,
            flags,
            prompt_hash: prepared.hash.clone(),
            template_version: prepared.prompt.template_version.clone(),
            latency_ms: 0,
            message: String::new(),
            recommendations,
            passages: cite::passages(&prepared.retrieved, &verdict.cited, prepared.locale),
            grounded: verdict.grounded,
            locale: prepared.locale.tag().to_string(),
            knowledge_base_version: prepared.kb_version.clone(),
        })
    }
}

impl LlmService {
    /// Build from `[llm]`; fails on an unreadable key file, prompt template or
    /// knowledge-base file. Starts no thread (the one watcher of `cdssd serve` reloads
    /// the assets: [`LlmService::asset_store`]).
    pub fn with_llm_settings(settings: &LlmSettings) -> Result<Self, String> {
        let key = read_key(settings)?;
        let client =
            ChatClient::new(&settings.base_url, key, Duration::from_millis(settings.connect_timeout_ms.max(1)))?;
        let assets = Arc::new(AssetStore::load(Sources::from_settings(settings)).map_err(|e| {
            let e: Vec<String> = e.iter().map(ToString::to_string).collect();
            format!("llm.prompt_template / llm.knowledge_base: {}", e.join("; "))
        })?);
        metrics::llm_circuit_state(0);
        super::scrub::warm_up();
        Ok(Self {
            client,
            breaker: Breaker::new(settings.breaker_failures, Duration::from_millis(settings.breaker_open_ms)),
            cache: TtlCache::new(Duration::from_secs(settings.cache_ttl_s), settings.cache_max_entries),
            slots: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            assets,
            core: Arc::new(Core {
                schema: DraftSchema::new(),
                prompt_options: PromptOptions::from_settings(settings),
                settings: settings.clone(),
            }),
        })
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    /// The templates and knowledge base in force (the pipeline's per-request snapshot).
    pub fn assets(&self) -> Arc<Assets> {
        self.assets.current()
    }

    /// The asset store (reloads).
    pub fn asset_store(&self) -> &Arc<AssetStore> {
        &self.assets
    }

    /// The English prompt template version in force.
    pub fn template_version(&self) -> String {
        self.assets.current().en.version.clone()
    }

    /// Retrieve and render the prompt for `input` (synchronous CPU work: call it off the
    /// async threads, as [`LlmService::draft_with`] does).
    pub fn prepare(&self, input: &DraftInput) -> Prepared {
        self.core.prepare(input)
    }

    /// Draft a suggestion for a bare encounter with the assets in force, in English and
    /// without value-set tags (tests, benches), answering by `deadline` at the latest.
    pub async fn draft_for(
        &self,
        enc: &Encounter,
        fast: &FastPart,
        deadline: Instant,
        deltas: Option<mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        let input = DraftInput {
            encounter: Arc::new(enc.clone()),
            fast: Arc::new(fast.clone()),
            locale: Locale::En,
            assets: self.assets(),
            value_sets: None,
        };
        self.draft_with(input, deadline, deltas).await
    }

    /// Draft a suggestion, answering by `deadline` at the latest. Retrieval, prompt
    /// building and validation run on the blocking pool.
    pub async fn draft_with(
        &self,
        input: DraftInput,
        deadline: Instant,
        deltas: Option<mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        let started = Instant::now();
        let input = Arc::new(input);
        let (core, inp) = (self.core.clone(), input.clone());
        let prepared = match tokio::task::spawn_blocking(move || core.prepare(&inp)).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::error!(error = %e, "llm prompt preparation failed");
                return suggestion(pb::SuggestionStatus::Unavailable, "internal error while preparing the prompt");
            }
        };
        let mut s = self.call(&prepared, &input, started, deadline, deltas.as_ref()).await;
        s.draft = true;
        if s.passages.is_empty() {
            s.passages = cite::passages(&prepared.retrieved, &Default::default(), prepared.locale);
        }
        s.locale = prepared.locale.tag().to_string();
        s.knowledge_base_version = prepared.kb_version.clone();
        s.prompt_hash = prepared.hash.clone();
        s.template_version = prepared.prompt.template_version.clone();
        if s.model.is_empty() {
            s.model = self.core.settings.model.clone();
        }
        s.latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let outcome = s.status().as_str_name().trim_start_matches("SUGGESTION_STATUS_").to_lowercase();
        tracing::debug!(status = %outcome, latency_ms = s.latency_ms, "llm draft");
        s
    }

    async fn call(
        &self,
        prepared: &Arc<Prepared>,
        input: &Arc<DraftInput>,
        started: Instant,
        deadline: Instant,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> pb::DraftSuggestion {
        use pb::SuggestionStatus as S;
        if let Some(mut hit) = self.cache.get(&prepared.hash, started) {
            hit.message = "cached draft (same prompt hash)".into();
            metrics::llm_request(metrics::LlmOutcome::CacheHit, started.elapsed());
            return hit;
        }
        let configured_end = started + Duration::from_millis(self.core.settings.total_timeout_ms);
        let deadline = deadline.min(configured_end);
        let permit = match self.breaker.acquire(started) {
            Ok(p) => p,
            Err(until) => {
                metrics::llm_request(metrics::LlmOutcome::CircuitOpen, started.elapsed());
                let wait =
                    until.map(|u| format!("; next probe in {} s", u.saturating_duration_since(started).as_secs()));
                return suggestion(
                    S::CircuitOpen,
                    format!("circuit open after repeated LLM failures{}", wait.unwrap_or_default()),
                );
            }
        };
        self.publish_breaker();
        let _slot = match tokio::time::timeout_at(deadline.into(), self.slots.acquire()).await {
            // A slot freed at the deadline itself is too late for a call.
            Ok(Ok(slot)) if Instant::now() < deadline => slot,
            _ => {
                metrics::llm_request(metrics::LlmOutcome::Timeout, started.elapsed());
                return suggestion(S::Timeout, "no free LLM slot before the deadline");
            }
        };
        metrics::llm_in_flight(1.0);
        let _in_flight = InFlight;
        let stream = self.core.settings.stream || deltas.is_some();
        let mut body = prepared.body.clone();
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        let mut transient_left = self.core.settings.retries;
        let mut invalid_left = 1u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let now = Instant::now();
            let ft_cfg = now + Duration::from_millis(self.core.settings.first_token_timeout_ms);
            let result = self.client.complete(&body, stream, ft_cfg.min(deadline), deadline, deltas).await;
            let bad = match result {
                Ok(c) => {
                    if let Some(t) = c.first_token {
                        metrics::llm_time_to_first_token(t);
                    }
                    if let Some(n) = c.prompt_tokens {
                        metrics::llm_tokens(metrics::TokenDirection::In, n);
                    }
                    if let Some(n) = c.completion_tokens {
                        metrics::llm_tokens(metrics::TokenDirection::Out, n);
                    }
                    match self.accept(prepared, input, c.content).await {
                        Ok(mut s) => {
                            permit.success(Instant::now());
                            self.publish_breaker();
                            if !c.model.is_empty() {
                                s.model = c.model;
                            }
                            self.cache.put(prepared.hash.clone(), s.clone(), Instant::now());
                            metrics::llm_request(metrics::LlmOutcome::Ok, started.elapsed());
                            return s;
                        }
                        Err(e) => e.to_string(),
                    }
                }
                Err(CallError::Protocol(m)) => m,
                Err(e) if e.is_transient() && transient_left > 0 => {
                    transient_left -= 1;
                    let wait = self.backoff(attempt, &e);
                    if Instant::now() + wait < deadline {
                        tracing::debug!(attempt, error_kind = kind(&e), "llm transient failure; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return self.fail(permit, e, started, deadline < configured_end, ft_cfg <= deadline);
                }
                Err(e) => return self.fail(permit, e, started, deadline < configured_end, ft_cfg <= deadline),
            };
            // The endpoint answered, but not with a valid draft.
            if invalid_left > 0 && Instant::now() < deadline {
                invalid_left -= 1;
                tracing::debug!(attempt, "llm output invalid; retrying once");
                continue;
            }
            permit.success(Instant::now());
            self.publish_breaker();
            metrics::llm_request(metrics::LlmOutcome::Invalid, started.elapsed());
            return suggestion(S::Invalid, format!("invalid LLM output after {attempt} attempts: {bad}"));
        }
    }

    /// Validate a response's content for `prepared` (synchronous CPU work: the service
    /// itself calls it on the blocking pool).
    pub fn validate(
        &self,
        prepared: &Prepared,
        input: &DraftInput,
        content: &str,
    ) -> Result<pb::DraftSuggestion, InvalidOutput> {
        self.core.accept(prepared, input, content)
    }

    /// Validate on the blocking pool.
    async fn accept(
        &self,
        prepared: &Arc<Prepared>,
        input: &Arc<DraftInput>,
        content: String,
    ) -> Result<pb::DraftSuggestion, InvalidOutput> {
        let (core, p, i) = (self.core.clone(), prepared.clone(), input.clone());
        tokio::task::spawn_blocking(move || core.accept(&p, &i, &content))
            .await
            .unwrap_or_else(|e| Err(InvalidOutput::Schema(vec![format!("internal error while validating: {e}")])))
    }

    /// Jittered exponential backoff ("full jitter"), at least Retry-After when the server sent one.
    fn backoff(&self, attempt: u32, e: &CallError) -> Duration {
        let base = self.core.settings.retry_backoff_ms.max(1);
        let cap = base.saturating_mul(1 << attempt.min(10));
        let mut wait = Duration::from_millis(rand::rng().random_range(base / 2..=cap));
        if let CallError::Http { retry_after: Some(r), .. } = e {
            wait = wait.max(*r);
        }
        wait
    }

    fn fail(
        &self,
        permit: super::breaker::Permit,
        e: CallError,
        started: Instant,
        limited_by_request: bool,
        first_token_limit_configured: bool,
    ) -> pb::DraftSuggestion {
        use pb::SuggestionStatus as S;
        let (status, counts) = match &e {
            CallError::Timeout("first token") => (S::Timeout, first_token_limit_configured),
            CallError::Timeout(_) => (S::Timeout, !limited_by_request),
            _ => (S::Unavailable, true),
        };
        if counts {
            permit.failure(Instant::now());
        } else {
            drop(permit);
        }
        self.publish_breaker();
        let outcome = if status == S::Timeout { "timeout" } else { "unavailable" };
        let label = if status == S::Timeout { metrics::LlmOutcome::Timeout } else { metrics::LlmOutcome::Error };
        metrics::llm_request(label, started.elapsed());
        tracing::debug!(error_kind = kind(&e), outcome, "llm call failed");
        suggestion(status, e.to_string())
    }

    fn publish_breaker(&self) {
        metrics::llm_circuit_state(match self.breaker_state() {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        });
    }
}

fn kind(e: &CallError) -> &'static str {
    match e {
        CallError::Connect(_) => "connect",
        CallError::Timeout(_) => "timeout",
        CallError::Http { .. } => "http_status",
        CallError::Broken(_) => "broken_connection",
        CallError::Protocol(_) => "protocol",
    }
}

struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::llm_in_flight(-1.0);
    }
}
