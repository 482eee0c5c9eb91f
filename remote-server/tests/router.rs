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

/// A value of the parameter's schema type, for a request that must get past extraction.
fn sample(param: &serde_json::Value) -> &'static str {
    match param["schema"]["type"].as_str() {
        Some("integer") => "1",
        Some("boolean") => "true",
        _ => "x.jpg",
    }
}

/// The document against the router itself: every documented operation is routed (its method
/// too), every method a documented path does not list is 405, every path parameter is in the
/// path template and every query parameter is one the route reads from the query (an unknown
/// one is 400), and every authenticated operation documents the answers the layers give.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let (_, body) = call(get("/v1/openapi.json", None)).await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 17, "{}", paths.len());
    let methods = ["get", "post", "put", "patch", "delete"];
    for (template, item) in paths {
        let concrete = template
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for m in methods {
            let send = |query: String| {
                let uri = format!("{concrete}{query}");
                Request::builder()
                    .method(m.to_ascii_uppercase().as_str())
                    .uri(uri)
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .header("content-type", "application/json")
                    .body(Body::from("{}"))
                    .expect("request")
            };
            let Some(op) = item.get(m) else {
                let (status, _) = call(send(String::new())).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{m} {template} is routed but not documented"
                );
                continue;
            };
            let params: Vec<&serde_json::Value> =
                op["parameters"].as_array().into_iter().flatten().collect();
            for p in &params {
                let name = p["name"].as_str().expect("name");
                match p["in"].as_str() {
                    Some("path") => assert!(
                        template.contains(&format!("{{{name}}}")),
                        "{m} {template}: path parameter {name} is not in the path"
                    ),
                    Some("query") => assert!(
                        !template.contains(&format!("{{{name}}}")),
                        "{m} {template}: {name} is in the path, documented as query"
                    ),
                    other => panic!("{m} {template}: {name} in {other:?}"),
                }
            }
            for t in template.split('/').filter(|s| s.starts_with('{')) {
                let name = t.trim_matches(['{', '}']);
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{m} {template}: {name} is not documented as a path parameter"
                );
            }
            let query: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| format!("{}={}", p["name"].as_str().unwrap_or(""), sample(p)))
                .collect();
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            let (status, body) = call(send(q)).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {template}");
            assert!(
                !body.contains("\"no such route"),
                "{m} {template} is documented but not routed: {body}"
            );
            assert!(
                !body.contains("query"),
                "{m} {template}: the documented query parameters are refused: {body}"
            );
            if template.starts_with("/v1/") && template != "/v1/openapi.json" {
                let (status, body) = call(send("?no_such_parameter=1".into())).await;
                if !query.is_empty() {
                    assert_eq!(
                        status,
                        StatusCode::BAD_REQUEST,
                        "{m} {template}: an unknown query parameter is not refused"
                    );
                    assert!(body.contains("query"), "{m} {template}: {body}");
                }
                let responses = op["responses"].as_object().expect("responses");
                for code in ["401", "503"] {
                    assert!(
                        responses.contains_key(code),
                        "{m} {template} does not document {code}"
                    );
                }
                if !query.is_empty() {
                    assert!(responses.contains_key("400"), "{m} {template}: 400");
                }
            }
        }
    }
}

/// Row 13: a request target or header block over the limits is answered with the JSON error
/// body, not hyper's empty one.
#[tokio::test]
async fn long_targets_and_many_headers_get_json_answers() {
    let long = format!("/v1/gallery?after_id=1&x={}", "a".repeat(9000));
    let (status, body) = call(get(&long, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert!(body.contains("\"uri_too_long\""), "{body}");
    let mut b = Request::get("/livez");
    for i in 0..150 {
        b = b.header(format!("x-h{i}"), "v");
    }
    let (status, body) = call(b.body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(body.contains("\"headers_too_large\""), "{body}");
}
