//! CORS for browser-based EMRs (`http.cors_allowed_origins`, validated at load: exact
//! origins, no wildcard). With no origin configured the layer adds nothing, so browsers
//! refuse cross-origin calls. Preflights are answered here, before authentication (a
//! browser sends them without the token); every actual call is authenticated as usual.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The CORS layer of the HTTP listener for `origins`.
pub fn layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::CONTENT_LANGUAGE])
        .max_age(Duration::from_secs(600))
}
