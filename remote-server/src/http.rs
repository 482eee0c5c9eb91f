//! The router: `/v1` behind bearer auth, health and metrics outside it, request metrics and the
//! body limit around everything.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};

use crate::error::ApiError;
use crate::state::AppState;
use crate::{handlers, people};

/// Compares in constant time (`subtle`), so response time says nothing about a token's prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

async fn auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if st.config.tokens.is_empty() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let ok = presented.is_some_and(|p| {
        st.config
            .tokens
            .iter()
            .fold(false, |acc, t| acc | same(t.as_bytes(), p.as_bytes()))
    });
    if ok {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// The credentials of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Turns every error response that is not already the JSON error body (axum's own 404, 405 and
/// path/query/body rejections, which are plain text or empty) into one, keeping its status and
/// headers (`Allow`, `Retry-After`, …).
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    let message = if !text.is_empty() {
        text
    } else if status == StatusCode::NOT_FOUND {
        "no such route; the API is described at /v1/openapi.json".to_owned()
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        "this route does not take that method (see the Allow header)".to_owned()
    } else {
        status.canonical_reason().unwrap_or("error").to_owned()
    };
    let mut out = (
        status,
        axum::Json(facelens_api::wire::ErrorBody {
            code: code.to_owned(),
            message,
        }),
    )
        .into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Reads the whole request body, within the request timeout and the body limit, before routing.
/// So a client that trickles its upload never holds an in-flight slot or a stage: admission
/// (in the handlers) happens only once the body is here, and a body that does not arrive in
/// time ends in 408.
async fn buffer_body(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let limit = st.config.max_body_mib.saturating_mul(1024 * 1024);
    let wait = std::time::Duration::from_millis(st.config.timeout_ms);
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::TooLarge(format!("the request body is over {limit} bytes"))
                    .into_response()
            } else {
                ApiError::BadRequest(format!("reading the request body: {e}")).into_response()
            }
        }
        Err(_) => ApiError::BodyTimeout(st.config.timeout_ms).into_response(),
    }
}

async fn record(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &st.metrics;
    m.requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    m.request_seconds
        .with_label_values(&[route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    resp
}

async fn livez() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        ApiError::NotReady.into_response()
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::json(),
    )
        .into_response()
}

/// The whole application for `st`.
pub fn router(st: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/analyze", post(handlers::analyze))
        .route("/v1/faces", post(handlers::faces))
        .route("/v1/preprocess", post(handlers::preprocess))
        .route("/v1/embed", post(handlers::embed))
        .route("/v1/attributes", post(handlers::attributes))
        .route("/v1/search", post(handlers::search))
        .route(
            "/v1/gallery",
            get(handlers::gallery_list).post(handlers::gallery_enrol),
        )
        .route(
            "/v1/gallery/{id}",
            patch(handlers::gallery_rename).delete(handlers::gallery_delete),
        )
        .route(
            "/v1/gallery/{id}/thumbnail",
            get(handlers::gallery_thumbnail),
        )
        .route("/v1/people", get(people::list))
        .route("/v1/people/photos", post(people::add_photo))
        .route("/v1/people/find", post(people::find))
        .route("/v1/people/recluster", post(people::recluster))
        .route("/v1/people/{id}", get(people::group).patch(people::name))
        .route("/v1/people/{id}/merge", post(people::merge))
        .route("/v1/people/faces/{id}", put(people::move_face))
        .route("/v1/people/faces/{id}/thumbnail", get(people::thumbnail))
        .route("/v1/verify", post(handlers::verify))
        .route("/v1/version", get(handlers::version))
        .route_layer(middleware::from_fn_with_state(st.clone(), auth));
    let limit = st.config.max_body_mib.saturating_mul(1024 * 1024);
    Router::new()
        .merge(v1)
        .route("/v1/openapi.json", get(openapi))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(st.clone(), record))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(st.clone(), buffer_body))
        .layer(middleware::from_fn(json_errors))
        .with_state(st)
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, same};

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for h in ["Bearer abc", "bearer abc", "BEARER  abc ", "BeArEr abc"] {
            assert_eq!(bearer_token(h), Some("abc"), "{h}");
        }
        for h in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", ""] {
            assert_eq!(bearer_token(h), None, "{h}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
