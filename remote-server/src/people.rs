//! The `/v1/people` handlers: the people library of the gateway's gallery (see
//! `facelens_core::people`). Photos are uploaded one at a time, analysed by the stages, added
//! and grouped; the rest are the library's edits and `find`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facelens_api::wire::{
    ErrorBody, FindRequest, FindResponse, GroupFaces, MergeRequest, MoveRequest, PeopleList,
    PhotoAdded, RenameRequest,
};
use facelens_core::error::GalleryError;
use facelens_core::people::cluster::Params;
use facelens_core::people::{ClusterReport, NewScannedFace};
use serde::Deserialize;

use crate::error::ApiError;
use crate::handlers::{analyse_request, json_body, normalised};
use crate::state::{AppState, blocking};

type ApiResult<T> = Result<T, ApiError>;

/// Most photos one `find` returns.
const MAX_FIND: usize = 1000;

fn g<T>(r: Result<T, GalleryError>) -> ApiResult<T> {
    r.map_err(|e| ApiError::Core(e.into()))
}

/// Runs `f` on the library, on the blocking pool.
async fn with_people<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&facelens_core::people::People<'_>) -> Result<T, GalleryError> + Send + 'static,
) -> ApiResult<T> {
    let gallery = st.gallery()?;
    blocking(move || g(f(&gallery.people()))).await
}

/// Most groups or faces in one page of `/v1/people` or `/v1/people/{id}`.
pub const MAX_PEOPLE_PAGE: usize = 1000;

/// Paging of the people lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Position of the first item (default 0).
    pub offset: Option<usize>,
    /// Items per page (default and most: 1000); `next_offset` says where the next page starts.
    pub limit: Option<usize>,
}

impl PageQuery {
    fn window(&self) -> (usize, usize) {
        (
            self.offset.unwrap_or(0),
            self.limit
                .unwrap_or(MAX_PEOPLE_PAGE)
                .clamp(1, MAX_PEOPLE_PAGE),
        )
    }
}

/// Where the next page starts, when this one was full.
fn next_offset(offset: usize, limit: usize, got: usize) -> Option<usize> {
    (got == limit).then(|| offset.saturating_add(got))
}

/// One page of the groups (largest first) and of the unsorted faces (best first); the same
/// `offset` and `limit` apply to both lists.
#[utoipa::path(get, path = "/v1/people", params(PageQuery), responses((status = 200, body = PeopleList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<PeopleList>> {
    let (offset, limit) = q.window();
    let list = with_people(&st, move |p| {
        let groups: Vec<_> = p.groups()?.into_iter().skip(offset).take(limit).collect();
        let unsorted = p.faces_window(None, offset, limit)?;
        let next = next_offset(offset, limit, groups.len().max(unsorted.len()));
        Ok(PeopleList {
            groups,
            unsorted,
            next_offset: next,
        })
    })
    .await?;
    Ok(Json(list))
}

/// One page of a group's faces, best quality first.
#[utoipa::path(get, path = "/v1/people/{id}", params(("id" = u64, Path, description = "Group id"), PageQuery),
    responses((status = 200, body = GroupFaces), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn group(
    State(st): State<AppState>,
    Path(id): Path<u64>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<GroupFaces>> {
    let (offset, limit) = q.window();
    let faces = with_people(&st, move |p| p.faces_window(Some(id), offset, limit)).await?;
    let next = next_offset(offset, limit, faces.len());
    Ok(Json(GroupFaces {
        group: id,
        faces,
        next_offset: next,
    }))
}

/// Name (or rename) a group: its faces are enrolled in the gallery under the name.
#[utoipa::path(patch, path = "/v1/people/{id}", request_body = RenameRequest,
    params(("id" = u64, Path, description = "Group id")),
    responses((status = 200, body = GroupFaces), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn name(
    State(st): State<AppState>,
    Path(id): Path<u64>,
    body: Result<Json<RenameRequest>, JsonRejection>,
) -> ApiResult<Json<GroupFaces>> {
    let req = json_body(body)?;
    let faces = with_people(&st, move |p| {
        p.name(id, &req.name)?;
        p.faces_window(Some(id), 0, MAX_PEOPLE_PAGE)
    })
    .await?;
    let next = next_offset(0, MAX_PEOPLE_PAGE, faces.len());
    Ok(Json(GroupFaces {
        group: id,
        faces,
        next_offset: next,
    }))
}

/// Merge group `from` into this group.
#[utoipa::path(post, path = "/v1/people/{id}/merge", request_body = MergeRequest,
    params(("id" = u64, Path, description = "The group that stays")),
    responses((status = 200, body = GroupFaces), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn merge(
    State(st): State<AppState>,
    Path(id): Path<u64>,
    body: Result<Json<MergeRequest>, JsonRejection>,
) -> ApiResult<Json<GroupFaces>> {
    let req = json_body(body)?;
    let faces = with_people(&st, move |p| {
        p.merge(id, req.from)?;
        p.faces_window(Some(id), 0, MAX_PEOPLE_PAGE)
    })
    .await?;
    let next = next_offset(0, MAX_PEOPLE_PAGE, faces.len());
    Ok(Json(GroupFaces {
        group: id,
        faces,
        next_offset: next,
    }))
}

/// Put a face in a group, or take it out of every group (`"group": null`).
#[utoipa::path(put, path = "/v1/people/faces/{id}", request_body = MoveRequest,
    params(("id" = u64, Path, description = "Face id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn move_face(
    State(st): State<AppState>,
    Path(id): Path<u64>,
    body: Result<Json<MoveRequest>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let req = json_body(body)?;
    with_people(&st, move |p| p.move_face(id, req.group)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A scanned face's aligned crop (PNG).
#[utoipa::path(get, path = "/v1/people/faces/{id}/thumbnail", params(("id" = u64, Path, description = "Face id")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn thumbnail(State(st): State<AppState>, Path(id): Path<u64>) -> ApiResult<Response> {
    let png = with_people(&st, move |p| p.thumbnail_png(id)).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Forget the groups nobody named or edited and group their faces again.
#[utoipa::path(post, path = "/v1/people/recluster", responses((status = 200, body = ClusterReport)),
    security(("bearer" = [])))]
pub async fn recluster(State(st): State<AppState>) -> ApiResult<Json<ClusterReport>> {
    let r = with_people(&st, |p| p.recluster(&Params::default())).await?;
    Ok(Json(r))
}

/// Every scanned photo showing the person of an embedding, best first.
#[utoipa::path(post, path = "/v1/people/find", request_body = FindRequest,
    responses((status = 200, body = FindResponse), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn find(
    State(st): State<AppState>,
    body: Result<Json<FindRequest>, JsonRejection>,
) -> ApiResult<Json<FindResponse>> {
    let req = json_body(body)?;
    let e = normalised(req.embedding)?;
    let limit = req.limit.min(MAX_FIND);
    let photos = with_people(&st, move |p| p.find(&e, limit)).await?;
    Ok(Json(FindResponse { photos }))
}

/// Query of `POST /v1/people/photos`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// The photo's key in the library (a path or a name; a key already there is refused).
    /// Percent-encoded UTF-8: a value that does not decode to valid UTF-8 is refused, never
    /// stored with characters replaced.
    pub path: String,
}

impl PhotoQuery {
    /// Reads `path` from the raw query exactly: no other parameter, valid UTF-8 after
    /// percent-decoding (the lenient extractors would replace bad bytes with U+FFFD, and two
    /// different names would share one key).
    fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let mut path = None;
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k != "path" {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{}`; this route takes `path`",
                    k.chars().take(64).collect::<String>()
                )));
            }
            let v = v.replace('+', " ");
            let decoded = percent_encoding::percent_decode_str(&v)
                .decode_utf8()
                .map_err(|_| {
                    ApiError::BadRequest(
                        "`path` is not valid UTF-8 once percent-decoded; send the name as UTF-8"
                            .into(),
                    )
                })?;
            if path.replace(decoded.into_owned()).is_some() {
                return Err(ApiError::BadRequest("`path` is given twice".into()));
            }
        }
        let path = path.ok_or_else(|| {
            ApiError::BadRequest("the query parameter `path` (the photo's key) is required".into())
        })?;
        Ok(Self { path })
    }
}

/// Analyse a photo, add its faces to the library and group them (incrementally).
#[utoipa::path(post, path = "/v1/people/photos", params(PhotoQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An encoded image, raw or as the `image` part of a multipart form"),
    responses((status = 201, body = PhotoAdded), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_photo(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<(StatusCode, Json<PhotoAdded>)> {
    let q = PhotoQuery::parse(raw.as_deref())?;
    // A role without the gallery refuses before any analysis is done.
    st.gallery()?;
    let analysed = st
        .deadline(async { analyse_request(&st, req, 0, false).await })
        .await?;
    let added = with_people(&st, move |p| {
        let (analysis, aligned) = (analysed.analysis, analysed.aligned);
        let faces: Vec<NewScannedFace<'_>> = analysis
            .faces
            .iter()
            .zip(&aligned)
            .map(|(f, aligned)| NewScannedFace::of(f, aligned))
            .collect();
        let ids = p.add_photo(&q.path, analysis.width_px, analysis.height_px, &faces)?;
        let cluster = p.cluster(&Params::default())?;
        Ok(PhotoAdded {
            path: q.path,
            faces: ids,
            cluster,
            analysis,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(added)))
}
