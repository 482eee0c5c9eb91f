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
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The document as pretty JSON.
#[must_use]
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
