//! The `/v1` handlers. Each runs admitted under the in-flight cap (the router's `admit` layer),
//! under the request deadline, reserves the pixels it decodes against the memory budget
//! ([`crate::budget`]) before decoding them, and leaves every model run to the stage threads.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use facelens_api::wire::{
    AttributesRequest, AttributesResponse, EmbedRequest, EmbedResponse, EnrolRequest, EntrySummary,
    ErrorBody, FaceResult, FacesRequest, FacesResponse, GalleryList, MAX_GALLERY_PAGE,
    PreprocessResponse, RenameRequest, SearchRequest, SearchResponse, ServerTimings, VerifyRequest,
    VerifyResponse, VersionInfo, aligned_from_base64, thumbnail_from_base64,
};
use facelens_core::CoreError;
use facelens_core::api::Analysis;
use facelens_core::calibration::{SAME_PERSON_COSINE, is_same_person, same_person_score};
use facelens_core::gallery::Entry;
use facelens_core::models::embedder::{cosine, l2_normalize};
use facelens_core::pipeline::{
    AnalyzedImage, FaceAnalyzer, FaceStage, ImageInput, Pipeline, PipelineConfig,
};
use facelens_core::stages::FaceInput;
use serde::Deserialize;

use crate::budget::Reservation;
use crate::error::ApiError;
use crate::stages::{AttrStage, EmbedStage, ServerGallery};
use crate::state::{AppState, blocking};

type ApiResult<T> = Result<T, ApiError>;

const MAX_TOP_K: usize = 100;

/// Most bytes of entries (thumbnails included) in one gallery page: a page with thumbnails ends
/// early past it, with `next_after_id` saying where the next one starts.
pub const MAX_PAGE_BYTES: usize = 1 << 20;

pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    match body {
        Ok(Json(v)) => Ok(v),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::TooLarge(e.body_text()))
        }
        Err(e) => Err(ApiError::BadRequest(e.body_text())),
    }
}

/// The uploaded image: the raw body, or the `image` part (else the first part) of a multipart form.
async fn image_body(req: Request, st: &AppState) -> ApiResult<Vec<u8>> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let too_large = |status: StatusCode, text: String| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(text)
        } else {
            ApiError::BadRequest(text)
        }
    };
    if is_multipart {
        let mut form = Multipart::from_request(req, st)
            .await
            .map_err(|e| too_large(e.status(), e.body_text()))?;
        let mut first = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| too_large(e.status(), e.body_text()))?
        {
            let named_image = field.name() == Some("image");
            // A text field (no file name, text/* or no content type) is never the image.
            let is_file = field.file_name().is_some()
                || field
                    .content_type()
                    .is_some_and(|c| !c.starts_with("text/"));
            let data = field
                .bytes()
                .await
                .map_err(|e| too_large(e.status(), e.body_text()))?;
            if named_image {
                return Ok(data.to_vec());
            }
            if is_file {
                first.get_or_insert(data);
            }
        }
        first
            .map(|b| b.to_vec())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "the multipart form has no image part (send the image as a file part named `image`)"
                        .into(),
                )
            })
    } else {
        let body = Bytes::from_request(req, st)
            .await
            .map_err(|e| too_large(e.status(), e.body_text()))?;
        Ok(body.to_vec())
    }
}

fn check_count(st: &AppState, n: usize) -> ApiResult<()> {
    if n > st.config.max_faces {
        return Err(ApiError::TooLarge(format!(
            "{n} faces in one request; the limit is {}",
            st.config.max_faces
        )));
    }
    Ok(())
}

fn not_served(st: &AppState, what: &'static str) -> ApiError {
    ApiError::NotServed {
        role: st.config.role.name(),
        what,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The per-face half of the pipeline over this role's stages (here or upstream), and the
/// gallery to match against when `search` is asked and the role holds one.
fn face_stage(
    st: &AppState,
    search: bool,
) -> ApiResult<(FaceAnalyzer<EmbedStage, AttrStage>, Option<ServerGallery>)> {
    let stages = st.stages()?;
    let embed = stages
        .embed
        .clone()
        .ok_or_else(|| not_served(st, "embeddings"))?;
    let attrs = stages
        .attributes
        .clone()
        .ok_or_else(|| not_served(st, "attributes"))?;
    let gallery = if search && st.config.role.holds_gallery() {
        Some(ServerGallery(st.gallery()?))
    } else {
        None
    };
    Ok((FaceAnalyzer::new(embed, attrs), gallery))
}

/// Query of `POST /v1/analyze`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyzeQuery {
    /// Gallery matches per face (default 5).
    pub top_k: Option<usize>,
}

/// Analyse a whole image (for clients with no local pipeline).
#[utoipa::path(post, path = "/v1/analyze", params(AnalyzeQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An encoded image (JPEG, PNG, WebP, BMP, GIF, TIFF), raw or as the `image` part of a multipart form"),
    responses((status = 200, body = Analysis), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn analyze(
    State(st): State<AppState>,
    Query(q): Query<AnalyzeQuery>,
    req: Request,
) -> ApiResult<Json<Analysis>> {
    st.deadline(async {
        let r = analyse_request(&st, req, q.top_k.unwrap_or(5), true).await?;
        Ok(Json(r.analysis))
    })
    .await
}

/// Decodes the request's image and runs the pipeline on it (the aligned crops come back with the
/// analysis). The caller sets the deadline.
pub(crate) async fn analyse_request(
    st: &AppState,
    req: Request,
    top_k: usize,
    search: bool,
) -> ApiResult<AnalyzedImage> {
    let bytes = image_body(req, st).await?;
    let _pixels = reserve_pixels(st, &bytes)?;
    let pre = st
        .stages()?
        .preprocess
        .clone()
        .ok_or_else(|| not_served(st, "image analysis"))?;
    let (faces, gallery) = face_stage(st, search)?;
    let config = PipelineConfig {
        decode: st.limits(),
        top_k: top_k.min(MAX_TOP_K),
        ..PipelineConfig::default()
    };
    Pipeline::new(pre, faces, config)
        .analyze(ImageInput::Encoded(bytes.into()), gallery.as_ref())
        .await
}

/// Reserves the memory that decoding and analysing a whole image will hold, from its header
/// (an image whose header cannot be read reserves nothing: the decoder refuses it with its own
/// error).
fn reserve_pixels(st: &AppState, bytes: &[u8]) -> ApiResult<Option<Reservation>> {
    let Ok((w, h)) = facelens_core::image_io::dimensions(bytes) else {
        return Ok(None);
    };
    let pixels = u64::from(w) * u64::from(h);
    if pixels > st.config.max_pixels {
        // The decoder's own limit answers, with the image's size.
        return Ok(None);
    }
    st.budget
        .reserve(
            pixels * crate::budget::DECODED_BYTES_PER_PIXEL,
            &format!("a {w}x{h} image"),
        )
        .map(Some)
}

async fn decode_crops(
    st: &AppState,
    crops: Vec<facelens_api::wire::FaceCrop>,
) -> ApiResult<(Vec<FaceInput>, Reservation)> {
    check_count(st, crops.len())?;
    let limits = st.limits();
    let budget = st.budget.clone();
    blocking(move || {
        // The whole request's pixels, from the headers, before any crop is decoded.
        let headers = crops
            .iter()
            .map(|c| c.headers().map_err(ApiError::Core))
            .collect::<ApiResult<Vec<_>>>()?;
        let declared = headers
            .iter()
            .fold(0u64, |n, h| n.saturating_add(h.declared_pixels()));
        if declared > limits.max_pixels {
            return Err(ApiError::TooLarge(format!(
                "the request's face crops declare {declared} pixels; at most {} per request",
                limits.max_pixels
            )));
        }
        let held = budget.reserve(
            declared * crate::budget::DECODED_BYTES_PER_PIXEL,
            &format!("face crops of {declared} pixels"),
        )?;
        let faces = headers
            .into_iter()
            .map(|h| h.decode(limits).map_err(ApiError::Core))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok((faces, held))
    })
    .await
}

/// Embed, analyse and match faces the client detected and aligned (connected mode).
#[utoipa::path(post, path = "/v1/faces", request_body = FacesRequest,
    responses((status = 200, body = FacesResponse), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn faces(
    State(st): State<AppState>,
    body: Result<Json<FacesRequest>, JsonRejection>,
) -> ApiResult<Json<FacesResponse>> {
    st.deadline(async {
        let t0 = Instant::now();
        let req = json_body(body)?;
        let (inputs, _pixels) = decode_crops(&st, req.faces).await?;
        let (mut stage, gallery) = face_stage(&st, req.search)?;
        let r = stage
            .run(&inputs, gallery.as_ref(), req.top_k.min(MAX_TOP_K))
            .await?;
        let timings = ServerTimings {
            embed_ms: r.embed_ms,
            analyze_ms: r.analyze_ms,
            search_ms: r.search_ms,
            total_ms: ms(t0),
        };
        let faces = r
            .embeddings
            .into_iter()
            .zip(r.attributes)
            .zip(r.matches)
            .map(|((embedding, attributes), matches)| FaceResult {
                embedding,
                attributes,
                matches,
            })
            .collect();
        Ok(Json(FacesResponse { faces, timings }))
    })
    .await
}

/// Stage 1 (the preprocess role): detect, align and cut the faces of an image.
#[utoipa::path(post, path = "/v1/preprocess",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = PreprocessResponse), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preprocess(
    State(st): State<AppState>,
    req: Request,
) -> ApiResult<Json<PreprocessResponse>> {
    st.deadline(async {
        let bytes = image_body(req, &st).await?;
        let _pixels = reserve_pixels(&st, &bytes)?;
        let stage = match &st.stages()?.preprocess {
            Some(s @ crate::stages::PreStage::Local(_)) => s,
            Some(crate::stages::PreStage::Remote(_)) | None => {
                return Err(not_served(&st, "/v1/preprocess"));
            }
        };
        let (pre, decode_ms) = stage.run(bytes, st.limits()).await?;
        let r =
            blocking(move || PreprocessResponse::encode(&pre, decode_ms).map_err(ApiError::Core))
                .await?;
        Ok(Json(r))
    })
    .await
}

/// Stage 2 (the embed role): embeddings of aligned crops.
#[utoipa::path(post, path = "/v1/embed", request_body = EmbedRequest,
    responses((status = 200, body = EmbedResponse), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn embed(
    State(st): State<AppState>,
    body: Result<Json<EmbedRequest>, JsonRejection>,
) -> ApiResult<Json<EmbedResponse>> {
    st.deadline(async {
        let req = json_body(body)?;
        check_count(&st, req.aligned_png.len())?;
        let crops = blocking(move || {
            req.aligned_png
                .iter()
                .map(|b| aligned_from_base64(b).map_err(ApiError::Core))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
        let embeddings = st
            .stages()?
            .embed
            .as_ref()
            .ok_or_else(|| not_served(&st, "embeddings"))?
            .run(crops)
            .await?;
        Ok(Json(EmbedResponse { embeddings }))
    })
    .await
}

/// Stage 3 (the analyze role): age, gender, race and emotion of faces.
#[utoipa::path(post, path = "/v1/attributes", request_body = AttributesRequest,
    responses((status = 200, body = AttributesResponse), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn attributes(
    State(st): State<AppState>,
    body: Result<Json<AttributesRequest>, JsonRejection>,
) -> ApiResult<Json<AttributesResponse>> {
    st.deadline(async {
        let req = json_body(body)?;
        let (inputs, _pixels) = decode_crops(&st, req.faces).await?;
        let attributes = st
            .stages()?
            .attributes
            .as_ref()
            .ok_or_else(|| not_served(&st, "attributes"))?
            .run(inputs)
            .await?;
        Ok(Json(AttributesResponse { attributes }))
    })
    .await
}

/// A query embedding scaled to unit length.
pub(crate) fn normalised(mut v: Vec<f32>) -> ApiResult<Vec<f32>> {
    if v.iter().any(|x| !x.is_finite()) || !l2_normalize(&mut v).is_normal() {
        return Err(ApiError::Core(CoreError::InvalidRequest(
            "the embedding must be finite and non-zero".into(),
        )));
    }
    Ok(v)
}

/// The gallery's best matches for an embedding.
#[utoipa::path(post, path = "/v1/search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    State(st): State<AppState>,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> ApiResult<Json<SearchResponse>> {
    let req = json_body(body)?;
    let e = normalised(req.embedding)?;
    let k = req.k.min(MAX_TOP_K);
    let gallery = st.gallery()?;
    let matches =
        blocking(move || gallery.search(&e, k).map_err(|e| ApiError::Core(e.into()))).await?;
    Ok(Json(SearchResponse { matches }))
}

/// Query of `GET /v1/gallery`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GalleryQuery {
    /// List entries with ids above this one (default 0: from the start).
    pub after_id: Option<u64>,
    /// Entries per page (default and most: 1000). A page also ends after about 1 MiB of
    /// entries (thumbnails included): follow `next_after_id` until it is absent.
    pub limit: Option<usize>,
    /// Include each entry's thumbnail (base64 PNG).
    pub thumbnails: Option<bool>,
}

/// One page of gallery entries, by id, without embeddings.
#[utoipa::path(get, path = "/v1/gallery", params(GalleryQuery),
    responses((status = 200, body = GalleryList)), security(("bearer" = [])))]
pub async fn gallery_list(
    State(st): State<AppState>,
    Query(q): Query<GalleryQuery>,
) -> ApiResult<Json<GalleryList>> {
    let gallery = st.gallery()?;
    let limit = q
        .limit
        .unwrap_or(MAX_GALLERY_PAGE)
        .clamp(1, MAX_GALLERY_PAGE);
    let list = blocking(move || {
        let core = |e: facelens_core::GalleryError| ApiError::Core(e.into());
        let page = gallery
            .entries_after(q.after_id.unwrap_or(0), limit)
            .map_err(core)?;
        let mut next_after_id = page.last().map(|e| e.id).filter(|_| page.len() == limit);
        let mut entries = Vec::with_capacity(page.len());
        let mut bytes = 0usize;
        for e in &page {
            if bytes >= MAX_PAGE_BYTES {
                // The page is full by size: it ends here, and the next one starts after it.
                next_after_id = entries.last().map(|s: &EntrySummary| s.id);
                break;
            }
            let mut s = EntrySummary::from(e);
            if q.thumbnails == Some(true) {
                // An entry deleted since the page was read has no thumbnail: listed without.
                s.thumbnail_png = gallery
                    .thumbnail_png(e.id)
                    .ok()
                    .map(|png| base64::engine::general_purpose::STANDARD.encode(png));
            }
            bytes += s.name.len()
                + s.source.len()
                + s.thumbnail_png.as_ref().map_or(0, String::len)
                + 128;
            entries.push(s);
        }
        Ok(GalleryList {
            entries,
            next_after_id,
        })
    })
    .await?;
    Ok(Json(list))
}

fn entry_of(g: &facelens_core::gallery::Gallery, id: u64) -> ApiResult<Entry> {
    g.entry(id).map_err(|e| ApiError::Core(e.into()))
}

/// Enrol a face.
#[utoipa::path(post, path = "/v1/gallery", request_body = EnrolRequest,
    responses((status = 201, body = Entry), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn gallery_enrol(
    State(st): State<AppState>,
    body: Result<Json<EnrolRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Entry>)> {
    let req = json_body(body)?;
    let gallery = st.gallery()?;
    let entry = blocking(move || {
        let thumb = thumbnail_from_base64(&req.thumbnail_png)?;
        let id = gallery
            .enrol(&req.name, &req.source, &req.embedding, &thumb)
            .map_err(|e| ApiError::Core(e.into()))?;
        entry_of(&gallery, id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Rename an entry.
#[utoipa::path(patch, path = "/v1/gallery/{id}", request_body = RenameRequest,
    params(("id" = u64, Path, description = "Entry id")),
    responses((status = 200, body = Entry), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn gallery_rename(
    State(st): State<AppState>,
    Path(id): Path<u64>,
    body: Result<Json<RenameRequest>, JsonRejection>,
) -> ApiResult<Json<Entry>> {
    let req = json_body(body)?;
    let gallery = st.gallery()?;
    let entry = blocking(move || {
        gallery
            .rename(id, &req.name)
            .map_err(|e| ApiError::Core(e.into()))?;
        entry_of(&gallery, id)
    })
    .await?;
    Ok(Json(entry))
}

/// Delete an entry.
#[utoipa::path(delete, path = "/v1/gallery/{id}", params(("id" = u64, Path, description = "Entry id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn gallery_delete(
    State(st): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<StatusCode> {
    let gallery = st.gallery()?;
    blocking(move || gallery.delete(id).map_err(|e| ApiError::Core(e.into()))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An entry's thumbnail (PNG).
#[utoipa::path(get, path = "/v1/gallery/{id}/thumbnail", params(("id" = u64, Path, description = "Entry id")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn gallery_thumbnail(
    State(st): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Response> {
    let gallery = st.gallery()?;
    let png = blocking(move || {
        gallery
            .thumbnail_png(id)
            .map_err(|e| ApiError::Core(e.into()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Are two photos the same person? Compares the largest face of each.
#[utoipa::path(post, path = "/v1/verify", request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn verify(
    State(st): State<AppState>,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> ApiResult<Json<VerifyResponse>> {
    st.deadline(async {
        let req = json_body(body)?;
        let stages = st.stages()?;
        let pre = stages
            .preprocess
            .as_ref()
            .ok_or_else(|| not_served(&st, "verification"))?;
        let embed = stages
            .embed
            .as_ref()
            .ok_or_else(|| not_served(&st, "verification"))?;
        let mut faces = Vec::new();
        for (label, b64) in [("A", &req.image_a), ("B", &req.image_b)] {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ApiError::BadRequest(format!("image {label}: base64: {e}")))?;
            let pixels = reserve_pixels(&st, &bytes)?;
            let (mut p, _) = pre.run(bytes, st.limits()).await?;
            drop(pixels);
            if p.faces.is_empty() {
                return Err(ApiError::Core(CoreError::InvalidRequest(format!(
                    "no face in image {label}: {}",
                    p.no_face_reason.unwrap_or_default()
                ))));
            }
            faces.push((p.detections.swap_remove(0), p.faces.swap_remove(0)));
        }
        let aligned = faces.iter().map(|(_, f)| f.aligned.clone()).collect();
        let e = embed.run(aligned).await?;
        let c = match e.as_slice() {
            [a, b] => cosine(a, b),
            _ => return Err(ApiError::Internal("expected two embeddings".into())),
        };
        let mut faces = faces.into_iter().map(|(d, _)| d);
        let (Some(face_a), Some(face_b)) = (faces.next(), faces.next()) else {
            return Err(ApiError::Internal("expected two faces".into()));
        };
        Ok(Json(VerifyResponse {
            cosine: c,
            score: same_person_score(c),
            same_person: is_same_person(c),
            threshold: SAME_PERSON_COSINE,
            face_a,
            face_b,
        }))
    })
    .await
}

/// What is running (also the desktop's "test connection").
#[utoipa::path(get, path = "/v1/version", responses((status = 200, body = VersionInfo)), security(("bearer" = [])))]
pub async fn version(State(st): State<AppState>) -> Json<VersionInfo> {
    Json(VersionInfo {
        name: "facelens-server".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        schema_version: facelens_core::api::SCHEMA_VERSION,
        role: st.config.role.name().into(),
        provider: format!("{:?}", st.config.provider).to_lowercase(),
        ready: st.ready(),
    })
}
