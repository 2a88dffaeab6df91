//! The CDS Hooks 2.0 service on the HTTP listener (`http.cds_hooks`): discovery
//! (`GET /cds-services`), one service per hook (`POST /cds-services/{id}`) and feedback
//! (`POST /cds-services/{id}/feedback`). A transport only adapts: the call is read
//! (`request.rs`), its prefetch mapped by the one FHIR mapper (`crate::fhir`), evaluated by
//! the [`Pipeline`] like any other request and its cards encoded (`cards.rs`); feedback goes
//! to the audit's [`FeedbackSink`].
//!
//! Decisions where the specification leaves room:
//! - Language: CDS Hooks has no locale. Texts (discovery, cards) follow the request's
//!   `Accept-Language` (zh-CN or en, by q-value), else `server.default_locale`; the answer
//!   says which in `Content-Language`.
//! - The LLM draft is omitted: a CDS Hooks call is one request and one response (no later
//!   update), EMRs give up after 0.5–2 s and a draft takes seconds, so the rule and model cards
//!   never wait for it (the draft is there over gRPC `EvaluateStream`).
//! - Missing prefetch is 412 naming the keys; querying `fhirServer` for them is later work.

mod cards;
mod error;
mod feedback;
mod request;
pub mod services;

pub use cards::{OVERRIDE_REASONS, OVERRIDE_SYSTEM};
pub use error::HooksError;

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::Response,
    routing::{get, post},
    Router,
};
use tracing::Instrument;

use crate::{
    audit::FeedbackSink,
    locale::Locale,
    pipeline::{Budget, Call, Pipeline},
    proto::v1 as pb,
};

/// The routes of the CDS Hooks service (merged into the HTTP listener's router, behind its
/// authentication).
pub fn routes() -> Router<Arc<Pipeline>> {
    Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call))
        .route("/cds-services/{id}/feedback", post(feedback))
}

/// The language of the answer: the first supported tag of `Accept-Language` by q-value,
/// else `server.default_locale`.
pub fn locale(headers: &HeaderMap, default: Locale) -> Locale {
    let Some(v) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
        return default;
    };
    let mut tags: Vec<(f32, usize, &str)> = v
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            let q = it.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, i, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.iter().find_map(|(_, _, t)| Locale::parse(t).ok()).unwrap_or(default)
}

fn ids(headers: &HeaderMap) -> String {
    super::request_id(headers)
}

fn with_language(mut r: Response, l: Locale) -> Response {
    r.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(l.tag()));
    r
}

/// The body, or why it cannot be read (not JSON, too large).
fn json_body(
    pipeline: &Pipeline,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, HooksError> {
    if !super::is_json(headers) {
        return Err(HooksError::NotJson);
    }
    body.map_err(|e| {
        HooksError::Body(super::body_refused(
            pipeline.settings().server.max_request_bytes,
            &e,
            crate::metrics::HttpRoute::CdsHooks,
        ))
    })
}

/// `GET /cds-services`.
async fn discovery(State(pipeline): State<Arc<Pipeline>>, headers: HeaderMap) -> Response {
    let l = locale(&headers, pipeline.settings().default_locale());
    let body = services::discovery(l).to_string();
    with_language(super::json_response(StatusCode::OK, body, &ids(&headers)), l)
}

/// `POST /cds-services/{id}`.
async fn call(
    State(pipeline): State<Arc<Pipeline>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = ids(&headers);
    let l = locale(&headers, pipeline.settings().default_locale());
    let span = tracing::info_span!("http", method = "CdsHooks", service = %truncate(&id), request_id = %request_id);
    match evaluate(&pipeline, &id, &headers, body, l, &request_id).instrument(span).await {
        Ok(cards) => {
            let body = serde_json::to_string(&cards).expect("cards serialise");
            with_language(super::json_response(StatusCode::OK, body, &request_id), l)
        }
        Err(e) => e.response(&request_id),
    }
}

fn truncate(s: &str) -> String {
    crate::locale::truncate_chars(s, 64)
}

async fn evaluate(
    pipeline: &Pipeline,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    l: Locale,
    request_id: &str,
) -> Result<cards::Response, HooksError> {
    let service = services::find(id).ok_or_else(|| HooksError::UnknownService(id.to_string()))?;
    let body = json_body(pipeline, headers, body)?;
    let call = request::parse(service, &body).map_err(|e| match e {
        request::CallError::Invalid(v) => HooksError::Invalid(v),
        request::CallError::MissingPrefetch(m) => HooksError::MissingPrefetch(m),
    })?;
    let focus = crate::fhir::Focus { patient_id: Some(&call.patient_id), encounter_id: Some(&call.encounter_id) };
    let options = crate::fhir::Options::new(focus, pipeline.settings().timezone());
    let encounter = crate::fhir::map_resources(call.resources(), &options).map_err(HooksError::Fhir)?.encounter;
    let req = pb::EvaluateRequest {
        encounter: Some(encounter),
        trigger: crate::pipeline::trigger_to_proto(service.trigger) as i32,
        evaluation_time: None,
        options: Some(pb::EvaluateOptions {
            locale: l.tag().to_string(),
            llm: pb::LlmMode::Skip as i32,
            ..Default::default()
        }),
    };
    let call_info = Call {
        request_id: request_id.to_string(),
        deadline: None,
        budget: Budget::Decision,
        caller: crate::server::caller_from(headers.get("x-cdss-caller").and_then(|v| v.to_str().ok())),
    };
    tracing::debug!(hook_instance = %call.hook_instance, "CDS Hooks call mapped.");
    let prepared = pipeline.prepare(&req, call_info).map_err(HooksError::Evaluate)?;
    let decision = pipeline.evaluate(&prepared).await.map_err(HooksError::Evaluate)?;
    Ok(cards::response(&decision, &pipeline.settings().http, l))
}

/// `POST /cds-services/{id}/feedback`.
async fn feedback(
    State(pipeline): State<Arc<Pipeline>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = ids(&headers);
    let span =
        tracing::info_span!("http", method = "CdsHooksFeedback", service = %truncate(&id), request_id = %request_id);
    let result = async {
        services::find(&id).ok_or_else(|| HooksError::UnknownService(id.clone()))?;
        let body = json_body(&pipeline, &headers, body)?;
        let items = feedback::parse(&body).map_err(HooksError::Invalid)?;
        let sink: &dyn FeedbackSink = pipeline.audit().ok_or(HooksError::NoAudit)?.as_ref();
        let mut stored = Vec::new();
        for fb in items {
            match sink.feedback_on_card(fb).await {
                Ok(id) => stored.push(id),
                Err(error) => return Err(HooksError::Feedback { stored: stored.len(), error }),
            }
        }
        Ok(stored)
    }
    .instrument(span)
    .await;
    match result {
        Ok(ids) => super::json_response(
            StatusCode::OK,
            serde_json::json!({"stored": ids.len(), "feedbackIds": ids}).to_string(),
            &request_id,
        ),
        Err(e) => e.response(&request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_tag() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(locale(&h("en-US,en;q=0.9"), Locale::ZhCn), Locale::En);
        assert_eq!(locale(&h("fr;q=1, zh-CN;q=0.8, en;q=0.5"), Locale::En), Locale::ZhCn);
        assert_eq!(locale(&h("en;q=0.2, zh;q=0.9"), Locale::En), Locale::ZhCn);
        assert_eq!(locale(&h("de, *"), Locale::En), Locale::En);
        assert_eq!(locale(&h("en;q=0"), Locale::ZhCn), Locale::ZhCn);
        assert_eq!(locale(&HeaderMap::new(), Locale::En), Locale::En);
    }
}
