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

/// Longest request target (path and query) answered; longer is 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers answered; more is 431.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of request headers answered; more is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses, with the JSON error body, a request target or header block over the limits above
/// (hyper refuses far larger ones itself, with an empty body).
async fn request_limits(req: Request, next: Next) -> Response {
    let refuse = |status: StatusCode, code: &str, message: String| {
        (
            status,
            axum::Json(facelens_api::wire::ErrorBody {
                code: code.to_owned(),
                message,
            }),
        )
            .into_response()
    };
    let uri_len = req.uri().to_string().len();
    if uri_len > MAX_URI_BYTES {
        return refuse(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {uri_len} bytes; at most {MAX_URI_BYTES}"),
        );
    }
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "{} headers of {header_bytes} bytes; at most {MAX_HEADERS} headers and \
                 {MAX_HEADER_BYTES} bytes",
                headers.len()
            ),
        );
    }
    next.run(req).await
}

/// Bodies and responses smaller than this are not counted against the memory budget (probes,
/// small JSON): each connection holds at most a few of them.
const UNCOUNTED_BYTES: u64 = 64 * 1024;

/// Reads the whole request body, within the request timeout and the body limit, before routing.
/// So a client that trickles its upload never holds an in-flight slot or a stage: admission
/// happens only once the body is here, and a body that does not arrive in time ends in 408.
///
/// The body's bytes (from `Content-Length`, else the body limit) are reserved against the memory
/// budget before it is read, and the response's bytes before it is sent; the response keeps its
/// reservation until the client has read it (or the write timeout drops the connection).
async fn buffer_body(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let limit = st.config.max_body_mib.saturating_mul(1024 * 1024);
    let wait = std::time::Duration::from_millis(st.config.timeout_ms);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Without a length, a chunked body may be as large as the limit; a request with neither
    // (a GET) has no body.
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let body_bytes = match declared {
        Some(n) => n.min(limit as u64),
        None if chunked => limit as u64,
        None => 0,
    };
    let _body_held = if body_bytes >= UNCOUNTED_BYTES {
        match st.budget.reserve(body_bytes, "the request body") {
            Ok(r) => Some(r),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            let resp = next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
            hold_response(&st, resp)
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

/// Reserves a response's bytes until it has been sent; one that does not fit the budget now is
/// dropped and answered 503 instead.
fn hold_response(st: &AppState, resp: Response) -> Response {
    let size = axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .unwrap_or(UNCOUNTED_BYTES);
    if size < UNCOUNTED_BYTES {
        return resp;
    }
    match st.budget.reserve(size, "the response") {
        Ok(held) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, crate::budget::HeldBody::wrap(body, vec![held]))
        }
        Err(e) => e.into_response(),
    }
}

/// Takes a unit of the in-flight cap for every `/v1` request (once its body is here).
async fn admit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match st.admit() {
        Ok(_admitted) => next.run(req).await,
        Err(e) => e.into_response(),
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
        .route_layer(middleware::from_fn_with_state(st.clone(), admit))
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
        .layer(middleware::from_fn(request_limits))
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
