//! The one analysis orchestrator: decode → detect → align → embed ‖ analyse → search → assemble,
//! each stage timed. [`Pipeline`] is built from stage implementations behind the small traits of
//! [`stage`] — in this process ([`Preprocessor`], [`FaceAnalyzer`] over [`IdentityStage`] and
//! [`AttributeStage`]), on the server's stage threads, or on another machine over `/v1` — and is
//! the only place that times the stages, searches the gallery and assembles the [`Analysis`]. The
//! desktop (local and connected), the CLI and the server in every role all run through it.
//!
//! Nothing is cached between requests: every call computes everything afresh.

pub mod faces;
pub mod stage;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;

use crate::api::{Analysis, Face, SCHEMA_VERSION, Timings};
use crate::error::CoreError;
use crate::gallery::Gallery;
use crate::image_io::DecodeLimits;
use crate::models::mtcnn::MtcnnConfig;
use crate::provision::{ModelStore, ProvisionEvent, resolve_models_dir};
use crate::quality::{self, FaceEvidence};
use crate::runtime::SessionOptions;
use crate::stages::{AttributeStage, IdentityStage, Preprocessed, Preprocessor, ms};

pub use faces::FaceAnalyzer;
pub use stage::{Analyse, Detect, Detected, Embed, FaceResults, FaceStage, ImageInput, Search};

pub use crate::stages::AGE_MODEL_STD_YEARS;

/// Everything that configures a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Models folder; `None` = `$FACELENS_MODELS_DIR` or the user cache dir.
    pub models_dir: Option<PathBuf>,
    /// Fetch missing models on load.
    pub auto_provision: bool,
    /// Session options shared by all models.
    pub session: SessionOptions,
    /// Detector settings.
    pub detector: MtcnnConfig,
    /// Decoder limits.
    pub decode: DecodeLimits,
    /// Gallery matches per face.
    pub top_k: usize,
    /// Faces per run of the batchable attribute models; `None`: the execution target's default
    /// ([`crate::stages::CPU_ATTRIBUTE_BATCH`] or [`crate::stages::ACCELERATOR_ATTRIBUTE_BATCH`]).
    pub attribute_batch: Option<usize>,
    /// Faces per embedder run; `None`: [`crate::stages::EMBED_BATCH`].
    pub embed_batch: Option<usize>,
    /// Run the attribute models in two concurrent halves ([`AttributeStage::concurrent`]);
    /// `None`: on the CPU with two or more cores.
    pub attribute_concurrency: Option<bool>,
    /// Run every model once while loading, so that the first photo is as fast as the rest.
    pub warm_up: bool,
}

impl PipelineConfig {
    /// The models folder this configuration names.
    #[must_use]
    pub fn store(&self) -> ModelStore {
        ModelStore::new(resolve_models_dir(self.models_dir.as_deref()))
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            auto_provision: true,
            session: SessionOptions::default(),
            detector: MtcnnConfig::default(),
            decode: DecodeLimits::default(),
            top_k: 5,
            attribute_batch: None,
            embed_batch: None,
            attribute_concurrency: None,
            warm_up: true,
        }
    }
}

/// One analysed image plus the aligned crops (same order as `analysis.faces`).
#[derive(Debug, Clone)]
pub struct AnalyzedImage {
    /// The serialisable result.
    pub analysis: Analysis,
    /// 112×112 aligned face crops.
    pub aligned: Vec<RgbImage>,
    /// The decoded, upright image when the pipeline decoded it (files and bytes), so callers that
    /// display it need not decode again; `None` when the caller passed pixels.
    pub image: Option<RgbImage>,
}

/// The pipeline. The defaults are the in-process stages ([`Pipeline::load`]); connected mode and
/// the server plug in other [`Detect`] and [`FaceStage`] implementations.
#[derive(Debug)]
pub struct Pipeline<D = Preprocessor, F = FaceAnalyzer<IdentityStage, AttributeStage>> {
    detect: D,
    faces: F,
    /// Settings in force (the detector settings may be changed between calls).
    pub config: PipelineConfig,
}

/// Joins the stages' outputs into one [`Analysis`] (faces in detection order).
fn assemble(pre: &Preprocessed, results: FaceResults, timings: Timings) -> Analysis {
    let mut matches = results.matches.into_iter();
    let faces = pre
        .detections
        .iter()
        .zip(&pre.faces)
        .zip(results.embeddings)
        .zip(results.attributes)
        .map(|(((d, input), embedding), attributes)| Face {
            quality: Some(quality::assess(&FaceEvidence {
                bbox: &d.bbox,
                landmarks: &d.landmarks,
                detector_score: d.score,
                aligned: &input.aligned,
                width_px: pre.width_px,
                height_px: pre.height_px,
            })),
            detection: d.clone(),
            embedding,
            attributes,
            matches: matches.next().unwrap_or_default(),
        })
        .collect();
    Analysis {
        schema_version: SCHEMA_VERSION,
        width_px: pre.width_px,
        height_px: pre.height_px,
        faces,
        no_face_reason: pre.no_face_reason.clone(),
        timings,
    }
}

impl<D, F> Pipeline<D, F> {
    /// A pipeline of the given stages.
    pub fn new(detect: D, faces: F, config: PipelineConfig) -> Self {
        Self {
            detect,
            faces,
            config,
        }
    }

    /// The models folder the configuration names.
    #[must_use]
    pub fn store(&self) -> ModelStore {
        self.config.store()
    }

    /// Stage 1.
    pub fn detector_mut(&mut self) -> &mut D {
        &mut self.detect
    }

    /// The per-face half.
    pub fn faces(&self) -> &F {
        &self.faces
    }

    /// The per-face half, to change.
    pub fn faces_mut(&mut self) -> &mut F {
        &mut self.faces
    }

    /// The stages back.
    pub fn into_parts(self) -> (D, F, PipelineConfig) {
        (self.detect, self.faces, self.config)
    }

    /// Analyses one image: stage 1, then the per-face half (matching against `gallery` when
    /// given), timed and assembled.
    ///
    /// # Errors
    /// Whatever a stage reports: unreadable images, model failures, gallery or server errors.
    pub async fn analyze<G>(
        &mut self,
        image: ImageInput<'_>,
        gallery: Option<&G>,
    ) -> Result<AnalyzedImage, F::Error>
    where
        G: ?Sized + Sync,
        D: Detect,
        F: FaceStage<G>,
        F::Error: From<D::Error>,
    {
        let t0 = Instant::now();
        let Detected {
            pre,
            decode_ms,
            image,
        } = self
            .detect
            .detect(image, &self.config.detector, self.config.decode)
            .await?;
        let results = self
            .faces
            .run(&pre.faces, gallery, self.config.top_k)
            .await?;
        let timings = Timings {
            decode_ms,
            detect_ms: pre.detect_ms,
            align_ms: pre.align_ms,
            embed_ms: results.embed_ms,
            analyze_ms: results.analyze_ms,
            search_ms: results.search_ms,
            network_ms: results.network_ms,
            total_ms: ms(t0),
        };
        let analysis = assemble(&pre, results, timings);
        Ok(AnalyzedImage {
            analysis,
            aligned: pre.faces.into_iter().map(|f| f.aligned).collect(),
            image,
        })
    }

    /// [`Pipeline::analyze`] on this thread, for callers that are not async (the desktop's
    /// worker, the CLI). Never call it on an async runtime's worker.
    ///
    /// # Errors
    /// As [`Pipeline::analyze`].
    pub fn analyze_blocking<G>(
        &mut self,
        image: ImageInput<'_>,
        gallery: Option<&G>,
    ) -> Result<AnalyzedImage, F::Error>
    where
        G: ?Sized + Sync,
        D: Detect,
        F: FaceStage<G>,
        F::Error: From<D::Error>,
    {
        pollster::block_on(self.analyze(image, gallery))
    }
}

impl Pipeline {
    /// Loads every model (fetching missing ones first when `auto_provision` is set).
    ///
    /// # Errors
    /// Provisioning or model loading errors.
    pub fn load(
        config: &PipelineConfig,
        on_event: &mut dyn FnMut(ProvisionEvent),
    ) -> Result<Self, CoreError> {
        let store = config.store();
        if config.auto_provision {
            store.ensure(on_event)?;
        }
        let o = config.session;
        let mut detect = Preprocessor::load(&store, o)?;
        let mut identity = IdentityStage::load(&store, o)?;
        let mut attributes = AttributeStage::load(&store, o)?;
        if let Some(n) = config.attribute_batch {
            attributes.max_batch = n.max(1);
        }
        if let Some(n) = config.embed_batch {
            identity.max_batch = n.max(1);
        }
        if let Some(c) = config.attribute_concurrency {
            attributes.concurrent = c;
        }
        if config.warm_up {
            detect.warm_up(&config.detector)?;
            identity.warm_up()?;
            attributes.warm_up()?;
        }
        Ok(Self::new(
            detect,
            FaceAnalyzer::new(identity, attributes),
            config.clone(),
        ))
    }

    /// Decodes and analyses an image file.
    ///
    /// # Errors
    /// Unreadable or undecodable files, model failures, gallery errors.
    pub fn analyze_file(
        &mut self,
        path: &Path,
        gallery: Option<&Gallery>,
    ) -> Result<Analysis, CoreError> {
        Ok(self.analyze_file_full(path, gallery)?.analysis)
    }

    /// As [`Pipeline::analyze_file`], also returning the aligned crops and the decoded image.
    ///
    /// # Errors
    /// As [`Pipeline::analyze_file`].
    pub fn analyze_file_full(
        &mut self,
        path: &Path,
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        self.analyze_blocking(ImageInput::File(path), gallery)
    }

    /// Decodes and analyses image bytes (a drop, an upload).
    ///
    /// # Errors
    /// As [`Pipeline::analyze_file`].
    pub fn analyze_bytes(
        &mut self,
        bytes: &[u8],
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        self.analyze_blocking(ImageInput::Encoded(Cow::Borrowed(bytes)), gallery)
    }

    /// Analyses an already decoded image.
    ///
    /// # Errors
    /// Model failures, gallery errors.
    pub fn analyze_image(
        &mut self,
        img: &RgbImage,
        gallery: Option<&Gallery>,
    ) -> Result<AnalyzedImage, CoreError> {
        self.analyze_blocking(ImageInput::Pixels(img), gallery)
    }
}
