//! The router: `/v1` behind bearer auth, health and metrics outside it, request metrics and the
//! body limit around everything.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};

use crate::error::ApiError;
use crate::handlers;
use crate::state::AppState;

/// Compares without an early exit, so response time says nothing about a token's prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if st.config.tokens.is_empty() {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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
        .with_state(st)
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
