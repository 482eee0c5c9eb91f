//! The small traits the orchestrator is built from, and their in-process implementations.
//!
//! Each stage is an `async` step so that one orchestrator serves every caller: the desktop and
//! the CLI drive it with a blocking executor (their stages finish inside the first poll), the
//! server awaits stage threads and other roles. Implementations never run inference or image
//! coding on the caller's async workers: in-process stages are only ever driven by blocking
//! callers, and the server's stages hand work to its named stage threads.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::time::Instant;

use image::RgbImage;

use crate::api::{Attributes, Match};
use crate::error::CoreError;
use crate::gallery::Gallery;
use crate::image_io::{self, DecodeLimits};
use crate::models::mtcnn::MtcnnConfig;
use crate::stages::{AttributeStage, FaceInput, IdentityStage, Preprocessed, Preprocessor, ms};

/// An image handed to the pipeline.
#[derive(Debug, Clone)]
pub enum ImageInput<'a> {
    /// Encoded bytes (a file's contents, a drop, an upload).
    Encoded(Cow<'a, [u8]>),
    /// A file to read and decode.
    File(&'a Path),
    /// Pixels already decoded and upright.
    Pixels(&'a RgbImage),
}

/// What stage 1 returns for one image.
#[derive(Debug, Clone)]
pub struct Detected {
    /// Faces found, aligned and cut.
    pub pre: Preprocessed,
    /// Time spent reading and decoding (0 for pixels).
    pub decode_ms: f64,
    /// The decoded image when this stage decoded it here (for display); `None` for pixels or
    /// when the stage ran elsewhere.
    pub image: Option<RgbImage>,
}

/// Stage 1: decode, detect, align and cut the faces of an image.
pub trait Detect: Send {
    /// What goes wrong.
    type Error: Send;
    /// Decodes `image` (within `limits`) and preprocesses it with `detector`.
    fn detect(
        &mut self,
        image: ImageInput<'_>,
        detector: &MtcnnConfig,
        limits: DecodeLimits,
    ) -> impl Future<Output = Result<Detected, Self::Error>> + Send;
}

/// Stage 2: one identity embedding per face.
pub trait Embed: Send {
    /// What goes wrong.
    type Error: Send;
    /// Embeddings of `faces` (their aligned crops), in order.
    fn embed(
        &mut self,
        faces: &[FaceInput],
    ) -> impl Future<Output = Result<Vec<Vec<f32>>, Self::Error>> + Send;
}

/// Stage 3: age, gender, race and emotion per face.
pub trait Analyse: Send {
    /// What goes wrong.
    type Error: Send;
    /// Attributes of `faces`, in order.
    fn analyse(
        &mut self,
        faces: &[FaceInput],
    ) -> impl Future<Output = Result<Vec<Attributes>, Self::Error>> + Send;
}

/// A gallery to match embeddings against.
pub trait Search: Sync {
    /// What goes wrong.
    type Error: Send;
    /// The best `k` matches of each query, in order.
    fn search(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> impl Future<Output = Result<Vec<Vec<Match>>, Self::Error>> + Send;
}

/// What the per-face half of the pipeline returns (one entry per face, in order).
#[derive(Debug, Clone, Default)]
pub struct FaceResults {
    /// Identity embeddings.
    pub embeddings: Vec<Vec<f32>>,
    /// Attributes.
    pub attributes: Vec<Attributes>,
    /// Gallery matches (empty lists when no gallery was searched).
    pub matches: Vec<Vec<Match>>,
    /// Embedding time.
    pub embed_ms: f64,
    /// Attribute time.
    pub analyze_ms: f64,
    /// Gallery search time.
    pub search_ms: f64,
    /// Time on the network and in queues when the work ran elsewhere.
    pub network_ms: f64,
}

/// The per-face half of the pipeline: embed, analyse and match the faces stage 1 cut. `G` is the
/// gallery it can search: any [`Search`] for [`super::FaceAnalyzer`], or a marker for the
/// gallery of the server a remote implementation talks to.
pub trait FaceStage<G: ?Sized>: Send {
    /// What goes wrong.
    type Error: Send;
    /// Results for `faces`; matches against `gallery` (top `top_k`) when one is given.
    fn run(
        &mut self,
        faces: &[FaceInput],
        gallery: Option<&G>,
        top_k: usize,
    ) -> impl Future<Output = Result<FaceResults, Self::Error>> + Send;
}

fn decode(image: ImageInput<'_>, limits: DecodeLimits) -> Result<Cow<'_, RgbImage>, CoreError> {
    Ok(match image {
        ImageInput::Encoded(bytes) => Cow::Owned(image_io::decode(&bytes, limits)?),
        ImageInput::File(path) => Cow::Owned(image_io::decode_file(path, limits)?),
        ImageInput::Pixels(img) => Cow::Borrowed(img),
    })
}

impl Detect for Preprocessor {
    type Error = CoreError;
    async fn detect(
        &mut self,
        image: ImageInput<'_>,
        detector: &MtcnnConfig,
        limits: DecodeLimits,
    ) -> Result<Detected, CoreError> {
        let t0 = Instant::now();
        let img = decode(image, limits)?;
        let decode_ms = match img {
            Cow::Owned(_) => ms(t0),
            Cow::Borrowed(_) => 0.0,
        };
        let pre = self.run(&img, detector)?;
        Ok(Detected {
            pre,
            decode_ms,
            image: match img {
                Cow::Owned(i) => Some(i),
                Cow::Borrowed(_) => None,
            },
        })
    }
}

impl Embed for IdentityStage {
    type Error = CoreError;
    async fn embed(&mut self, faces: &[FaceInput]) -> Result<Vec<Vec<f32>>, CoreError> {
        let aligned: Vec<&RgbImage> = faces.iter().map(|f| &f.aligned).collect();
        IdentityStage::embed(self, &aligned)
    }
}

impl Analyse for AttributeStage {
    type Error = CoreError;
    async fn analyse(&mut self, faces: &[FaceInput]) -> Result<Vec<Attributes>, CoreError> {
        let faces: Vec<&FaceInput> = faces.iter().collect();
        self.analyze(&faces)
    }
}

impl Search for Gallery {
    type Error = CoreError;
    async fn search(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Match>>, CoreError> {
        queries
            .iter()
            .map(|q| Gallery::search(self, q, k).map_err(CoreError::from))
            .collect()
    }
}

/// Stages borrowed from their owner (a caller that keeps one detector for several pipelines).
impl<T: Detect> Detect for &mut T {
    type Error = T::Error;
    fn detect(
        &mut self,
        image: ImageInput<'_>,
        detector: &MtcnnConfig,
        limits: DecodeLimits,
    ) -> impl Future<Output = Result<Detected, Self::Error>> + Send {
        (**self).detect(image, detector, limits)
    }
}

impl<G: ?Sized, T: FaceStage<G>> FaceStage<G> for &mut T {
    type Error = T::Error;
    fn run(
        &mut self,
        faces: &[FaceInput],
        gallery: Option<&G>,
        top_k: usize,
    ) -> impl Future<Output = Result<FaceResults, Self::Error>> + Send {
        (**self).run(faces, gallery, top_k)
    }
}
