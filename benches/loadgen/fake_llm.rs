//! A tiny OpenAI-compatible chat-completions server on loopback that answers
//! every request with a schema-valid draft after a fixed delay (5 s by
//! default): the slow LLM whose calls must not delay the fast answer.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Router,
};

const DRAFT: &str = r#"{"differential":[{"condition":"Synthetic condition from the load generator","icd10":"R69","likelihood":"low","supporting":[],"contradicting":[],"citations":[]}],"next_steps":[{"step":"Review the synthetic draft.","citations":[]}],"red_flags":[],"summary":"Synthetic draft produced by the load generator's fake LLM; not clinical content."}"#;

/// Requests received so far.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Start the server; returns its base URL (`http://127.0.0.1:PORT/v1`) and the request counter.
pub async fn start(delay: Duration) -> anyhow::Result<(String, Counter)> {
    let counter = Counter::default();
    let c = counter.clone();
    let app = Router::new()
        .route("/v1/models", get(|| async { ([(header::CONTENT_TYPE, "application/json")], models()) }))
        .route(
            "/v1/chat/completions",
            post(move |body: Bytes| {
                let c = c.clone();
                async move {
                    c.0.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    complete(&body)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, counter))
}

fn models() -> String {
    serde_json::json!({"object": "list", "data": [{"id": "loadgen-fake", "object": "model", "owned_by": "loadgen"}]})
        .to_string()
}

fn complete(body: &[u8]) -> axum::response::Response {
    let req: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid JSON").into_response(),
    };
    let model = req.get("model").and_then(|m| m.as_str()).unwrap_or("loadgen-fake").to_string();
    let stream = req.get("stream").and_then(|s| s.as_bool()).unwrap_or(false);
    if stream {
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            let v = serde_json::json!({"id": "chatcmpl-loadgen", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {v}\n\n")
        };
        let body = [
            chunk(serde_json::json!({"role": "assistant", "content": ""}), serde_json::Value::Null),
            chunk(serde_json::json!({"content": DRAFT}), serde_json::Value::Null),
            chunk(serde_json::json!({}), serde_json::json!("stop")),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    } else {
        let v = serde_json::json!({"id": "chatcmpl-loadgen", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": DRAFT}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
    }
}
