//! The router without a socket or models: auth, probes, the OpenAPI document, not-ready answers.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use facelens_server::{AppState, Config};
use tower::ServiceExt;

const TOKEN: &str = "router-token-0123456789";

fn app() -> axum::Router {
    let config = Config {
        tokens: vec![TOKEN.into()],
        ..Config::default()
    };
    facelens_server::http::router(AppState::new(config))
}

async fn call(req: Request<Body>) -> (StatusCode, String) {
    let resp = app().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 24).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn probes_before_loading() {
    assert_eq!(call(get("/livez", None)).await.0, StatusCode::OK);
    let (status, body) = call(get("/readyz", None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("not_ready"));
}

#[tokio::test]
async fn v1_needs_the_token() {
    assert_eq!(
        call(get("/v1/version", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(get("/v1/version", Some("nope"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(get("/v1/version", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    let v: facelens_api::wire::VersionInfo = serde_json::from_str(&body).expect("json");
    assert_eq!((v.role.as_str(), v.ready), ("all", false));
}

#[tokio::test]
async fn inference_while_loading_is_503_not_ready() {
    let req = Request::post("/v1/faces")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"faces": []}"#))
        .expect("request");
    let (status, body) = call(req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("not_ready"));
}

#[tokio::test]
async fn openapi_is_generated_from_the_shared_types() {
    let (status, body) = call(get("/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/v1/analyze",
        "/v1/faces",
        "/v1/gallery/{id}",
        "/v1/verify",
        "/v1/embed",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    for schema in [
        "FaceCrop",
        "FacesResponse",
        "Analysis",
        "Attributes",
        "ErrorBody",
        "Entry",
        "Quality",
        "HeadPose",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}

#[tokio::test]
async fn unknown_routes_are_404() {
    assert_eq!(
        call(get("/v2/nothing", Some(TOKEN))).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_error_has_the_json_body() {
    let put = Request::put("/v1/version")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let cases = [
        (get("/nowhere", None), StatusCode::NOT_FOUND, "not_found"),
        (put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            get("/v1/gallery/-1/thumbnail", Some(TOKEN)),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            get("/v1/gallery/abc/thumbnail", Some(TOKEN)),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (req, status, code) in cases {
        let uri = req.uri().clone();
        let resp = app().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), status, "{uri}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("application/json"),
            "{uri}"
        );
        let body = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
        let e: facelens_api::wire::ErrorBody = serde_json::from_slice(&body).expect("error body");
        assert_eq!(e.code, code, "{uri}");
        assert!(!e.message.is_empty(), "{uri}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let req = Request::get("/v1/version")
        .header("authorization", format!("bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    assert_ne!(call(req).await.0, StatusCode::UNAUTHORIZED);
}
