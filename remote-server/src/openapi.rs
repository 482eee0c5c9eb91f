//! The OpenAPI document, generated from the handlers' annotations and the `facelens_api` wire types
//! the desktop (de)serialises, so client and server cannot drift.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{handlers, people};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers the router's layers give on every route, whatever the handler says: 401 where a
/// token is needed, 503 from admission and the memory budget, 400 for a query the route does
/// not take, 413 for a body over the limit.
struct LayerResponses;

impl Modify for LayerResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{Content, Ref, RefOr, Response};
        let error = || {
            Content::new(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                Ref::from_schema_name("ErrorBody"),
            )))
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                Response::builder()
                                    .description(what)
                                    .content("application/json", error())
                                    .build(),
                            )
                        });
                };
                if op.security.is_some() {
                    add("401", "No or a wrong bearer token");
                    add(
                        "503",
                        "Overloaded (requests or memory in flight; see Retry-After) or not ready",
                    );
                }
                let has_query = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                if has_query {
                    add(
                        "400",
                        "A query parameter this route does not take, or a bad value",
                    );
                }
                if op.request_body.is_some() {
                    add("400", "A body that is not what the route takes");
                    add(
                        "413",
                        "The body is over the limit, or would need more memory than the server has",
                    );
                }
            }
        }
    }
}

/// The `/v1` API.
#[derive(OpenApi)]
#[openapi(
    info(title = "facelens-server", description = "Face embedding, attributes and gallery matching. Coordinates are original-image pixels."),
    paths(
        handlers::analyze, handlers::faces, handlers::preprocess, handlers::embed,
        handlers::attributes, handlers::search, handlers::gallery_list, handlers::gallery_enrol,
        handlers::gallery_rename, handlers::gallery_delete, handlers::gallery_thumbnail,
        handlers::verify, handlers::version, people::list, people::group, people::name,
        people::merge, people::move_face, people::thumbnail, people::recluster, people::find,
        people::add_photo
    ),
    modifiers(&BearerAuth, &LayerResponses)
)]
pub struct ApiDoc;

/// The document as pretty JSON.
#[must_use]
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
