//! HTTP client for an OpenAI-compatible `/v1/chat/completions` endpoint
//! (llama.cpp server, vLLM, Ollama, hosted APIs), non-streaming and SSE.
//!
//! One call = one HTTP request bounded by a first-token deadline and a total
//! deadline; retries and the breaker live in the service. Errors are
//! classified so the service can tell transient failures (retry, count
//! against the breaker) from bad output (retry once, then `invalid`).

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::{sync::mpsc, time::timeout_at};

use super::sse::SseParser;

/// Largest response body or streamed content accepted, bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// An API key; never printed.
#[derive(Clone, Default)]
pub struct ApiKey(Option<String>);

impl ApiKey {
    pub fn new(key: Option<String>) -> Self {
        Self(key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ApiKey(<redacted>)" } else { "ApiKey(none)" })
    }
}

/// What went wrong with one call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect to the LLM endpoint: {0}")]
    Connect(String),
    #[error("no {0} from the LLM endpoint in time")]
    Timeout(&'static str),
    #[error("the LLM endpoint answered HTTP {status}: {body}")]
    Http { status: u16, body: String, retry_after: Option<Duration> },
    #[error("the connection to the LLM endpoint broke: {0}")]
    Broken(String),
    #[error("the LLM endpoint sent an unusable response: {0}")]
    Protocol(String),
}

impl CallError {
    /// Worth retrying within the deadline (the next attempt may well succeed).
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Connect(_) | CallError::Broken(_) => true,
            CallError::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            CallError::Timeout(_) | CallError::Protocol(_) => false,
        }
    }
}

/// The assistant message of a completed call.
#[derive(Debug, Clone)]
pub struct Completion {
    pub content: String,
    /// Model name as reported by the server ("" when it reported none).
    pub model: String,
    pub finish_reason: String,
    /// Time from sending the request to the first content (streaming) or the whole body.
    pub first_token: Option<Duration>,
    /// Token counts when the server reported usage.
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl Completion {
    fn empty() -> Self {
        Self {
            content: String::new(),
            model: String::new(),
            finish_reason: String::new(),
            first_token: None,
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    fn usage(&mut self, v: &Value) {
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
        }
    }
}

/// A configured HTTP client.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    url: String,
    key: ApiKey,
}

fn classify(e: reqwest::Error) -> CallError {
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_connect() {
        CallError::Connect(msg)
    } else if e.is_timeout() {
        CallError::Timeout("response")
    } else {
        CallError::Broken(msg)
    }
}

impl ChatClient {
    /// `base_url` is the API root, e.g. `http://127.0.0.1:8091/v1`.
    pub fn new(base_url: &str, key: ApiKey, connect_timeout: Duration) -> Result<Self, String> {
        // reqwest is built with `rustls-no-provider`: install the ring provider once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the LLM HTTP client: {e}"))?;
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Ok(Self { http, url, key })
    }

    /// Send one chat-completions request. With `stream`, content deltas are
    /// forwarded to `deltas` (dropped when the receiver is slow or gone).
    /// `first_token` bounds the wait for the first content (streaming) or the
    /// response headers (non-streaming); `deadline` bounds the whole call.
    pub async fn complete(
        &self,
        body: &Value,
        stream: bool,
        first_token: Instant,
        deadline: Instant,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Completion, CallError> {
        let mut req = self.http.post(&self.url).json(body);
        if let Some(k) = &self.key.0 {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| CallError::Protocol("the API key is not a valid header value".into()))?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        let sent = Instant::now();
        let head_deadline = if stream { first_token.min(deadline) } else { deadline };
        let resp = match timeout_at(head_deadline.into(), req.send()).await {
            Err(_) => return Err(CallError::Timeout(if stream { "first token" } else { "response" })),
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match timeout_at(deadline.into(), read_capped(resp, 2048)).await {
                Ok(Ok(b)) => String::from_utf8_lossy(&b).chars().take(200).collect(),
                _ => String::new(),
            };
            return Err(CallError::Http { status: status.as_u16(), body, retry_after });
        }
        if stream {
            self.read_stream(resp, sent, first_token, deadline, deltas).await
        } else {
            let bytes = match timeout_at(deadline.into(), read_capped(resp, MAX_RESPONSE_BYTES)).await {
                Err(_) => return Err(CallError::Timeout("complete response")),
                Ok(r) => r?,
            };
            let mut c = parse_completion(&bytes)?;
            c.first_token = Some(sent.elapsed());
            Ok(c)
        }
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        sent: Instant,
        first_token: Instant,
        deadline: Instant,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Completion, CallError> {
        let mut body = resp.bytes_stream();
        let mut sse = SseParser::default();
        let mut out = Completion::empty();
        let mut got_token = false;
        loop {
            let until = if got_token { deadline } else { first_token.min(deadline) };
            let chunk = match timeout_at(until.into(), body.next()).await {
                Err(_) => return Err(CallError::Timeout(if got_token { "complete response" } else { "first token" })),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(CallError::Broken(e.to_string())),
                Ok(Some(Ok(c))) => c,
            };
            for event in sse.push(&chunk) {
                let done = apply_event(&event, &mut out, deltas)?;
                // Before `done`: a whole answer can arrive in one read and still has a first token.
                if !got_token && !out.content.is_empty() {
                    got_token = true;
                    out.first_token = Some(sent.elapsed());
                }
                if done {
                    return finish(out);
                }
            }
            if out.content.len() + sse.pending_bytes() > MAX_RESPONSE_BYTES {
                return Err(CallError::Protocol(format!("streamed response exceeds {MAX_RESPONSE_BYTES} bytes")));
            }
        }
        for event in sse.finish() {
            if apply_event(&event, &mut out, deltas)? {
                return finish(out);
            }
        }
        if out.finish_reason.is_empty() {
            return Err(CallError::Broken("the stream ended before [DONE]".into()));
        }
        finish(out)
    }
}

fn finish(out: Completion) -> Result<Completion, CallError> {
    if out.finish_reason == "length" {
        return Err(CallError::Protocol("the output was cut off at max_tokens".into()));
    }
    Ok(out)
}

/// Apply one SSE event; true at `[DONE]`.
fn apply_event(event: &str, out: &mut Completion, deltas: Option<&mpsc::Sender<String>>) -> Result<bool, CallError> {
    let event = event.trim();
    if event == "[DONE]" {
        return Ok(true);
    }
    let v: Value =
        serde_json::from_str(event).map_err(|e| CallError::Protocol(format!("stream event is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(CallError::Http { status: 500, body: truncate_json(err), retry_after: None });
    }
    if let Some(m) = v.get("model").and_then(Value::as_str) {
        out.model = m.to_string();
    }
    out.usage(&v);
    if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
        if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
            if !piece.is_empty() {
                out.content.push_str(piece);
                if let Some(tx) = deltas {
                    let _ = tx.try_send(piece.to_string());
                }
            }
        }
        if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
            out.finish_reason = r.to_string();
        }
    }
    Ok(false)
}

fn truncate_json(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

/// Parse a non-streaming response body.
pub fn parse_completion(bytes: &[u8]) -> Result<Completion, CallError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| CallError::Protocol(format!("response body is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(CallError::Http { status: 500, body: truncate_json(err), retry_after: None });
    }
    let choice =
        v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| CallError::Protocol("response has no choices".into()))?;
    let content = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| CallError::Protocol("response has no message content".into()))?;
    let mut c = Completion::empty();
    c.content = content.to_string();
    c.model = v.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    c.finish_reason = choice.get("finish_reason").and_then(Value::as_str).unwrap_or_default().to_string();
    c.usage(&v);
    finish(c)
}

async fn read_capped(resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, CallError> {
    let mut body = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CallError::Broken(e.to_string()))?;
        if out.len() + chunk.len() > cap {
            return Err(CallError::Protocol(format!("response exceeds {cap} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
