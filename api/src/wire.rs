//! The `/v1` wire format between facelens clients (the connected desktop, other roles) and
//! `facelens-server`: request and response bodies. The server's OpenAPI document is generated from
//! these types, and the desktop (de)serialises the same types, so the two cannot drift.
//!
//! Images travel inside JSON as standard base64 of an encoded image; face crops are PNG (lossless,
//! so the server sees exactly the pixels the client cut).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use facelens_core::api::{Analysis, Attributes, BoxPx, Detection, Match};
use facelens_core::error::CoreError;
use facelens_core::gallery::Entry;
use facelens_core::image_io::{self, DecodeLimits};
use facelens_core::people::{ClusterReport, PeopleGroup, PhotoMatch, ScannedFace};
use facelens_core::stages::{EncodedFace, FaceInput, Preprocessed};

/// One face, cut by the client: what `/v1/faces`, `/v1/embed` and `/v1/attributes` take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceCrop {
    /// Base64 PNG of the 112×112 ArcFace-aligned crop.
    pub aligned_png: String,
    /// Base64 PNG of the photo around the face at native resolution (see `stages::patch_rect`).
    pub patch_png: String,
    /// The detector box in patch pixels.
    pub bbox_in_patch: BoxPx,
}

/// Base64 of an image encoded as PNG (fast compression).
///
/// # Errors
/// [`CoreError::InvalidRequest`] if encoding fails.
pub fn png_base64(img: &RgbImage) -> Result<String, CoreError> {
    let mut buf = Vec::with_capacity(img.as_raw().len() / 2);
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut buf,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    img.write_with_encoder(encoder)
        .map_err(|e| CoreError::InvalidRequest(format!("PNG encoding: {e}")))?;
    Ok(STANDARD.encode(buf))
}

/// Base64 PNG of a face's aligned crop: the PNG it arrived as (`arrived_as`), else `aligned`
/// freshly encoded.
///
/// # Errors
/// As [`png_base64`].
pub fn aligned_base64(
    aligned: &RgbImage,
    arrived_as: Option<&EncodedFace>,
) -> Result<String, CoreError> {
    match arrived_as {
        Some(e) => Ok(STANDARD.encode(&e.aligned_png)),
        None => png_base64(aligned),
    }
}

/// Side of the aligned crop (px): the only size `aligned_png` may have.
pub const ALIGNED_SIDE_PX: u32 = 112;
/// Largest side of a face patch (px). The patch is 1.5× the face box; the attribute models look
/// at it scaled down to at most 224 px, so larger patches only cost memory.
pub const MAX_PATCH_SIDE_PX: u32 = 4096;

fn base64_bytes(b64: &str, field: &str) -> Result<Vec<u8>, CoreError> {
    STANDARD
        .decode(b64.trim())
        .map_err(|e| CoreError::InvalidRequest(format!("{field}: base64: {e}")))
}

/// Decodes a base64 aligned crop, refusing anything but 112×112 from its header.
///
/// # Errors
/// Bad base64, a bad image, or another size.
pub fn aligned_from_base64(b64: &str) -> Result<RgbImage, CoreError> {
    let bytes = base64_bytes(b64, "aligned_png")?;
    decode_aligned(&bytes, image_io::dimensions(&bytes)?)
}

/// Decodes an aligned crop whose header declared `dims`, refusing anything but 112×112.
fn decode_aligned(bytes: &[u8], (w, h): (u32, u32)) -> Result<RgbImage, CoreError> {
    if (w, h) != (ALIGNED_SIDE_PX, ALIGNED_SIDE_PX) {
        return Err(CoreError::InvalidRequest(format!(
            "aligned_png is {w}x{h} px; it must be {ALIGNED_SIDE_PX}x{ALIGNED_SIDE_PX}"
        )));
    }
    Ok(image_io::decode(bytes, DecodeLimits::default())?)
}

/// Decodes a base64 gallery thumbnail, refusing one larger than
/// [`facelens_core::gallery::MAX_THUMBNAIL_SIDE_PX`] from its header.
///
/// # Errors
/// Bad base64, a bad image, or one too large.
pub fn thumbnail_from_base64(b64: &str) -> Result<RgbImage, CoreError> {
    let bytes = base64_bytes(b64, "thumbnail_png")?;
    let (w, h) = image_io::dimensions(&bytes)?;
    let max = facelens_core::gallery::MAX_THUMBNAIL_SIDE_PX;
    if w > max || h > max {
        return Err(CoreError::InvalidRequest(format!(
            "thumbnail_png is {w}x{h} px; at most {max}x{max}"
        )));
    }
    Ok(image_io::decode_picture(&bytes, DecodeLimits::default())?)
}

/// Checks a face box against the patch it was cut with: finite, non-empty, overlapping the patch,
/// and no larger than a patch of that size can hold (the patch is 1.5× the box, clipped to the
/// photo, so a box may reach past a clipped patch but not be many times its size).
///
/// # Errors
/// [`CoreError::InvalidRequest`] naming what is wrong.
pub fn check_box_in_patch(b: &BoxPx, patch_w: u32, patch_h: u32) -> Result<(), CoreError> {
    let bad = |why: &str| {
        Err(CoreError::InvalidRequest(format!(
            "bbox_in_patch ({}, {})-({}, {}) {why} (patch {patch_w}x{patch_h} px)",
            b.x1, b.y1, b.x2, b.y2
        )))
    };
    if ![b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()) {
        return bad("is not finite");
    }
    if b.x2 <= b.x1 || b.y2 <= b.y1 {
        return bad("is empty");
    }
    let (w, h) = (patch_w as f32, patch_h as f32);
    if b.x2 <= 0.0 || b.y2 <= 0.0 || b.x1 >= w || b.y1 >= h {
        return bad("lies outside the patch");
    }
    let side = w.max(h);
    if b.width() > 2.0 * side + 16.0 || b.height() > 2.0 * side + 16.0 {
        return bad("is far larger than its patch");
    }
    Ok(())
}

/// A face crop with its base64 decoded and its two image headers read, no pixel decoded yet:
/// what a server checks against its limits before paying for the pixels.
#[derive(Debug)]
pub struct CropHeaders {
    aligned: Vec<u8>,
    aligned_dims: (u32, u32),
    patch: Vec<u8>,
    patch_dims: (u32, u32),
    bbox_in_patch: BoxPx,
}

impl CropHeaders {
    /// Pixels the two images declare.
    #[must_use]
    pub fn declared_pixels(&self) -> u64 {
        [self.aligned_dims, self.patch_dims]
            .iter()
            .map(|&(w, h)| u64::from(w) * u64::from(h))
            .sum()
    }

    /// Checks the sizes (the aligned crop must be 112×112, the patch at most
    /// [`MAX_PATCH_SIDE_PX`] a side and within `limits`, the box must fit the patch:
    /// [`check_box_in_patch`]), then decodes.
    ///
    /// # Errors
    /// [`CoreError::InvalidRequest`] for a size or box out of bounds, [`CoreError::Image`] for
    /// a bad image.
    pub fn decode(self, limits: DecodeLimits) -> Result<FaceInput, CoreError> {
        let (pw, ph) = self.patch_dims;
        if pw > MAX_PATCH_SIDE_PX || ph > MAX_PATCH_SIDE_PX {
            return Err(CoreError::InvalidRequest(format!(
                "patch_png is {pw}x{ph} px; at most {MAX_PATCH_SIDE_PX} px a side"
            )));
        }
        check_box_in_patch(&self.bbox_in_patch, pw, ph)?;
        Ok(FaceInput {
            aligned: decode_aligned(&self.aligned, self.aligned_dims)?,
            patch: image_io::decode(&self.patch, limits)?,
            bbox_in_patch: self.bbox_in_patch,
            arrived_as: Some(Arc::new(EncodedFace {
                aligned_png: self.aligned,
                patch_png: self.patch,
            })),
        })
    }
}

impl FaceCrop {
    /// Decodes the base64 and reads both image headers (no pixel is decoded).
    ///
    /// # Errors
    /// Bad base64 or an unreadable header.
    pub fn headers(&self) -> Result<CropHeaders, CoreError> {
        let aligned = base64_bytes(&self.aligned_png, "aligned_png")?;
        let aligned_dims = image_io::dimensions(&aligned)?;
        let patch = base64_bytes(&self.patch_png, "patch_png")?;
        let patch_dims = image_io::dimensions(&patch)?;
        Ok(CropHeaders {
            aligned,
            aligned_dims,
            patch,
            patch_dims,
            bbox_in_patch: self.bbox_in_patch,
        })
    }

    /// Encodes a face for the wire: the PNGs it arrived as when it came over the wire (only the
    /// base64 is redone), else freshly encoded.
    ///
    /// # Errors
    /// As [`png_base64`].
    pub fn encode(face: &FaceInput) -> Result<Self, CoreError> {
        Ok(Self {
            aligned_png: aligned_base64(&face.aligned, face.arrived_as.as_deref())?,
            patch_png: match &face.arrived_as {
                Some(e) => STANDARD.encode(&e.patch_png),
                None => png_base64(&face.patch)?,
            },
            bbox_in_patch: face.bbox_in_patch,
        })
    }

    /// Decodes a face from the wire: [`FaceCrop::headers`], then [`CropHeaders::decode`]. Sizes
    /// are checked from the headers before any pixel is decoded.
    ///
    /// # Errors
    /// As those two.
    pub fn decode(&self, limits: DecodeLimits) -> Result<FaceInput, CoreError> {
        self.headers()?.decode(limits)
    }
}

fn default_top_k() -> usize {
    5
}

fn yes() -> bool {
    true
}

/// `POST /v1/faces`: embed, analyse and match faces the client detected and aligned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacesRequest {
    /// The faces.
    pub faces: Vec<FaceCrop>,
    /// Gallery matches per face.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Search the server's gallery.
    #[serde(default = "yes")]
    pub search: bool,
}

/// What the server computed for one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FaceResult {
    /// L2-normalised 512-d embedding.
    pub embedding: Vec<f32>,
    /// Attribute estimates.
    pub attributes: Attributes,
    /// Best gallery matches, best first.
    pub matches: Vec<Match>,
}

/// Server-side milliseconds per stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerTimings {
    /// Embedding, including queueing and batching.
    pub embed_ms: f64,
    /// Attributes, including queueing and batching.
    pub analyze_ms: f64,
    /// Gallery search.
    pub search_ms: f64,
    /// The whole request on the server.
    pub total_ms: f64,
}

/// Response of `POST /v1/faces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FacesResponse {
    /// One result per requested face, same order.
    pub faces: Vec<FaceResult>,
    /// Where the time went.
    pub timings: ServerTimings,
}

/// `POST /v1/embed` (the embed role): embeddings of aligned crops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// Base64 PNGs of 112×112 aligned crops.
    pub aligned_png: Vec<String>,
}

/// Response of `POST /v1/embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbedResponse {
    /// One L2-normalised embedding per crop.
    pub embeddings: Vec<Vec<f32>>,
}

/// `POST /v1/attributes` (the analyze role): attributes of faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesRequest {
    /// The faces.
    pub faces: Vec<FaceCrop>,
}

/// Response of `POST /v1/attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttributesResponse {
    /// One estimate per face.
    pub attributes: Vec<Attributes>,
}

/// Response of `POST /v1/preprocess` (the preprocess role): detections and cut faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreprocessResponse {
    /// Image width after EXIF orientation.
    pub width_px: u32,
    /// Image height after EXIF orientation.
    pub height_px: u32,
    /// Faces found, largest first.
    pub detections: Vec<Detection>,
    /// One crop per detection.
    pub faces: Vec<FaceCrop>,
    /// Why no face was found, when none was.
    pub no_face_reason: Option<String>,
    /// Decode time.
    pub decode_ms: f64,
    /// Detection time.
    pub detect_ms: f64,
    /// Alignment time.
    pub align_ms: f64,
}

impl PreprocessResponse {
    /// Encodes a stage-1 result.
    ///
    /// # Errors
    /// As [`png_base64`].
    pub fn encode(pre: &Preprocessed, decode_ms: f64) -> Result<Self, CoreError> {
        Ok(Self {
            width_px: pre.width_px,
            height_px: pre.height_px,
            detections: pre.detections.clone(),
            faces: pre
                .faces
                .iter()
                .map(FaceCrop::encode)
                .collect::<Result<_, _>>()?,
            no_face_reason: pre.no_face_reason.clone(),
            decode_ms,
            detect_ms: pre.detect_ms,
            align_ms: pre.align_ms,
        })
    }

    /// Decodes into a stage-1 result.
    ///
    /// # Errors
    /// As [`FaceCrop::decode`]; [`CoreError::InvalidRequest`] when the lists disagree.
    pub fn decode(&self, limits: DecodeLimits) -> Result<Preprocessed, CoreError> {
        if self.faces.len() != self.detections.len() {
            return Err(CoreError::InvalidRequest(
                "preprocess response: faces and detections differ in number".into(),
            ));
        }
        Ok(Preprocessed {
            width_px: self.width_px,
            height_px: self.height_px,
            detections: self.detections.clone(),
            faces: self
                .faces
                .iter()
                .map(|f| f.decode(limits))
                .collect::<Result<_, _>>()?,
            no_face_reason: self.no_face_reason.clone(),
            detect_ms: self.detect_ms,
            align_ms: self.align_ms,
        })
    }
}

/// `POST /v1/search`: the gallery's best matches for an embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A 512-d embedding (normalised by the server).
    pub embedding: Vec<f32>,
    /// How many people.
    #[serde(default = "default_top_k")]
    pub k: usize,
}

/// Matches, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// Best first.
    pub matches: Vec<Match>,
}

/// `POST /v1/gallery`: enrol a face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// Person's name.
    pub name: String,
    /// Where the face came from (free text).
    #[serde(default)]
    pub source: String,
    /// Its 512-d embedding.
    pub embedding: Vec<f32>,
    /// Base64 PNG thumbnail (the aligned crop).
    pub thumbnail_png: String,
}

/// `PATCH /v1/gallery/{id}`: rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// New name.
    pub name: String,
}

/// A gallery entry as listed: everything but the embedding, and its thumbnail when asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntrySummary {
    /// Stable face id (never reused).
    pub id: u64,
    /// Person's name.
    pub name: String,
    /// Where the face came from (file path or URL), as given at enrolment.
    pub source: String,
    /// Enrolment time, seconds since the Unix epoch.
    pub enrolled_at_unix_s: u64,
    /// The person this face belongs to.
    pub person_id: u64,
    /// The detector's score for this face, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_score: Option<f32>,
    /// Base64 PNG of the aligned-face thumbnail (`?thumbnails=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_png: Option<String>,
}

impl From<&Entry> for EntrySummary {
    fn from(e: &Entry) -> Self {
        Self {
            id: e.id,
            name: e.name.clone(),
            source: e.source.clone(),
            enrolled_at_unix_s: e.enrolled_at_unix_s,
            person_id: e.person_id,
            detector_score: e.detector_score,
            thumbnail_png: None,
        }
    }
}

/// Largest page `GET /v1/gallery` returns.
pub const MAX_GALLERY_PAGE: usize = 1000;

/// `GET /v1/gallery`: one page of entries, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GalleryList {
    /// Entries, by id.
    pub entries: Vec<EntrySummary>,
    /// Where the next page starts (`?after_id=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_id: Option<u64>,
}

/// `GET /v1/people` and `facelens people list --json`: the groups, largest first, and the
/// unsorted faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeopleList {
    /// Groups, largest first.
    pub groups: Vec<PeopleGroup>,
    /// Faces in no group (low quality, or taken out by the user).
    pub unsorted: Vec<ScannedFace>,
    /// Where the next page starts (`?offset=`), when either list had more; absent on the last
    /// page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// `GET /v1/people/{id}`: a group's faces, best quality first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupFaces {
    /// The group.
    pub group: u64,
    /// Its faces (one page).
    pub faces: Vec<ScannedFace>,
    /// Where the next page starts (`?offset=`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// `POST /v1/people/{id}/merge`: merge group `from` into the group in the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The group merged away.
    pub from: u64,
}

/// `PUT /v1/people/faces/{id}`: put a face in a group, or in none (unsorted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Target group; `null` takes the face out of every group. Required: a body without it is
    /// refused rather than read as `null`.
    #[serde(deserialize_with = "required_nullable")]
    pub group: Option<u64>,
}

/// A field that must be present and may be `null` (serde reads a missing `Option` as `None`
/// unless told otherwise).
fn required_nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// `POST /v1/people/find`: the scanned photos showing the person of an embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    /// A 512-d embedding (normalised by the server).
    pub embedding: Vec<f32>,
    /// Most photos to return (default 50, at most 1000).
    #[serde(default = "default_find_limit")]
    pub limit: usize,
}

fn default_find_limit() -> usize {
    50
}

/// Answer to [`FindRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FindResponse {
    /// Photos, best first.
    pub photos: Vec<PhotoMatch>,
}

/// `POST /v1/people/photos`: a photo analysed, added to the library and its faces grouped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PhotoAdded {
    /// The photo's key in the library.
    pub path: String,
    /// The ids of its faces, in the analysis's order.
    pub faces: Vec<u64>,
    /// What the grouping did.
    pub cluster: ClusterReport,
    /// The analysis.
    pub analysis: Analysis,
}

/// `POST /v1/verify`: are two photos the same person (the largest face of each)?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Base64 of the first encoded image.
    pub image_a: String,
    /// Base64 of the second encoded image.
    pub image_b: String,
}

/// Response of `POST /v1/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// Cosine similarity of the two embeddings.
    pub cosine: f32,
    /// Calibrated probability of the same person.
    pub score: f32,
    /// Whether `cosine` reaches the same-person threshold.
    pub same_person: bool,
    /// The threshold used.
    pub threshold: f32,
    /// The face used in image A.
    pub face_a: Detection,
    /// The face used in image B.
    pub face_b: Detection,
}

/// `GET /v1/version`: what is running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    /// "facelens-server".
    pub name: String,
    /// Crate version.
    pub version: String,
    /// [`facelens_core::api::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The server's role.
    pub role: String,
    /// Execution provider ("cpu", "cuda", …).
    pub provider: String,
    /// Whether models and gallery are loaded.
    pub ready: bool,
}

/// Every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (e.g. `image_too_large`, `overloaded`).
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

/// Response of `POST /v1/analyze`: the same [`Analysis`] the local pipeline returns.
pub type AnalyzeResponse = Analysis;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_crop_round_trips_losslessly() {
        let img = RgbImage::from_fn(112, 112, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 2) as u8, (x ^ y) as u8])
        });
        let patch = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let face = FaceInput {
            aligned: img,
            patch,
            bbox_in_patch: BoxPx {
                x1: 1.5,
                y1: 2.0,
                x2: 30.25,
                y2: 28.0,
            },
            arrived_as: None,
        };
        let wire = FaceCrop::encode(&face).expect("encode");
        let json = serde_json::to_string(&wire).expect("json");
        let back: FaceCrop = serde_json::from_str(&json).expect("parse");
        let decoded = back.decode(DecodeLimits::default()).expect("decode");
        assert_eq!(decoded, face);
        // A hop onwards forwards the very bytes that arrived.
        assert!(decoded.arrived_as.is_some());
        assert_eq!(FaceCrop::encode(&decoded).expect("forward"), wire);
    }

    #[test]
    fn bad_base64_is_an_invalid_request() {
        let e = aligned_from_base64("not base64!!");
        assert!(matches!(e, Err(CoreError::InvalidRequest(_))));
    }
}
